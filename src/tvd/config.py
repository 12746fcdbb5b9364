"""YAML job configurations, validated with pydantic: :class:`RunConfig` (``tvd run`` / ``tvd generate``) and
:class:`ClaspConfig` (``tvd clasp``).

Relative data paths are resolved against the config file's folder, so an example directory carries its
own data; ``output_dir`` is resolved against the working directory (default ``runs/<name>``).
A config error names the file, the field and what is expected.  :func:`load_config` checks the whole run
config before anything runs: besides the fields, the student block is built once (an unknown kind is E403, a
parameter it does not take or a bad value E406) and the filter list and its options are checked (E560 / E562), so
a typo there stops the run before the teacher is paid.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from tvd.errors import (
    E_BAD_KEY_VALUE,
    E_CONFIG_FIELD,
    E_CONFIG_NOT_FOUND,
    E_CONFIG_NOT_MAPPING,
    E_CONFIG_YAML,
    TvdError,
)


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Block):
    base: Path = Field(description="existing intents' training data")
    seed: Path = Field(description="the few annotated utterances of the new intent")
    test: Path | None = Field(default=None, description="held-out real test utterances of all intents")
    format: str | None = Field(default=None, description="input format; detected from the path when omitted")
    skip_errors: bool = Field(default=False, description="skip malformed records and report them")


class PriceConfig(_Block):
    input_per_million: float = Field(default=0.0, ge=0.0, description="US dollars per million prompt tokens")
    output_per_million: float = Field(default=0.0, ge=0.0, description="US dollars per million completion tokens")


class TeacherConfig(_Block):
    """The teacher backend and how the generation engine talks to it.

    The defaults (one request at a time, no rate limits, free) suit the embedded teacher; remote servers
    usually want ``concurrency`` > 1, the provider's rate limits and a ``price`` table.
    """

    backend: str = "llamacpp"
    options: dict[str, Any] = Field(default_factory=dict, description="backend options, e.g. model_path, n_threads")
    concurrency: int = Field(default=1, ge=1, le=1024, description="requests in flight (1 for in-process models)")
    adaptive_concurrency: bool = Field(default=False, description="raise concurrency while healthy, halve on 429")
    max_concurrency: int = Field(default=32, ge=1, le=1024, description="ceiling of adaptive concurrency")
    requests_per_minute: float | None = Field(default=None, gt=0, description="request rate limit (none if unset)")
    tokens_per_minute: float | None = Field(default=None, gt=0, description="token rate limit, prompt + max_tokens")
    max_retries: int = Field(default=5, ge=0, le=100, description="retries of a request on 429 / 5xx / timeouts")
    backoff_s: float = Field(default=1.0, ge=0.0, description="first retry delay, doubled per retry (with jitter)")
    max_backoff_s: float = Field(default=60.0, ge=0.0, description="longest delay between retries")
    timeout_s: float | None = Field(
        default=None, gt=0, description="per-request timeout, passed to the backend as options.timeout_s"
    )
    price: PriceConfig | None = Field(default=None, description="per-million-token prices for cost and --budget")

    def backend_options(self) -> dict[str, Any]:
        """The options to build the backend with (``timeout_s`` added when set here)."""
        options = dict(self.options)
        if self.timeout_s is not None:
            options.setdefault("timeout_s", self.timeout_s)
        return options


class TranslateConfig(_Block):
    """Translate-then-generate (:mod:`tvd.linguist.translate`): when ``generation.language`` differs from the seeds'
    language, the teacher first translates each seed (bracket markup and slot numbers kept), and the translations
    that the ``language`` filter accepts become the prompts' in-language examples (and, with ``keep``, training
    data)."""

    samples: int = Field(default=1, ge=1, le=20, description="translations per seed utterance")
    temperature: float = Field(default=0.3, ge=0.0, description="sampling temperature of the translations")
    # translate beat keep on xSID valid (README: cross-lingual benchmark)
    values: str = Field(default="translate", pattern="^(translate|keep)$", description="translate or keep values")
    keep: bool = Field(default=True, description="the accepted translations are training data too")
    demonstrations: list[tuple[str, str]] | None = Field(
        default=None, description="[source, target] bracketed example pairs (default: the built-in ones)"
    )


class EngineConfig(_Block):
    """Where the teacher calls run (``engine:`` in a run or CLASP config; ``--ray ADDRESS`` on the CLI).

    ``backend: ray`` sends the requests to ``workers`` Ray actors, each with its own teacher built from the teacher
    block (:mod:`tvd.engine.ray_dispatch`); this process stays the single writer of the cache and the outputs.
    ``process`` (or no ``engine`` block) runs the teacher here, in one process.  ``endpoints``: worker i's teacher
    gets ``endpoints[i % len]`` as its option ``endpoint_option`` (an HTTP teacher's ``base_url``).
    """

    backend: str = Field(default="ray", pattern="^(ray|process)$", description="ray, or process (one process)")
    address: str = Field(
        default="auto",
        pattern=r"^(auto|local|ray://[^\s/:]+:\d+|[^\s/:]+:\d+)$",
        description="auto (this machine's `ray start` cluster), local (a Ray inside this process), host:port or "
        "ray://host:port",
    )
    workers: int = Field(default=2, ge=1, le=4096, description="teacher actors")
    cpus_per_worker: float = Field(default=1.0, ge=0.0, description="CPUs each actor reserves (embedded: threads)")
    gpus_per_worker: float = Field(default=0.0, ge=0.0, description="GPUs each actor reserves")
    endpoints: list[str] = Field(default_factory=list, description="one endpoint per actor, cycled (HTTP base URLs)")
    endpoint_option: str = Field(default="base_url", description="the teacher option an endpoint is given as")
    max_worker_deaths: int = Field(
        default=3, ge=0, le=100, description="times a request may lose its worker before the run stops (E375)"
    )
    start_timeout_s: float = Field(default=120.0, gt=0.0, description="wait for a free worker before giving up")


class GenerationConfig(_Block):
    requests: int = Field(default=50, ge=1, description="number of prompts")
    samples_per_request: int = Field(default=2, ge=1, le=999)
    examples_per_prompt: int = Field(default=10, ge=0, le=10, description="0 = zero-shot (label names only)")
    wildcard_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    language: str = Field(default="en", description="output language code (en, de, it, ja, ...)")
    extra_labels: list[str] = Field(default_factory=list, description="slots the seeds do not use but may")
    fixed_values: dict[str, list[str]] = Field(default_factory=dict, description="slot -> values to fix")
    constrained: bool = Field(default=True, description="grammar-constrained decoding")
    temperature: float = Field(default=0.9, ge=0.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0)
    repeat_penalty: float = Field(default=1.0, gt=0.0)
    max_tokens: int = Field(default=48, ge=1)
    seed: int = 0
    translate: TranslateConfig | None = Field(
        default_factory=TranslateConfig,
        description="translate the seeds first when language differs from theirs (null = never)",
    )


def _known_filter(name: str) -> str:
    from tvd.filters import FILTERS

    if name not in FILTERS.names():
        raise ValueError(f"unknown filter {name!r}; use some of: {', '.join(FILTERS.names())}")
    return name


FilterName = Annotated[str, AfterValidator(_known_filter)]


def _run_pipeline() -> tuple[str, ...]:
    from tvd.filters import RUN_PIPELINE

    return RUN_PIPELINE


class StudentConfig(_Block):
    """The student to train: a registered kind (``tvd.students.STUDENTS``) and its constructor parameters."""

    kind: str = "crf"
    params: dict[str, Any] = Field(default_factory=dict)

    def check(self) -> None:
        """Build (and drop) the untrained student this block names: raises E403 for an unknown kind, E406 for a
        parameter the kind does not take or a bad value.  Cheap: nothing is loaded or trained."""
        from tvd.students import make_student

        make_student(self.kind, **self.params)


class ValidationConfig(_Block):
    """Seed cross-validation (:mod:`tvd.evaluate.seed_validation`): an estimate of what the generated data does,
    from the seed utterances alone, so it needs no test set.  It trains two students per fold, so it is kept
    cheap by training on a sample of the base data."""

    folds: int = Field(default=5, ge=0, description="folds of the seed utterances (0 = off; else >= 2)")
    base_per_intent: int | None = Field(
        default=100, ge=1, description="base utterances per other intent the estimate trains on (null = all)"
    )
    seed: int = Field(default=0, description="shuffles the seeds into folds and samples the base data")

    @field_validator("folds")
    @classmethod
    def _off_or_two(cls, folds: int) -> int:
        if folds == 1:
            raise ValueError("folds must be 0 (off) or at least 2")
        return folds


class RunConfig(_Block):
    name: str = "run"
    intent: str | None = Field(default=None, description="the new intent; inferred from the seed file if omitted")
    output_dir: Path | None = None
    data: DataConfig
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    filters: list[FilterName] = Field(
        default_factory=lambda: list(_run_pipeline()),
        description="filters by registered name (`tvd.filters.FILTERS`); default `tvd.filters.RUN_PIPELINE`",
    )
    filter_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-filter options, e.g. {near_duplicate: {threshold: 0.8}}"
    )
    revalue: int = Field(
        default=1, ge=0, description="re-filled variants per kept generated utterance (values from seeds + base)"
    )
    seed_weight: int = Field(
        default=3, ge=1, description="times the seeds appear in the augmented student's training data"
    )
    student: StudentConfig = Field(default_factory=StudentConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    engine: EngineConfig | None = Field(default=None, description="scale-out: engine: {backend: ray, ...}")

    @property
    def run_dir(self) -> Path:
        return self.output_dir or Path("runs") / self.name

    def check(self, path: str | Path | None = None) -> None:
        """What pydantic cannot see: the student block builds (E403 / E406) and the filters and their options are
        valid (E560: e.g. a filter named twice; E562: an option a filter does not take, or options for a filter
        not listed), checked without building them (a filter such as ``intent`` needs the run's baseline student,
        which is trained later).  ``path``: the config file, named in the error."""
        from tvd.filters import check_filters

        checks = (
            ("student", self.student.check),
            ("filters", lambda: check_filters(self.filters, self.filter_options)),
        )
        for field, check in checks:
            try:
                check()
            except TvdError as exc:
                raise TvdError(exc.code, f"`{field}`: {exc.message}", file=path, fix=exc.fix) from exc


class ClaspConfig(_Block):
    """A CLASP job: which strategy, the real parses to start from, the teacher and the sampling.

    ``data``: a PIZZA folder (``catalogs/`` give RS / GB their slot values and resolve English outputs to
    EXR; its ``PIZZA_dev.16_shots.json`` is RS / GB's default pool).  ``pool``: the real parses, either a
    PIZZA JSON-lines file or a list of TOP trees.  ``count``: requests (RS, GB) or samples per pool parse
    (TS, TB).  TS / TB also take ``language``, ``glossary`` (TS's example value translations) and ``pairs``
    (English / target TOP pairs: TS's utterance shots, TB's translation shots).
    """

    strategy: str | None = Field(default=None, description="rs, ts, gb or tb (`tvd clasp --help`)")
    output_dir: Path | None = None
    data: Path | None = Field(default=None, description="PIZZA folder (catalogs/, PIZZA_dev.16_shots.json)")
    pool: Path | list[str] | None = Field(default=None, description="PIZZA JSON lines, or TOP trees")
    language: str = Field(default="de", description="target language of TS / TB")
    glossary: list[tuple[str, str]] = Field(default_factory=list, description="TS: [english, translation] pairs")
    pairs: list[dict[str, str]] = Field(default_factory=list, description="{en: TOP, <language>: TOP} pairs")
    count: int = Field(default=20, ge=1, description="requests (RS, GB); samples per pool parse (TS, TB)")
    seed: int = Field(default=0, description="sampling seed (sources, values, shots, decoding)")
    negation_cues: bool = Field(default=False, description="RS: each request draws a negation cue for its NOTs")
    constrained: bool = Field(default=True, description="grammar-constrained decoding")
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    engine: EngineConfig | None = Field(default=None, description="scale-out: engine: {backend: ray, ...}")


ConfigT = TypeVar("ConfigT", bound=_Block)


def parse_options(items: Sequence[str], option: str = "--param") -> dict[str, Any]:
    """``("epochs=4", "encoder=all-minilm-l6-v2")`` -> ``{"epochs": 4, "encoder": "all-minilm-l6-v2"}``: each
    VALUE read as JSON, else kept as text (how ``--param`` and ``--teacher-option`` are given)."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise TvdError(E_BAD_KEY_VALUE, f"{option} {item!r} is not KEY=VALUE", fix=f"write e.g. {option} epochs=4")
        try:
            params[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip()] = raw
    return params


def _read_yaml(path: Path, example: str) -> dict[str, Any]:
    if not path.is_file():
        raise TvdError(
            E_CONFIG_NOT_FOUND, f"config file not found: {path}", file=path, fix="give the path of a YAML config"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise TvdError(
            E_CONFIG_YAML,
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            file=path,
            line=mark.line + 1 if mark else None,
            fix="check indentation and quoting",
        ) from exc
    if not isinstance(raw, dict):
        raise TvdError(E_CONFIG_NOT_MAPPING, "the config must be a YAML mapping", file=path, fix=f"see {example}")
    return raw


def _validate(model: type[ConfigT], raw: dict[str, Any], path: Path, example: str) -> ConfigT:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field_path = ".".join(str(p) for p in first["loc"])
        raise TvdError(
            E_CONFIG_FIELD,
            f"field {field_path!r}: {first['msg']} ({len(exc.errors())} problem(s) in all)",
            file=path,
            fix=f"see {example} for every field and its default",
        ) from exc


def _resolve(value: Path | None, base_dir: Path) -> Path | None:
    return base_dir / value if value is not None and not value.is_absolute() else value


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run config (every block, the student's parameters included: see
    :meth:`RunConfig.check`)."""
    path = Path(path)
    example = "examples/new-intent/config.yaml"
    config = _validate(RunConfig, _read_yaml(path, example), path, example)
    base_dir = path.resolve().parent
    data = config.data
    data.base = _resolve(data.base, base_dir)  # type: ignore[assignment]
    data.seed = _resolve(data.seed, base_dir)  # type: ignore[assignment]
    data.test = _resolve(data.test, base_dir)
    config.check(path)
    return config


def load_clasp_config(path: str | Path) -> ClaspConfig:
    """Read and validate a YAML CLASP config (``data`` and a ``pool`` file are resolved against its folder)."""
    path = Path(path)
    example = "examples/clasp/de.yaml"
    config = _validate(ClaspConfig, _read_yaml(path, example), path, example)
    base_dir = path.resolve().parent
    config.data = _resolve(config.data, base_dir)
    if isinstance(config.pool, Path):
        config.pool = _resolve(config.pool, base_dir)
    return config
