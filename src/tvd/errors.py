"""Coded, user-facing errors, and the one catalogue of their codes.

Every error a user can cause (bad input file, unknown slot, missing model, bad config) is raised as a
:class:`TvdError` with a stable code, the place it happened (file and line where known) and a fix.  The
command-line tool prints ``str(error)`` and exits 1 instead of showing a traceback.

Every code is defined here, once, as a named constant with a one-line meaning (spaCy's ``errors.py`` is the
model); code elsewhere raises ``TvdError(E_CONFIG_NOT_FOUND, ...)``, never a literal ``"E501"``
(``tests/test_errors.py`` scans ``src/tvd`` and ``bench/`` for literals).  :data:`CODES` maps each code to its
meaning, :data:`NAMES` to its constant's name, :data:`RANGES` gives the hundreds:

=====  =============================================================================================
E1xx   data and formats: E10x-E11x reading and writing datasets, E16x few-shot splits and slot
       resampling, E17x label mappings and the benchmarks' datasets
E2xx   LINGUIST requests and outputs
E3xx   teachers, one decade a backend: E30x embedded / llama.cpp, E31x the teacher registry, E32x
       OpenAI-compatible HTTP, E33x transformers, E34x AWS (Bedrock, SageMaker), E35x teacher tuning,
       E36x instruction data for tuning, E37x the generation engine (completion cache, run lock, Ray backend)
E4xx   students (E40x), evaluation (E41x), the encoder student and its ONNX export (E42x), serving (E45x),
       the HTML run report and dataset cards (E47x)
E5xx   configuration: E50x config files, E51x the run job's seeds, E56x filters
E6xx   CLASP and the parser: E60x parse trees, PIZZA files and catalogues, E61x the CLASP job, E62x the
       parser student
=====  =============================================================================================

A new error takes the next free number of its decade here (codes are never reused for another meaning;
users and tests grep for them).  Conditions a backend shares with another (an unimportable dependency, bad
options, a prompt too long) have one code per backend, so the code alone says which backend failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: the first digit of a code -> what its hundred covers (the README's ranges)
RANGES: dict[str, str] = {
    "1": "data and formats",
    "2": "LINGUIST requests and outputs",
    "3": "teachers",
    "4": "students, evaluation and serving",
    "5": "configuration",
    "6": "CLASP and the parser",
}

CODE_PATTERN = re.compile(r"E\d{3}")

#: code -> its one-line meaning, in definition order
CODES: dict[str, str] = {}


def _define(code: str, meaning: str) -> str:
    """Enter ``code`` with ``meaning`` in :data:`CODES` and return it; a malformed or repeated code fails at import."""
    if not CODE_PATTERN.fullmatch(code) or code[1] not in RANGES:
        raise ValueError(f"error code {code!r} is not E<range><2 digits> with a range in {sorted(RANGES)}")
    if code in CODES:
        raise ValueError(f"error code {code} defined twice: {CODES[code]!r} and {meaning!r}")
    CODES[code] = meaning
    return code


# -- E1xx data and formats ----------------------------------------------------------------------------------
# E10x-E11x: reading and writing datasets (tvd.formats)
E_PATH_NOT_FOUND = _define("E101", "an input path does not exist")
E_UNKNOWN_FORMAT = _define("E102", "a format name is unknown, or no format is detectable from the path")
E_UNREADABLE = _define("E103", "an input cannot be read as a whole (encoding, YAML/JSON syntax, wrong layout)")
E_BAD_TAGS = _define("E104", "BIO tags: their count differs from the tokens', or a tag is not O / B-x / I-x")
E_BAD_MARKUP = _define("E105", "inline slot markup: an unbalanced bracket, a missing colon, bad entity JSON")
E_BAD_TEXT = _define("E106", "a span outside the text, tokens not in the text, or annotated text unlike the text")
E_UNKNOWN_LABEL = _define("E107", "a slot label not in the allowed set, or a slot number not in the label map")
E_LINE_COUNT = _define("E108", "parallel files (seq.in / seq.out / label) differ in length")
E_BAD_RECORD = _define("E109", "another malformed record: a missing field, a bad JSON line, an empty utterance")
E_CANNOT_WRITE = _define("E110", "an utterance the destination format cannot express")
E_DESTINATION = _define("E111", "the destination exists and is not something tvd may replace")
E_BAD_ENCODING = _define("E112", "a line that is not valid UTF-8, or text with a lone surrogate (not encodable)")
E_NO_UTTERANCES = _define("E113", "a dataset that must hold utterances (a test set) holds none")
# E16x: few-shot splits and slot resampling (tvd.data)
E_UNKNOWN_INTENT = _define("E160", "a few-shot split names an intent the training data does not have")
E_TOO_FEW_SHOTS = _define("E161", "few-shot k is below 1, or above the intent's number of training examples")
E_NOTHING_TO_RESAMPLE = _define("E162", "slot resampling: a negative count, or no seed example with a slot")
E_BAD_CATALOGUE_VALUE = _define("E163", "slot resampling: a catalogue value is empty or has surrounding whitespace")
# E17x: label mappings (tvd.data.label_mapping) and the benchmarks' datasets
E_MAPPING_LINE = _define("E170", "a label-mapping line is not 'source target'")
E_MAPPING_CONFLICT = _define("E171", "a label-mapping source is mapped to two different targets")
E_MAPPING_FILE = _define("E172", "the label-mapping file cannot be read")
E_BENCH_DATA_NOT_FOUND = _define("E173", "a benchmark's dataset is not under its data folder (--data / TVD_DATA)")

# -- E2xx LINGUIST requests and outputs ---------------------------------------------------------------------
E_BAD_WILDCARD_RATE = _define("E201", "the wildcard rate is outside [0, 1]")
E_BAD_EXAMPLE_COUNT = _define("E202", "examples per prompt is outside [0, the most a LINGUIST prompt holds]")
E_UNKNOWN_FIXED_SLOT = _define("E203", "fixed values given for a slot that no seed example of the intent uses")
E_BAD_TRANSLATION_REQUEST = _define("E204", "seed translation: an unknown target language, or no seeds to translate")

# -- E3xx teachers ------------------------------------------------------------------------------------------
# E30x: the embedded model and the llama.cpp teacher
E_NO_LLAMA_CPP = _define("E301", "llama-cpp-python, which the llama.cpp teacher needs, is not importable")
E_NO_EMBEDDED_MODEL = _define("E302", "the embedded teacher model package is not installed, incomplete or corrupt")
E_MODEL_FILE = _define("E303", "a GGUF model path does not exist, is not a file, or cannot be read")
E_NOT_GGUF = _define("E304", "a model file is not in GGUF format")
E_LLAMA_CPP = _define(
    "E305", "the llama.cpp teacher cannot be set up or used (settings, LoRA file, model load, model cache, closed)"
)
E_BAD_GRAMMAR = _define("E306", "llama.cpp cannot parse the GBNF grammar")
E_LLAMA_PROMPT_TOO_LONG = _define("E307", "a prompt too long for the llama.cpp context window")
# E31x: the teacher registry
E_UNKNOWN_TEACHER = _define("E310", "an unknown or unimportable teacher backend")
E_BAD_TEACHER_OPTION = _define("E311", "an option the teacher backend does not take")
# E32x: OpenAI-compatible HTTP servers
E_OPENAI_OPTIONS = _define("E320", "bad openai teacher options (mode, base_url, model, grammar), or a grammar refused")
E_OPENAI_NO_SERVER = _define("E321", "no server answers at the openai teacher's base URL")
E_OPENAI_NO_API = _define("E322", "no OpenAI-compatible endpoint at the base URL (404 / 405)")
E_OPENAI_UNKNOWN_MODEL = _define("E323", "the server does not serve the model the openai teacher names")
E_OPENAI_KEY_REFUSED = _define("E324", "the server refused the API key, or needs one (401 / 403)")
E_OPENAI_NO_KEY = _define("E325", "the API key's environment variable (api_key_env) is not set")
# E33x: the transformers teacher
E_NO_TRANSFORMERS = _define("E330", "a library the transformers teacher needs (torch, transformers, ...) is missing")
E_HF_NOT_FOUND = _define("E331", "the transformers teacher's model folder, GGUF file or adapter folder is missing")
E_HF_UNUSABLE = _define(
    "E332", "the transformers teacher's model or adapter is not one, does not load, has no pad token, or is closed"
)
E_ADAPTER_MISMATCH = _define("E333", "a LoRA adapter that does not fit the transformers teacher's model")
E_HF_PROMPT_TOO_LONG = _define("E334", "a prompt longer than the transformers model's positions")
E_HF_SETTINGS = _define("E335", "bad transformers teacher settings (kind, dtype, batch size, threads, device)")
# E34x: the AWS teachers (Bedrock, SageMaker)
E_NO_BOTO3 = _define("E340", "boto3, which the AWS teachers need, is not importable")
E_AWS_ACCESS = _define("E341", "an AWS profile, credentials or login problem, or access denied")
E_AWS_NO_REGION = _define("E342", "no AWS region is given")
E_AWS_NOT_FOUND = _define("E343", "the AWS endpoint or model does not exist")
E_AWS_INVALID_REQUEST = _define("E344", "the AWS service or the model rejects the request as invalid")
E_AWS_OPTIONS = _define("E345", "bad AWS teacher options or client settings")
# E35x: teacher tuning (tvd.tuning)
E_NO_TUNING_LIBS = _define("E351", "a library teacher tuning needs (torch, transformers, peft, gguf) is missing")
E_BASE_MODEL = _define("E352", "the base model to tune is not found or does not load")
E_NO_TUNING_PAIRS = _define("E353", "no instruction pairs to tune on (none, or all longer than max_tokens)")
E_TUNING_SETTINGS = _define("E354", "bad tuning settings (steps, batch size, rank, dtype)")
E_TARGET_LEAK = _define("E355", "the tuned teacher was trained on the target intent (leave-target-out)")
E_GGUF_EXPORT = _define("E356", "GGUF adapter export of a model that is not of the llama architecture")
E_NOT_TUNED = _define("E357", "not a tuned-teacher folder (no tvd_adapter.json)")
# E36x: instruction data for teacher tuning (tvd.linguist.instruction_data, tvd teacher build-data)
E_INSTRUCTION_SETTINGS = _define("E360", "bad instruction-data settings (pairs, shots, rates)")
E_NO_INSTRUCTION_INTENTS = _define("E361", "no intent with at least 2 utterances is left after the exclusions")
E_BAD_MIX = _define("E362", "bad dataset mixing weights (not NAME=WEIGHT, an unknown dataset, none positive)")
E_INSTRUCTION_FILE = _define("E363", "the instruction data file is not found")
E_BAD_INSTRUCTION_PAIR = _define("E364", "a line of the instruction data file is not an instruction pair")
E_BAD_DATASET_ARG = _define("E365", "a dataset argument is not NAME=PATH or PATH")
# E37x: the generation engine (tvd.engine): the completion cache and the run directory's lock
E_CACHE_CORRUPT = _define("E370", "the completion cache is not a readable tvd SQLite file (corrupt, truncated, folder)")
E_CACHE_EMPTY = _define("E371", "a zero-byte completion cache in a run directory that holds an earlier run's outputs")
E_RUN_LOCKED = _define("E372", "another tvd process holds the run directory's lock")
E_NO_RAY = _define("E373", "the Ray engine backend needs ray, which is not importable")
E_RAY_CONNECT = _define("E374", "a Ray cluster address that cannot be reached or joined")
E_RAY_WORKERS_LOST = _define("E375", "requests whose Ray workers kept dying, past the retries allowed")

# -- E4xx students, evaluation and serving ------------------------------------------------------------------
# E40x: students (tvd.students)
E_NO_MODEL = _define("E401", "a saved student's directory, or a file in it, is missing")
E_BAD_METADATA = _define("E402", "student.json is unreadable, or of another kind or format version")
E_UNKNOWN_KIND = _define("E403", "a student kind that is not registered")
E_NOT_FITTED = _define("E404", "predict or save before fit")
E_BAD_TRAINING_DATA = _define("E405", "nothing to learn from (no utterances, no intents, tags off token boundaries)")
E_BAD_PARAMS = _define("E406", "an unknown or invalid student parameter")
E_CHECKSUM = _define("E407", "a student file whose sha256 differs from student.json's record, or that has none")
E_PICKLE_REFUSED = _define("E408", "a student stored as a pickle (code can run on load), refused without trust")
E_STUDENT_FILES = _define("E409", "student.json's kind or file list does not match the files in its directory")
# E41x: evaluation (tvd.evaluate)
E_MISALIGNED = _define("E410", "gold and predicted lists differ in length or text, or are empty")
E_BAD_GOLD = _define("E411", "a gold utterance without an intent, or with slots off its own tokens")
# E42x: the encoder student and its ONNX export
E_NO_ENCODER = _define("E421", "the encoder package or folder is not available")
E_NO_RUNTIME = _define("E422", "the requested runtime's files or libraries are missing")
E_CHECKPOINT = _define("E423", "a checkpoint that does not belong to this training run")
E_BAD_KEY_VALUE = _define("E424", "a --param / --teacher-option item is not KEY=VALUE")
E_BAD_SCHEME = _define("E425", "an unknown int8 quantisation scheme")
E_NOT_EXPORTABLE = _define("E426", "a student of a kind that cannot be exported to ONNX")
# E45x: serving (tvd.serve, tvd serve)
E_BAD_SETTINGS = _define("E450", "a serving setting that is not a positive integer, or no model directory")
E_CONTENT_TYPE = _define("E451", "POST /parse without Content-Type: application/json (415)")
E_BODY_TOO_LARGE = _define("E452", "a request body over max_body_bytes (413)")
E_MALFORMED_JSON = _define("E453", "a request body that is not UTF-8 JSON (400)")
E_BAD_REQUEST = _define("E454", "request JSON of the wrong shape: no text / texts, both, empty, not a string (422)")
E_TEXT_TOO_LONG = _define("E455", "a text over max_chars characters (422)")
E_BATCH_TOO_LARGE = _define("E456", "more than max_batch texts (422)")
E_PREDICTION_FAILED = _define("E457", "the student raised while predicting (500)")
E_ROUTE_NOT_FOUND = _define("E458", "an unknown path or method (404 / 405)")
E_NO_SERVE_DEPS = _define("E459", "serving needs FastAPI and uvicorn, which are not importable")
E_UNAUTHORIZED = _define("E460", "a request without the API key, or with a wrong one (401)")
E_NESTED_JSON = _define("E461", "a request body nested deeper than the server accepts (400)")
E_UNENCODABLE_TEXT = _define("E462", "a text with a lone surrogate or another character UTF-8 cannot encode (400)")
E_NO_API_KEY = _define("E463", "serving with an API-key variable that is unset or empty")
# E47x: the HTML run report and dataset cards (tvd.report, tvd report)
E_NOT_A_RUN_DIR = _define("E470", "a report's directory holds none of the files a tvd run or generate writes")
E_BAD_RUN_FILE = _define("E471", "a run file the report reads is malformed (a bad JSON line, a missing field)")

# -- E5xx configuration -------------------------------------------------------------------------------------
# E50x: config files (tvd.config)
E_CONFIG_NOT_FOUND = _define("E501", "the config file is not found")
E_CONFIG_YAML = _define("E502", "the config file is not valid YAML")
E_CONFIG_NOT_MAPPING = _define("E503", "the config is not a YAML mapping")
E_CONFIG_FIELD = _define("E504", "a config field is missing, unknown or of the wrong type or value")
# E51x: the run job's seed examples (tvd.jobs.run)
E_NO_SEEDS = _define("E510", "the seed file holds no utterances")
E_MIXED_SEEDS = _define("E511", "the seed file mixes intents and the config names none")
E_SEED_INTENT = _define("E512", "seed utterances of another intent than the run's")
E_SEED_VALIDATION = _define("E513", "seed cross-validation: fewer than 2 folds, or more folds than seed utterances")
# E56x: filters (tvd.filters)
E_BAD_FILTER = _define("E560", "an unknown filter name, or one listed twice")
E_FILTER_NEEDS_REFERENCE = _define("E561", "a filter that needs the run's reference student was built without one")
E_BAD_FILTER_OPTION = _define("E562", "a filter option that the filter does not take, or a value out of its range")
E_NO_LANGUAGE_ID = _define("E563", "the language filter needs its language-identification library, not importable")
E_UNSUPPORTED_LANGUAGE = _define("E564", "a language the language-identification model does not know")
E_JUDGE_NEEDS_TEACHER = _define("E565", "the judge filter was built without a teacher to ask")

# -- E6xx CLASP and the parser ------------------------------------------------------------------------------
# E60x: parse trees, PIZZA files and catalogues
E_MALFORMED_PARSE = _define("E601", "a malformed TOP / EXR parse")
E_PIZZA_FILE = _define("E602", "a PIZZA file is missing, or a line is not a JSON object with SRC and TOP / EXR")
E_CATALOGUE = _define("E605", "a PIZZA catalogue folder or file is missing, or a catalogue line is malformed")
E_PARSE_MISALIGNED = _define("E606", "predicted and gold parse lists differ in length")
# E61x: the CLASP job (tvd.clasp, tvd.jobs.clasp, tvd clasp)
E_EMPTY_POOL = _define("E610", "no real parses to start from: the pool is missing or empty")
E_BAD_CONFIG_TREE = _define("E611", "a tree in a CLASP config list (pool, pairs) is malformed")
E_NEEDS_CLASP_CONFIG = _define("E612", "a translating strategy (ts, tb) without its CONFIG (glossary, pairs)")
E_UNKNOWN_STRATEGY = _define("E613", "no CLASP strategy given, or one that is not registered")
E_NEEDS_PIZZA_DIR = _define("E614", "the strategy needs the PIZZA folder (its catalogs/ give slot values)")
E_NO_RUN_DIR = _define("E615", "no CLASP run directory given")
# E62x: the parser student (tvd.students.parser_crf)
E_NO_PARSER_DATA = _define("E620", "no training trees with words for the parser")
E_PARSER_NOT_FITTED = _define("E621", "the parser student is not trained")
E_BAD_PARSER_FILE = _define("E622", "a saved parser cannot be read, or is of another kind or format version")

#: code -> the name of its constant here (``"E501"`` -> ``"E_CONFIG_NOT_FOUND"``)
NAMES: dict[str, str] = {
    value: name for name, value in dict(globals()).items() if name.startswith("E_") and isinstance(value, str)
}


def meaning(code: str) -> str:
    """The one-line meaning of ``code``; KeyError for a code that is not in the catalogue."""
    return CODES[code]


class TvdError(Exception):
    """An error caused by input, configuration or environment, with a code, location and fix."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        fix: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.fix = fix
        super().__init__(self.__str__())

    @property
    def location(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def __str__(self) -> str:
        where = f"{self.location}: " if self.file is not None else ""
        text = f"[{self.code}] {where}{self.message}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


@dataclass(frozen=True)
class Problem:
    """One skipped input record, kept when a reader runs in skip-and-report mode."""

    code: str
    file: str
    line: int
    message: str
    raw: str

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "file": self.file, "line": self.line, "message": self.message, "raw": self.raw}


class ProblemLog:
    """Collects malformed records: raise at once (strict) or record them and go on (skip-and-report)."""

    def __init__(self, skip: bool = False) -> None:
        self.skip = skip
        self.problems: list[Problem] = []

    def report(self, error: TvdError, raw: str) -> None:
        """Raise ``error`` in strict mode; otherwise remember it and let the reader continue."""
        if not self.skip:
            raise error
        self.problems.append(Problem(error.code, error.file or "", error.line or 0, error.message, raw.rstrip("\n")))
