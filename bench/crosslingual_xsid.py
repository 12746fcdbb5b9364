"""Cross-lingual xSID benchmark: English SNIPS only, English plus teacher-generated target-language data, and a
real-data ceiling.

Protocol (LINGUIST's cross-lingual setting, on the data this project has):

  english-only        the CRF student trained on SNIPS train (13,084 English utterances; --english-per-intent
                      samples it) with intents and slots renamed to xSID's labels through
                      xsid/snips_to_xsid_mapping.txt
  direct              + LINGUIST data written with <language> = target and 10 English examples per prompt (the
                      teacher follows its examples, so this is mostly English: the language filter drops it)
  translated          + the teacher's translations of --translate English SNIPS utterances per intent
                      (tvd.linguist.translate: bracket markup and slot numbers kept, grammar-checked), those the
                      language filter accepts
  translate-generate  + those translations and LINGUIST data written from them as in-language examples
                      (translate-then-generate, `generation.translate` of a run config)
  tuned-direct        + LINGUIST data from the instruction-tuned teacher, prompted as `direct` (English examples,
                      <language> = target; xSID label names, the tuning data's): the embedded Gemma 3 270M with a
                      LoRA adapter per target language, tuned on cross-lingual pairs (English xSID valid examples,
                      targets from the *other* target languages' xSID valid sets and some English ones: `tvd teacher
                      build-data --examples-from en`), built once under --work-dir/adapters; an adapter that saw
                      the target language is refused (leave-target-language-out)
  target-real         + the target languages' xSID *valid* sets (the real-data reference; no teacher saw them)

`-keep` variants (translated-keep, translate-generate-keep) keep the English slot values verbatim and translate
only the words around them.  Generated methods are trained once per seed (--seeds: the English utterances
sampled per intent and the teacher's sampling seed); one student holds every target language's data (as a
user adding German, Italian and Japanese to an English assistant would train it).  Students are tested on
xSID {en,de,it,ja}.test.conll restricted to the 7 SNIPS intents (mapped names; xSID's Japanese test set holds
only weather/find of them), or on the valid sets with --eval valid (for choosing settings: target-real then
is not a fair ceiling and is skipped).  Reported per language: intent accuracy, slot F1 (seqeval default
mode), the share of well-formed completions in the target language (the `language` filter), and the share of
the english-only -> target-real slot-F1 gap closed.

Teacher completions are cached per language in SQLite under --work-dir and each student's scores are stored
there, so a killed run resumes (`--stage generate` fills the caches only).  Results:
bench/results/crosslingual_xsid.json and a table.

    python bench/crosslingual_xsid.py --stage generate                 # the teacher's part, resumable
    python bench/crosslingual_xsid.py                                  # (the rest of it, then) train and score
    python bench/crosslingual_xsid.py --eval valid --seeds 0 --english-per-intent 200 \\
        --methods english-only translated translated-keep --out bench/results/crosslingual_xsid_valid.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _protocol import RESULTS, SNIPS_INTENTS, WORK, data_missing, default_data, lora_settings, read_split, stamp
from tvd.config import GenerationConfig, TranslateConfig
from tvd.data.atomic import write_json
from tvd.data.label_mapping import LabelMapping, read_label_mapping
from tvd.data.utterance import Utterance
from tvd.engine.cache import CompletionCache
from tvd.evaluate.metrics import evaluate
from tvd.filters import apply_filters
from tvd.formats import read_dataset
from tvd.jobs.augment import augment, translate_seeds
from tvd.report.table import format_table
from tvd.students import make_student
from tvd.teachers.base import Teacher
from tvd.teachers.registry import make_teacher

GENERATED = (
    "direct",
    "tuned-direct",
    "translated",
    "translated-keep",
    "translate-generate",
    "translate-generate-keep",
)
METHODS = ("english-only", *GENERATED, "target-real")
DEFAULT_METHODS = ("english-only", "direct", "tuned-direct", "translated", "translate-generate", "target-real")
TARGET_LANGUAGES = ("de", "it", "ja")
FILTERS = ("exact", "seed", "language")
"""The generated data's filters: duplicates, copies of the English examples, and not the target language."""


def load(
    data: Path, split: str
) -> tuple[LabelMapping, list[Utterance], dict[str, list[Utterance]], dict[str, list[Utterance]]]:
    """The mapping, SNIPS train (original labels), the xSID ``split`` sets restricted to the 7 SNIPS intents
    (scored) and the xSID valid sets restricted the same way (target-real's training data)."""
    xsid = data / "xsid"
    if not (xsid / "snips_to_xsid_mapping.txt").is_file():
        data_missing(data, "xsid/snips_to_xsid_mapping.txt")
    mapping = read_label_mapping(xsid / "snips_to_xsid_mapping.txt")
    train = read_split(data, "snips", "train")
    keep = {mapping.name(i) for i in SNIPS_INTENTS}

    def read(language: str, part: str) -> list[Utterance]:
        utterances = read_dataset(xsid / f"{language}.{part}.conll", "xsid").utterances
        return [u for u in utterances if u.intent in keep]  # xSID's own tokens: the gold units of scoring

    scored = {language: read(language, split) for language in ("en", *TARGET_LANGUAGES)}
    valid = {
        language: scored[language] if split == "valid" else read(language, "valid") for language in TARGET_LANGUAGES
    }
    return mapping, train, scored, valid


def _teacher(args: argparse.Namespace, lora_path: str | Path | None = None) -> Teacher:
    options: dict[str, Any] = {"n_threads": args.teacher_threads}
    if args.teacher == "llamacpp":
        options["batch_width"] = args.batch_width
    paths = {"model_path": args.model_path, "lora_path": lora_path or args.lora_path}
    return make_teacher(args.teacher, **options, **{k: v for k, v in paths.items() if v})


def _generation(args: argparse.Namespace, language: str, seed: int, requests: int, values: str) -> GenerationConfig:
    translate = TranslateConfig(samples=1, temperature=args.translate_temperature, values=values, keep=True)
    return GenerationConfig(
        requests=requests,
        samples_per_request=args.samples,
        wildcard_rate=args.wildcard_rate,
        language=language,
        max_tokens=args.max_tokens,
        seed=seed,
        translate=translate,
    )


def english_sample(train: list[Utterance], intent: str, seed: int, n: int) -> list[Utterance]:
    """``n`` English SNIPS utterances of ``intent``, sampled with ``seed`` (the prompts' examples, or the seeds to
    translate: the first --translate of them)."""
    pool = [u for u in train if u.intent == intent]
    return random.Random(f"{seed}-{intent}").sample(pool, min(n, len(pool)))


def _tune_key(args: argparse.Namespace) -> str:
    return (
        f"p{args.tune_pairs}s{args.tune_steps}b{args.tune_batch}r{args.tune_rank}lr{args.tune_lr}"
        f"-en{args.tune_english_weight}"
    )


def tuned_adapter(args: argparse.Namespace, language: str) -> Path:
    """The tuned-direct teacher's adapter for ``language`` (tuned now when missing: cross-lingual LINGUIST pairs
    with English examples and targets in every *other* language), checked not to have seen that language."""
    from tvd.jobs.tune import tune_adapter
    from tvd.linguist.instruction_data import InstructionSettings
    from tvd.tuning import ADAPTER_GGUF, check_language_unseen

    xsid = args.data / "xsid"
    others = [other for other in TARGET_LANGUAGES if other != language]
    datasets = {"en": xsid / "en.valid.conll", **{other: xsid / f"{other}.valid.conll" for other in others}}
    pairs = InstructionSettings(
        pairs=args.tune_pairs,
        shots=tuple(range(5)),
        wildcard_rate=0.7,
        max_prompt_chars=700,
        mix={"en": args.tune_english_weight},
        examples_from="en",
    )
    tuning, show = lora_settings(args)
    print(f"the {language} adapter (leave-{language}-out):")
    folder = args.work_dir / "adapters" / f"{language}-{_tune_key(args)}"
    tune_adapter(datasets, folder, pairs, tuning, fmt="xsid", base_model="gemma3-270m", progress=show)
    check_language_unseen(folder, language)
    return folder / ADAPTER_GGUF


def generate_cell(
    method: str,
    language: str,
    seed: int,
    train: list[Utterance],
    teacher: Teacher,
    args: argparse.Namespace,
    mapping: LabelMapping,
) -> tuple[list[Utterance], dict[str, Any]]:
    """One generated method's data in ``language`` for every SNIPS intent (SNIPS labels; xSID labels for
    tuned-direct), with its counts."""
    cache_path = args.work_dir / "cache" / f"{language}.sqlite"
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    values = "keep" if method.endswith("-keep") else "translate"
    kept: list[Utterance] = []
    counts = {
        "translations_planned": 0,
        "translations_well_formed": 0,
        "translations_in_language": 0,
        "generated_planned": 0,
        "generated_well_formed": 0,
        "generated_in_language": 0,
        "kept": 0,
    }
    started = time.perf_counter()
    with CompletionCache(cache_path) as cache:
        for intent in SNIPS_INTENTS:
            if method in ("direct", "tuned-direct"):
                examples = english_sample(train, intent, seed, args.pool)
                generation = _generation(args, language, seed, args.direct_requests, values)
                generation = generation.model_copy(update={"translate": None})
                name = intent
                if method == "tuned-direct":  # the adapter learnt xSID's label names
                    examples, name = mapping.apply_all(examples), mapping.name(intent)
                    generation = generation.model_copy(update={"wildcard_rate": args.tuned_wildcard_rate})
                done = augment(name, examples, [], generation, teacher, cache, filters=FILTERS)
                in_language = apply_filters(done.generation.accepted, filters=("language",)).kept
                counts["generated_planned"] += done.stats.planned
                counts["generated_well_formed"] += done.stats.accepted
                counts["generated_in_language"] += len(in_language)
                chosen = done.kept
            else:
                seeds = english_sample(train, intent, seed, args.pool)[: args.translate]
                requests = args.requests if method.startswith("translate-generate") else 1
                generation = _generation(args, language, seed, requests, values)
                if method.startswith("translated"):
                    translation, translated = translate_seeds(seeds, generation, teacher, cache)
                    chosen = apply_filters(translated.kept, seeds, filters=FILTERS).kept
                else:
                    done = augment(intent, seeds, [], generation, teacher, cache, filters=FILTERS)
                    translation, translated = done.translation, done.translation_filtered
                    assert translation is not None and translated is not None
                    generated = done.generation.accepted
                    counts["generated_planned"] += done.stats.planned
                    counts["generated_well_formed"] += done.stats.accepted
                    counts["generated_in_language"] += len(apply_filters(generated, filters=("language",)).kept)
                    chosen = done.kept
                counts["translations_planned"] += translation.stats.planned
                counts["translations_well_formed"] += translation.stats.accepted
                counts["translations_in_language"] += len(translated.kept)
            kept.extend(chosen)  # no tokens: the student tokenises (Japanese by character, tvd.data.tokenize)
            counts["kept"] += len(chosen)
    counts["seconds_this_run"] = round(time.perf_counter() - started, 1)
    step = max(1, len(kept) // 6)
    counts["examples_kept"] = [u.meta.get("bracketed", u.text) for u in kept[::step][:6]]
    print(f"  [{language} seed {seed}] {method:24s} kept {len(kept)}  ({counts['seconds_this_run']:.0f}s)")
    return kept, counts


def train_and_score(
    method: str, seed: int | None, train: list[Utterance], tests: dict[str, list[Utterance]], args: argparse.Namespace
) -> list[dict[str, Any]]:
    started = time.perf_counter()
    student = make_student("crf", max_iterations=args.crf_iterations).fit(train)
    seconds = time.perf_counter() - started
    added = [u for u in train if u.language != "en"]
    records = []
    for language, test in tests.items():
        metrics = evaluate(test, student.predict(test))
        records.append(
            {
                "language": language,
                "method": method,
                "seed": seed,
                "intent_acc": metrics.intent_accuracy,
                "slot_f1": metrics.slot_f1,
                "n_test": len(test),
                "n_train": len(train),
                "n_added": len(added),
                "n_added_language": sum(1 for u in added if u.language == language),
                "train_seconds": round(seconds, 1),
            }
        )
    return records


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def summarise(
    records: list[dict[str, Any]], generation: dict[str, Any], methods: list[str], languages: list[str]
) -> list[dict[str, Any]]:
    """One row per (language, method): means over seeds, their spread, target-language shares, gap closed."""
    rows = []
    for language in ("en", *languages):
        base = [r["slot_f1"] for r in records if r["language"] == language and r["method"] == "english-only"]
        ceiling = [r["slot_f1"] for r in records if r["language"] == language and r["method"] == "target-real"]
        for method in methods:
            match = [r for r in records if r["language"] == language and r["method"] == method]
            if not match:
                continue
            f1 = [r["slot_f1"] for r in match]
            row: dict[str, Any] = {
                "language": language,
                "method": method,
                "seeds": len(match),
                "intent_acc": _mean([r["intent_acc"] for r in match]),
                "slot_f1": _mean(f1),
                "slot_f1_sd": statistics.stdev(f1) if len(f1) > 1 else 0.0,
                "n_added_language": round(statistics.fmean(r["n_added_language"] for r in match)),
            }
            if base and ceiling and ceiling[0] != base[0]:
                row["gap_closed"] = (row["slot_f1"] - base[0]) / (ceiling[0] - base[0])
            cells = [c for key, c in generation.items() if key.startswith(f"{method}|{language}|")]
            if cells:
                for kind in ("translations", "generated"):
                    well_formed = sum(c[f"{kind}_well_formed"] for c in cells)
                    if well_formed:
                        row[f"{kind}_in_language"] = sum(c[f"{kind}_in_language"] for c in cells) / well_formed
            rows.append(row)
    return rows


def _method_seeds(method: str, args: argparse.Namespace) -> list[int]:
    """The seeds ``method`` runs with: --seeds, narrowed by --direct-seeds / --generate-seeds for those methods."""
    if method in ("direct", "tuned-direct"):
        return [s for s in args.seeds if s in args.direct_seeds]
    if method.startswith("translate-generate") and args.generate_seeds is not None:
        return [s for s in args.seeds if s in args.generate_seeds]
    return list(args.seeds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data(), help="folder holding snips/ and xsid/")
    parser.add_argument("--languages", nargs="+", default=list(TARGET_LANGUAGES), choices=TARGET_LANGUAGES)
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--direct-seeds", nargs="+", type=int, default=[0], help="seeds of the direct method")
    parser.add_argument(
        "--generate-seeds", nargs="+", type=int, help="seeds of the translate-generate methods (default: --seeds)"
    )
    parser.add_argument("--stage", choices=("generate", "all"), default="all", help="generate: fill caches only")
    parser.add_argument("--eval", choices=("test", "valid"), default="test", help="the xSID split scored")
    parser.add_argument("--english-per-intent", type=int, help="sample SNIPS train to this many per intent")
    parser.add_argument("--translate", type=int, default=10, help="English utterances translated per intent")
    parser.add_argument("--translate-temperature", type=float, default=0.3)
    parser.add_argument("--requests", type=int, default=4, help="translate-generate: LINGUIST prompts per intent")
    parser.add_argument("--direct-requests", type=int, default=3, help="direct: LINGUIST prompts per intent")
    parser.add_argument("--samples", type=int, default=2, help="completions per LINGUIST prompt")
    parser.add_argument("--pool", type=int, default=200, help="English SNIPS utterances per intent (example pool)")
    parser.add_argument("--wildcard-rate", type=float, default=0.5, help="share of include slots left as '*'")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--crf-iterations", type=int, default=100, help="L-BFGS iterations of the CRF student")
    parser.add_argument("--teacher", default="llamacpp", help="teacher backend (tvd.teachers.registry)")
    parser.add_argument("--model-path", help="teacher model (default: the embedded Gemma 3 270M GGUF)")
    parser.add_argument("--lora-path", help="LoRA adapter for the teacher (e.g. a `tvd teacher tune` output)")
    parser.add_argument("--teacher-threads", type=int, default=2)
    tuned = parser.add_argument_group("instruction-tuned teacher (tuned-direct)")
    tuned.add_argument("--tune-pairs", type=int, default=400, help="instruction pairs built per language's adapter")
    tuned.add_argument("--tune-steps", type=int, default=60, help="LoRA optimiser steps per language's adapter")
    tuned.add_argument("--tune-batch", type=int, default=4, help="instruction pairs per step")
    tuned.add_argument("--tune-rank", type=int, default=16, help="LoRA rank (alpha = 2 x rank)")
    tuned.add_argument("--tune-lr", type=float, default=1e-3, help="peak learning rate (cosine decay)")
    english_help = "mixing weight of English->English pairs (each other language: 1)"
    tuned.add_argument("--tune-english-weight", type=float, default=0.2, help=english_help)
    wildcard_help = "tuned-direct: share of include slots left as '*' (English fixed values would be copied verbatim)"
    tuned.add_argument("--tuned-wildcard-rate", type=float, default=1.0, help=wildcard_help)
    parser.add_argument("--batch-width", type=int, default=8, help="embedded teacher's batched-decoding width")
    parser.add_argument("--work-dir", type=Path, default=WORK / "crosslingual_xsid")
    parser.add_argument("--out", type=Path, default=RESULTS / "crosslingual_xsid.json")
    args = parser.parse_args(argv)
    methods = list(args.methods)
    if args.eval == "valid" and "target-real" in methods:
        print("--eval valid: target-real trains on the valid sets, so it is skipped")
        methods.remove("target-real")

    mapping, snips, tests, valid = load(args.data, args.eval)
    if args.english_per_intent:
        rng = random.Random("english")
        snips_train = [u for i in SNIPS_INTENTS for u in english_sample(snips, i, 0, args.english_per_intent)]
        rng.shuffle(snips_train)
    else:
        snips_train = snips
    english = mapping.apply_all(snips_train)
    teacher_name = args.model_path or ("embedded gemma3-270m" if args.teacher == "llamacpp" else args.teacher)
    if args.lora_path:
        teacher_name += f" + LoRA {args.lora_path}"
    settings = (
        f"t{args.translate}-tt{args.translate_temperature}-r{args.requests}-d{args.direct_requests}x{args.samples}"
        f"-w{args.wildcard_rate}-p{args.pool}-m{args.max_tokens}-e{args.english_per_intent or 'all'}"
        f"-crf{args.crf_iterations}-{args.eval}-{Path(teacher_name.split()[0]).name}"
    )
    records_dir = args.work_dir / "records" / settings
    records_dir.mkdir(parents=True, exist_ok=True)
    print(f"{args.eval} sets (7 SNIPS intents): " + ", ".join(f"{k} {len(v)}" for k, v in tests.items()))

    generation: dict[str, Any] = {}
    data: dict[tuple[str, int], list[Utterance]] = {}
    wanted = [m for m in methods if m in GENERATED]
    untuned = [m for m in wanted if m != "tuned-direct"]  # one teacher for these; tuned-direct has one per language
    if untuned:
        with _teacher(args) as teacher:
            for seed in args.seeds:
                for method in untuned:
                    if seed not in _method_seeds(method, args):
                        continue
                    for language in args.languages:
                        kept, counts = generate_cell(method, language, seed, snips, teacher, args, mapping)
                        generation[f"{method}|{language}|{seed}"] = counts
                        data.setdefault((method, seed), []).extend(mapping.apply_all(kept))
    if "tuned-direct" in wanted:
        for language in args.languages:  # one adapter, so one teacher, per language
            with _teacher(args, tuned_adapter(args, language)) as teacher:
                for seed in _method_seeds("tuned-direct", args):
                    kept, counts = generate_cell("tuned-direct", language, seed, snips, teacher, args, mapping)
                    generation[f"tuned-direct|{language}|{seed}"] = counts
                    data.setdefault(("tuned-direct", seed), []).extend(mapping.apply_all(kept))
    if args.stage == "generate":
        print("caches filled; run without --stage to train and score")
        return 0

    languages_key = "-".join(args.languages)
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    for method in methods:
        for seed in _method_seeds(method, args) if method in GENERATED else [None]:
            tuned = f"-{_tune_key(args)}" if method == "tuned-direct" else ""  # the adapters' settings
            name = f"{method}{tuned}-{languages_key}" + (f"-s{seed}" if seed is not None else "")
            path = records_dir / f"{name}.json"
            if path.is_file():
                result = json.loads(path.read_text())
            else:
                if method == "target-real":
                    added = [u for language in args.languages for u in valid[language]]
                elif method == "english-only":
                    added = []
                else:
                    assert seed is not None
                    added = data[(method, seed)]
                same = records_dir / f"english-only-{languages_key}.json"
                if not added and method != "english-only" and same.is_file():  # the same data: the same student
                    print(f"{name}: nothing added, so english-only's student and scores")
                    result = [{**r, "method": method, "seed": seed} for r in json.loads(same.read_text())]
                else:
                    print(f"training the {name} student on {len(english)} English + {len(added)} ...")
                    result = train_and_score(method, seed, english + added, tests, args)
                write_json(path, result)
            teacher = teacher_name if method in GENERATED else None
            if method == "tuned-direct":
                teacher = f"{teacher_name} + LoRA per language ({_tune_key(args)}, leave-target-language-out)"
            for record in result:
                record.update({"teacher": teacher, "settings": settings})
            records.extend(result)
            print(f"[{time.perf_counter() - started:5.0f}s] {name} done")

    rows = summarise(records, generation, methods, args.languages)
    columns: list[Any] = [
        "language",
        "method",
        ("intent_acc", "intent acc"),
        ("slot_f1", "slot F1"),
        ("slot_f1_sd", "sd"),
        ("gap_closed", "gap closed"),
        ("translations_in_language", "translations in lang"),
        ("generated_in_language", "generated in lang"),
        ("n_added_language", "added (lang)"),
    ]
    title = f"xSID {args.eval}, 7 SNIPS intents: intent accuracy / slot F1 (%), means over seeds {args.seeds}"
    table = format_table(rows, columns, title=title)
    write_json(
        args.out,
        {
            **stamp("crosslingual_xsid.py", argv),
            "protocol": {
                "train": f"SNIPS train ({len(english)} English) mapped to xSID labels",
                "scored": f"xSID 0.7 {{en,de,it,ja}}.{args.eval}.conll restricted to the 7 SNIPS intents (mapped)",
                "languages": args.languages,
                "seeds": args.seeds,
                "student": f"crf, {args.crf_iterations} L-BFGS iterations",
                "teacher": teacher_name,
                "translate": f"{args.translate} English utterances per intent, 1 translation each, "
                f"temperature {args.translate_temperature}",
                "translate_generate": f"{args.requests} LINGUIST prompts x {args.samples} per intent from the "
                "translations",
                "direct": f"{args.direct_requests} LINGUIST prompts x {args.samples} per intent, English examples",
                "filters": list(FILTERS),
                "target_real": "English + xSID valid of the target languages (7 intents)",
                "metrics": "intent accuracy; slot F1 = seqeval default mode (conlleval-compatible); gap closed = "
                "(method - english-only) / (target-real - english-only), slot F1",
            },
            "generation": generation,
            "summary": rows,
            "records": records,
        },
    )
    print(f"\n{table}\n\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
