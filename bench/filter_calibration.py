"""Filter calibration on training data: what each filter for meaning removes from real and from generated data.

For SNIPS 10-shot cells (the protocol of ``bench/fewshot_snips.py``: intent, seed -> 10 seeds, base = the other
intents), each filter of ``tvd.filters`` at each setting of a small grid is applied to

  real       up to --real-n utterances of the target intent from its *training* pool, disjoint from the seeds:
             real data of the intent, which a good filter keeps (its removal share is the false-removal rate)
  generated  the teacher's accepted completions of the cell (``fewshot_snips.py``'s cache; generated if missing)

with the cell's real10 student (base + seeds) as the reference, as ``tvd run`` and ``fewshot_snips.py`` use it.
The ``judge`` asks the embedded teacher (as the benchmarks run it: ``--batch-width``, ``--teacher-threads``) once
per utterance, so it sees a subsample (``--judge-n`` real and as many generated utterances per cell) of the cells
of ``--judge-intents`` only; its answers are cached under ``<work-dir>/judge/``, and each of its records carries
the judge's counts (yes, no, unparseable, failed, sent, cached) and seconds.
No valid or test data is read: the defaults chosen from this table are chosen on training data.  A filter earns
its place when it removes much more of the generated data than of the real data.

Results: bench/results/filter_calibration.json (``records``: cell, filter, option, value, data, removed, total) and
a table of mean removal shares per setting.  A run replaces the records it redoes and keeps the others (so
``--filters judge`` adds the judge's rows to an earlier run's); ``commands`` lists the runs the records came from.

    python bench/filter_calibration.py                              # the cells fewshot_snips.py has finished
    python bench/filter_calibration.py --intents BookRestaurant GetWeather --seeds 0
    python bench/filter_calibration.py --filters judge --seeds 0          # the judge on its 3 intents x 40 + 40
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

from _protocol import RESULTS, SNIPS_INTENTS, WORK, default_data, merge_records, read_split, stamp
from fewshot_snips import _fit, _generate_linguist, _teacher_options
from tvd.data.atomic import write_json
from tvd.data.fewshot import novel_intent_split
from tvd.filters import apply_filters
from tvd.report.table import format_table
from tvd.students import load_student

GRID: dict[str, tuple[str, tuple[Any, ...]]] = {
    "intent": ("confidence", (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)),
    "plausible": ("tolerance", (0.0, 0.1, 0.2, 0.3)),
    "unlabelled": ("max_carrier_share", (0.005, 0.01, 0.05)),
    "near_duplicate": ("threshold", (0.7, 0.8, 0.9)),
    "base_conflict": ("threshold", (0.8, 0.9, 1.0)),
    "judge": ("examples", (0, 2, 4)),
}
"""filter -> (the option varied, its values); other options at their defaults."""

_KEY = ("intent", "seed", "filter", "option", "value", "data")

JUDGE_INTENTS = ("BookRestaurant", "GetWeather", "PlayMusic")
"""The judge's cells by default (it asks the teacher once per utterance: a subsample, see --judge-n)."""


def _judge(
    items: list[Any], seeds: list[Any], base: list[Any], value: Any, teacher: Any, cache_path: Path
) -> tuple[Any, dict[str, Any]]:
    """The judge over ``items`` with ``teacher`` (answers cached in ``cache_path``): the result and its counts."""
    from tvd.engine.cache import CompletionCache
    from tvd.filters import FilterChain, build_filters

    started = time.perf_counter()
    with CompletionCache(cache_path) as cache:
        [judge] = build_filters(
            ("judge",), seeds, base=base, options={"judge": {"examples": value}}, teacher=teacher, cache=cache
        )
        result = FilterChain([judge]).apply(items)
    return result, {**dict(judge.stats), "seconds": round(time.perf_counter() - started, 1)}


def calibrate_cell(
    intent: str, seed: int, args: argparse.Namespace, train: list[Any], judge_teacher: Any = None
) -> list[dict[str, Any]]:
    split = novel_intent_split(train, intent, k=args.k, seed=seed)
    seeds, base = list(split.seed_examples), list(split.base)
    folder = args.work_dir / "students" / f"{intent}-{seed}-crf{args.crf_iterations}"
    if (folder / "student.json").is_file():
        reference = load_student(folder)
    else:
        reference = _fit([*base, *seeds], {"max_iterations": args.crf_iterations, "balance": False})[0]
        reference.save(folder)
    real = list(split.held_back)
    real = random.Random(seed).sample(real, min(args.real_n, len(real)))
    generated = _generate_linguist(split, args, args.work_dir / "cache" / f"{intent}-{seed}.sqlite").generation.accepted
    records = []
    for name, (option, values) in GRID.items():
        if name not in args.filters or (name == "judge" and judge_teacher is None):
            continue
        for value in values:
            for data, items in (("real", real), ("generated", generated)):
                extra: dict[str, Any] = {}
                if name == "judge":  # a subsample: the teacher is asked once per utterance
                    items = random.Random(seed).sample(items, min(args.judge_n, len(items)))
                    cache_path = args.work_dir / "judge" / f"{intent}-{seed}.sqlite"
                    result, extra["judge"] = _judge(items, seeds, base, value, judge_teacher, cache_path)
                else:
                    result = apply_filters(
                        items, seeds, (name,), base=base, reference=reference, options={name: {option: value}}
                    )
                records.append(
                    {
                        "intent": intent,
                        "seed": seed,
                        "filter": name,
                        "option": option,
                        "value": value,
                        "data": data,
                        "removed": len(result.removed),
                        "total": result.total,
                        **extra,
                    }
                )
    return records


def table(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    rows = []
    for name, (option, values) in GRID.items():
        for value in values:
            row: dict[str, Any] = {"filter": name, "setting": f"{option}={value}"}
            for data in ("real", "generated"):
                rs = [r for r in records if (r["filter"], r["value"], r["data"]) == (name, value, data)]
                if rs:
                    row[data] = statistics.fmean(r["removed"] / r["total"] for r in rs if r["total"])
                    row["cells"] = len(rs)
            rows.append(row)
    columns = ["filter", "setting", "cells", ("real", "real removed"), ("generated", "generated removed")]
    return rows, format_table(rows, columns, title="Removal shares on training data (mean over cells, %)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--intents", nargs="+", default=list(SNIPS_INTENTS), choices=SNIPS_INTENTS, metavar="INTENT")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--only-finished", action="store_true", help="only cells with a saved real10 student")
    parser.add_argument("--real-n", type=int, default=200, help="real held-out utterances per cell")
    parser.add_argument("--k", type=int, default=10)
    # the generation settings of fewshot_snips.py's linguist-icl, so its cache is reused
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--wildcard-rate", type=float, default=0.5)
    parser.add_argument("--teacher-threads", type=int, default=1)
    parser.add_argument("--batch-width", type=int, default=8)
    parser.add_argument("--model-path")
    parser.add_argument("--crf-iterations", type=int, default=50)
    parser.add_argument("--work-dir", type=Path, default=WORK / "fewshot_snips")
    parser.add_argument("--out", type=Path, default=RESULTS / "filter_calibration.json")
    parser.add_argument(
        "--filters",
        nargs="+",
        default=list(GRID),
        choices=list(GRID),
        metavar="FILTER",
        help="filters to calibrate (records of the others in --out are kept)",
    )
    parser.add_argument(
        "--judge-intents",
        nargs="+",
        default=list(JUDGE_INTENTS),
        choices=SNIPS_INTENTS,
        metavar="INTENT",
        help="cells the judge runs on (of --intents)",
    )
    parser.add_argument("--judge-n", type=int, default=40, help="real and generated utterances the judge sees")
    args = parser.parse_args(argv)

    train = read_split(args.data, "snips", "train")
    records: list[dict[str, Any]] = []
    judge_teacher = None
    if "judge" in args.filters:  # the embedded teacher as the benchmarks run it
        from tvd.teachers.registry import make_teacher

        judge_teacher = make_teacher("llamacpp", **_teacher_options(args))
    for intent in args.intents:
        for seed in args.seeds:
            folder = args.work_dir / "students" / f"{intent}-{seed}-crf{args.crf_iterations}"
            if args.only_finished and not (folder / "student.json").is_file():
                continue
            if set(args.filters) == {"judge"} and intent not in args.judge_intents:
                continue
            judge = judge_teacher if intent in args.judge_intents else None
            records += calibrate_cell(intent, seed, args, train, judge)
            print(f"calibrated {intent} seed {seed}")
    if judge_teacher is not None:
        judge_teacher.close()
    records = merge_records(args.out, records, lambda r: tuple(r[k] for k in _KEY))
    rows, text = table(records)
    stamped = stamp("filter_calibration.py", argv)
    earlier = json.loads(args.out.read_text()) if args.out.is_file() else {}
    commands = [c for c in earlier.get("commands", [earlier.get("command")]) if c and c != stamped["command"]]
    results = {**stamped, "commands": [*commands, stamped["command"]], "grid": GRID, "summary": rows}
    write_json(args.out, {**results, "records": records})
    print(f"\n{text}\n\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
