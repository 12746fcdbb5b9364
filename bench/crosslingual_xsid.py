"""Cross-lingual xSID benchmark: English SNIPS only versus English plus teacher-generated target-language data.

Protocol (LINGUIST's cross-lingual setting, on the data this project has):

  english-only  the CRF student trained on SNIPS train (13,084 English utterances) with intents and slots
                renamed to xSID's labels through xsid/snips_to_xsid_mapping.txt
  generated     the same plus LINGUIST data the teacher writes in German / Italian / Japanese: the
                <language> block names the target language, the 10 in-prompt examples are English SNIPS
                utterances of the intent, the include block uses SNIPS slot names (mapped to xSID names
                afterwards).  Fixed include values are English SNIPS values the teacher may translate or
                keep (the grammar and the parser do not force them verbatim for another language);
                wildcards ('*') are filled by the teacher.  A language filter drops outputs that are not
                in the target language (script for Japanese, function words for German / Italian).

Both students are tested on xSID {de,it,ja}.test.conll (and en.test.conll as a reference) restricted to the
7 SNIPS intents (mapped names; xSID's Japanese test set holds only weather/find of them).  Reported per
language: intent accuracy and slot F1 (seqeval default mode, as everywhere in the project).

Teacher completions are cached per language in SQLite under --work-dir and finished students' scores are
stored there, so a killed run resumes.  Results: bench/results/crosslingual_xsid.json and a table.

    python bench/crosslingual_xsid.py                                  # de it ja, 10 prompts x 2 samples per intent
    python bench/crosslingual_xsid.py --languages de --requests 2      # a quick look (+ two CRF trainings)
    python bench/crosslingual_xsid.py --probe-native 3                 # + diagnostic: target-language examples

Measured (README): the embedded Gemma 3 270M wrote 0 of 420 completions in the target language with English
examples (so `generated` == `english-only`), but 74 of 90 with target-language examples (the --probe-native
diagnostic, xSID valid; never used for training).
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

from _protocol import RESULTS, SNIPS_INTENTS, WORK, data_missing, default_data, read_split, stamp
from tvd.config import GenerationConfig
from tvd.data.atomic import write_json
from tvd.data.label_mapping import LabelMapping, read_label_mapping
from tvd.data.tokenize import script_tokens
from tvd.data.utterance import Utterance
from tvd.engine.cache import CompletionCache
from tvd.evaluate.control import control_counts
from tvd.evaluate.metrics import evaluate
from tvd.filters import apply_filters
from tvd.filters.language import in_language
from tvd.formats import read_dataset
from tvd.jobs.augment import augment
from tvd.report.table import format_table
from tvd.students import make_student
from tvd.teachers.base import Teacher
from tvd.teachers.registry import make_teacher

METHODS = ("english-only", "generated")
TARGET_LANGUAGES = ("de", "it", "ja")


def load(data: Path) -> tuple[LabelMapping, list[Utterance], dict[str, list[Utterance]]]:
    """The mapping, SNIPS train (original labels) and the xSID test sets restricted to the 7 SNIPS intents."""
    xsid = data / "xsid"
    if not (xsid / "snips_to_xsid_mapping.txt").is_file():
        data_missing(data, "xsid/snips_to_xsid_mapping.txt")
    mapping = read_label_mapping(xsid / "snips_to_xsid_mapping.txt")
    train = read_split(data, "snips", "train")
    keep = {mapping.name(i) for i in SNIPS_INTENTS}
    tests = {}
    for language in ("en", *TARGET_LANGUAGES):
        utterances = read_dataset(xsid / f"{language}.test.conll", "xsid").utterances
        tests[language] = [u for u in utterances if u.intent in keep]
    return mapping, train, tests


def _teacher(args: argparse.Namespace) -> Teacher:
    paths = {"model_path": args.model_path, "lora_path": args.lora_path}
    return make_teacher(args.teacher, n_threads=args.teacher_threads, **{k: v for k, v in paths.items() if v})


def _generation(args: argparse.Namespace, language: str, requests: int) -> GenerationConfig:
    return GenerationConfig(
        requests=requests,
        samples_per_request=args.samples,
        wildcard_rate=args.wildcard_rate,
        language=language,
        max_tokens=args.max_tokens,
        seed=args.seed,
    )


def generate_language(
    language: str, train: list[Utterance], args: argparse.Namespace
) -> tuple[list[Utterance], dict[str, Any]]:
    """Teacher data in ``language`` for every SNIPS intent (SNIPS labels), with per-intent statistics."""
    cache_path = args.work_dir / "cache" / f"{language}.sqlite"
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    kept: list[Utterance] = []
    well_formed: list[Utterance] = []
    info: dict[str, Any] = {"per_intent": {}}
    with _teacher(args) as teacher, CompletionCache(cache_path) as cache:
        for intent in SNIPS_INTENTS:
            rng = random.Random(f"{args.seed}-{intent}")
            pool = [u for u in train if u.intent == intent]
            pool = rng.sample(pool, min(args.pool, len(pool)))
            started = time.perf_counter()
            done = augment(intent, pool, [], _generation(args, language, args.requests), teacher, cache)
            seconds = time.perf_counter() - started
            result, filtered = done.generation, done.filtered
            # the language filter after the dedup filters, so both counts are reported
            in_lang = apply_filters(filtered.kept, filters=("language",)).kept
            chosen = in_lang if args.language_filter else filtered.kept
            control = control_counts(done.control_samples())
            info["per_intent"][intent] = {
                "planned": result.stats.planned,
                "accepted": result.stats.accepted,
                "rejected": dict(result.stats.rejected),
                "after_dedup_filters": len(filtered.kept),
                "in_target_language": len(in_lang),
                "kept": len(chosen),
                "fixed_values": control.fixed_total,
                "fixed_values_kept_verbatim": control.fixed_honoured,
                "seconds_this_run": round(seconds, 1),
            }
            kept.extend(script_tokens(u) for u in chosen)
            well_formed.extend(filtered.kept[:2])
            print(
                f"  [{language}] {intent:21s} {result.stats.accepted}/{result.stats.planned} well-formed, "
                f"{len(in_lang)} in {language} after dedup, kept {len(chosen)}  ({seconds:.0f}s)"
            )
    rows = info["per_intent"].values()
    info["totals"] = {key: sum(row[key] for row in rows) for key in next(iter(rows)) if key != "rejected"}
    info["examples_kept"] = [u.meta.get("bracketed", u.text) for u in kept[:: max(1, len(kept) // 6)][:6]]
    info["examples_well_formed"] = [u.meta.get("bracketed", u.text) for u in well_formed]
    return kept, info


def probe_native_examples(language: str, mapping: LabelMapping, args: argparse.Namespace) -> dict[str, Any]:
    """Diagnostic, not training data: the same prompts with examples in the target language (xSID valid,
    xSID labels).  Tells whether the teacher writes the language at all when its examples show it."""
    valid = read_dataset(args.data / "xsid" / f"{language}.valid.conll", "xsid").utterances
    cache_path = args.work_dir / "cache" / f"probe-{language}.sqlite"
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"planned": 0, "well_formed": 0, "in_target_language": 0, "examples": []}
    with _teacher(args) as teacher, CompletionCache(cache_path) as cache:
        for intent in SNIPS_INTENTS:
            pool = [u for u in valid if u.intent == mapping.name(intent)]
            if len(pool) < 10:
                continue
            generation = _generation(args, language, args.probe_native)
            # no filters; fixed values taken as English ones, as when this diagnostic was first measured
            done = augment(mapping.name(intent), pool, [], generation, teacher, cache, filters=(), source_language="en")
            result = done.generation
            good = [u for u in result.accepted if in_language(u.text, language)]
            out["planned"] += result.stats.planned
            out["well_formed"] += result.stats.accepted
            out["in_target_language"] += len(good)
            out["examples"] += [u.meta.get("bracketed", u.text) for u in result.accepted[:1]]
    print(f"  probe [{language}] native examples: {out['in_target_language']}/{out['planned']} in {language}")
    return out


def train_and_score(
    method: str, train: list[Utterance], tests: dict[str, list[Utterance]], args: argparse.Namespace
) -> list[dict[str, Any]]:
    started = time.perf_counter()
    student = make_student("crf", max_iterations=args.crf_iterations).fit(train)
    seconds = time.perf_counter() - started
    generated = [u for u in train if u.meta.get("source") == "linguist"]
    records = []
    for language, test in tests.items():
        metrics = evaluate(test, student.predict(test))
        records.append(
            {
                "language": language,
                "method": method,
                "intent_acc": metrics.intent_accuracy,
                "slot_f1": metrics.slot_f1,
                "n_test": len(test),
                "n_train": len(train),
                "n_generated": len(generated),
                "n_generated_language": sum(1 for u in generated if u.language == language),
                "seed": args.seed,
                "train_seconds": round(seconds, 1),
            }
        )
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data(), help="folder holding snips/ and xsid/")
    parser.add_argument("--languages", nargs="+", default=list(TARGET_LANGUAGES), choices=TARGET_LANGUAGES)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--requests", type=int, default=10, help="LINGUIST prompts per intent and language")
    parser.add_argument("--samples", type=int, default=2, help="completions per prompt (reuses the evaluated prompt)")
    parser.add_argument("--pool", type=int, default=200, help="English SNIPS utterances per intent (example pool)")
    parser.add_argument("--wildcard-rate", type=float, default=0.5, help="share of include slots left as '*'")
    parser.add_argument("--max-tokens", type=int, default=64)
    keep_all = "keep generated utterances that do not look like the target language"
    parser.add_argument("--no-language-filter", dest="language_filter", action="store_false", help=keep_all)
    probe = "diagnostic: N prompts per intent with target-language examples (xSID valid); not training data"
    parser.add_argument("--probe-native", type=int, default=0, metavar="N", help=probe)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crf-iterations", type=int, default=100, help="L-BFGS iterations of the CRF student")
    parser.add_argument("--teacher", default="llamacpp", help="teacher backend (tvd.teachers.registry)")
    parser.add_argument("--model-path", help="teacher model (default: the embedded Gemma 3 270M GGUF)")
    parser.add_argument("--lora-path", help="LoRA adapter for the teacher (e.g. a `tvd teacher tune` output)")
    parser.add_argument("--teacher-threads", type=int, default=1)
    parser.add_argument("--work-dir", type=Path, default=WORK / "crosslingual_xsid")
    parser.add_argument("--out", type=Path, default=RESULTS / "crosslingual_xsid.json")
    args = parser.parse_args(argv)

    mapping, snips, tests = load(args.data)
    english = mapping.apply_all(snips)
    teacher_name = args.model_path or ("embedded gemma3-270m" if args.teacher == "llamacpp" else args.teacher)
    if args.lora_path:
        teacher_name += f" + LoRA {args.lora_path}"
    settings = (
        f"r{args.requests}x{args.samples}-w{args.wildcard_rate}-p{args.pool}-t{args.max_tokens}"
        f"-lf{int(args.language_filter)}-s{args.seed}-crf{args.crf_iterations}-{Path(teacher_name.split()[0]).name}"
    )
    records_dir = args.work_dir / "records" / settings
    records_dir.mkdir(parents=True, exist_ok=True)
    print("test sets (7 SNIPS intents): " + ", ".join(f"{k} {len(v)}" for k, v in tests.items()))

    generation: dict[str, Any] = {}
    generated: list[Utterance] = []
    if "generated" in args.methods:
        for language in args.languages:
            print(f"generating {language} ({args.requests} prompts x {args.samples} samples per intent)")
            kept, info = generate_language(language, snips, args)
            generation[language] = info
            generated.extend(mapping.apply_all(kept))

    probes = {}
    if args.probe_native:
        for language in args.languages:
            probes[language] = probe_native_examples(language, mapping, args)

    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    for method in args.methods:
        path = records_dir / f"{method}-{'-'.join(args.languages) if method == 'generated' else 'en'}.json"
        if path.is_file():
            result = json.loads(path.read_text())
        else:
            print(f"training the {method} student ...")
            result = train_and_score(method, english + (generated if method == "generated" else []), tests, args)
            write_json(path, result)
        for record in result:
            record.update({"teacher": teacher_name if method == "generated" else None, "settings": settings})
        records.extend(result)
        print(f"[{time.perf_counter() - started:5.0f}s] {method} done")

    rows = []
    for language in ("en", *args.languages):
        row: dict[str, Any] = {"language": language, "n_test": len(tests[language])}
        for method in args.methods:
            match = [r for r in records if r["language"] == language and r["method"] == method]
            if match:
                row[f"{method}_acc"] = statistics.fmean(r["intent_acc"] for r in match)
                row[f"{method}_f1"] = statistics.fmean(r["slot_f1"] for r in match)
        row["generated"] = generation.get(language, {}).get("totals", {}).get("kept", 0)
        rows.append(row)
    columns: list[Any] = ["language", "n_test"]
    for method in args.methods:
        columns += [(f"{method}_acc", f"{method} intent acc"), (f"{method}_f1", f"{method} slot F1")]
    columns.append(("generated", "generated kept"))
    table = format_table(rows, columns, title="xSID test, 7 SNIPS intents: intent accuracy / slot F1 (%)")
    write_json(
        args.out,
        {
            **stamp("crosslingual_xsid.py", argv),
            "protocol": {
                "train": "SNIPS train (13,084 English) mapped to xSID labels",
                "test": "xSID 0.7 {en,de,it,ja}.test.conll restricted to the 7 SNIPS intents (mapped)",
                "languages": args.languages,
                "student": f"crf, {args.crf_iterations} L-BFGS iterations",
                "teacher": teacher_name,
                "prompt": "LINGUIST, <language> = target, 10 English SNIPS examples, SNIPS slot names",
                "slot_values": "wildcards filled by the teacher; fixed (English) include values may be translated or kept",  # noqa: E501
                "requests_per_intent": args.requests,
                "samples_per_request": args.samples,
                "wildcard_rate": args.wildcard_rate,
                "language_filter": args.language_filter,
                "seed": args.seed,
                "metrics": "intent accuracy; slot F1 = seqeval default mode (conlleval-compatible)",
            },
            "generation": generation,
            "probe_native_examples": probes,
            "summary": rows,
            "records": records,
        },
    )
    print(f"\n{table}\n\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
