"""PIZZA low-resource benchmark: real only vs + CLASP RS / GB / RS+GB synthetic pairs, 16-shot and 348 (dev).

Generation (embedded teacher, grammar-constrained) runs once per seed from the 16 real parses of
``PIZZA_dev.16_shots.json`` (a subset of dev, so the same synthetic pairs are legitimate for both sizes):
``--rs`` RS requests and ``--gb`` GB requests, sampling seed ``seed``.  Completions are cached in
``bench/work/pizza_lowresource/cache.sqlite`` (resumable); accepted pairs and rejects per seed are written
there too.  Each (size, method, seed) trains the CRF path-tagger parser and scores the 1,357 test examples
(EM and unordered EM after catalogue resolution).  Results: ``bench/results/pizza_lowresource.json``.

    python bench/pizza_lowresource.py --seeds 0 1 2 --rs 300 --gb 30 --negation-cues
    python bench/pizza_lowresource.py --teacher openai --teacher-option base_url=http://127.0.0.1:8000/v1 \
        --teacher-option model=qwen2.5-7b-instruct ...          # any configured teacher (`tvd teacher list`)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from _protocol import RESULTS, WORK, command, default_data
from tvd.clasp.resolve import Catalogs
from tvd.clasp.validate import NEGATION_CUES
from tvd.config import ClaspConfig, TeacherConfig, parse_options
from tvd.data.atomic import atomic_write_text
from tvd.data.parse_tree import Tree
from tvd.engine.cache import CompletionCache
from tvd.evaluate.parse_metrics import score
from tvd.formats.pizza import read_pizza
from tvd.jobs.clasp import clasp_job
from tvd.jobs.teacher import build_teacher
from tvd.report.summary import group_by
from tvd.students.parser_crf import ParserCRF

METHODS = ("real", "rs", "gb", "rs+gb")
#: the parser's negation word class: ``full`` = tvd.clasp.validate.NEGATION_CUES (with food-order idioms such as
#: "hold" and "avoid"), ``minimal`` = textbook negators only, ``none`` = no word class
WORD_CLASSES = {
    "full": sorted(NEGATION_CUES),
    "minimal": ["no", "not", "without", "don't", "dont", "n't", "never", "none", "nothing"],
    "none": [],
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(default_data() / "pizza"), help="PIZZA folder (default: $TVD_DATA/pizza)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--rs", type=int, default=30, help="RS requests per seed")
    ap.add_argument("--gb", type=int, default=30, help="GB requests per seed")
    ap.add_argument("--work", default=str(WORK / "pizza_lowresource"))
    ap.add_argument("--out", default=str(RESULTS / "pizza_lowresource.json"))
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--teacher", default="llamacpp", help="teacher backend (`tvd teacher list`; default: embedded)")
    ap.add_argument("--teacher-option", action="append", default=[], metavar="KEY=VALUE", help="teacher option")
    cues = "RS: each request draws an English negation cue (grammar.NEGATION_CUES_EN) that must precede its NOTs"
    ap.add_argument("--negation-cues", action="store_true", help=cues)
    ap.add_argument("--shots", type=int, nargs="+", choices=[16, 348], default=[16, 348], help="training sizes")
    negation = "the parser's negation word class (default: full)"
    ap.add_argument("--word-classes", choices=sorted(WORD_CLASSES), default="full", help=negation)
    args = ap.parse_args(argv)

    data = Path(args.data)
    catalogs = Catalogs.load(data / "catalogs")
    values = {label: catalogs.values(label) for label in catalogs.entries}
    shots16 = read_pizza(data / "PIZZA_dev.16_shots.json")
    dev = read_pizza(data / "PIZZA_dev.json")
    test = read_pizza(data / "PIZZA_test.json")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    synthetic: dict[int, dict[str, list[Tree]]] = {}
    generation: dict[str, dict] = {}
    teacher_config = TeacherConfig(backend=args.teacher, options=parse_options(args.teacher_option, "--teacher-option"))
    with build_teacher(teacher_config) as teacher, CompletionCache(work / "cache.sqlite") as cache:
        teacher_name = f"{args.teacher} ({teacher.fingerprint()})"
        tag = "" if args.teacher == "llamacpp" and not args.teacher_option else f"-{teacher.fingerprint()[:40]}"
        for seed in args.seeds:
            synthetic[seed] = {}
            out = work / (f"seed{seed}" + ("-cues" if args.negation_cues else "") + tag.replace(":", "_"))
            out.mkdir(exist_ok=True)
            for strategy, n in (("rs", args.rs), ("gb", args.gb)):
                cues = args.negation_cues and strategy == "rs"
                job = ClaspConfig(strategy=strategy, data=data, count=n, seed=seed, negation_cues=cues)
                result = clasp_job(job, teacher, cache, progress=True).result
                atomic_write_text(out / f"{strategy}.jsonl", "".join(json.dumps(a) + "\n" for a in result.accepted))
                atomic_write_text(
                    out / f"{strategy}.rejects.jsonl", "".join(json.dumps(r) + "\n" for r in result.rejects)
                )
                synthetic[seed][strategy] = [Tree.from_top(a["top"]) for a in result.accepted]
                stats = generation[f"{strategy}/seed{seed}"] = result.stats.to_dict()
                print(
                    f"seed {seed} {strategy}: {stats['accepted']}/{stats['planned']} accepted, "
                    f"{stats['rejected_by_reason']}, teacher {stats['teacher_seconds']} s"
                )
    if args.generate_only:
        return 0

    gold = [e.exr for e in test]
    texts = [e.text for e in test]
    records = []
    negation = WORD_CLASSES[args.word_classes]
    word_classes = {"negation": negation} if negation else None
    sizes = {n: real for n, real in ((16, [e.top for e in shots16]), (348, [e.top for e in dev])) if n in args.shots}
    for shots, real in sizes.items():
        for method in METHODS:
            for seed in args.seeds:
                extra: list[Tree] = []
                if method in ("rs", "rs+gb"):
                    extra += synthetic[seed]["rs"]
                if method in ("gb", "rs+gb"):
                    extra += synthetic[seed]["gb"]
                started = time.perf_counter()
                parser = ParserCRF(values, word_classes=word_classes)
                parser.fit([*real, *extra])
                scores = score(parser.predict(texts), gold, catalogs)
                record = {
                    "shots": shots,
                    "method": method,
                    "seed": seed,
                    "real": len(real),
                    "synthetic": len(extra),
                    "em": round(100 * scores.em, 2),
                    "unordered_em": round(100 * scores.unordered_em, 2),
                    "seconds": round(time.perf_counter() - started, 1),
                }
                records.append(record)
                print(json.dumps(record))

    table = [
        {
            "shots": shots,
            "method": method,
            **{f"{key}_median": statistics.median(r[key] for r in rows) for key in ("synthetic", "em", "unordered_em")},
            "unordered_em_min": min(r["unordered_em"] for r in rows),
            "unordered_em_max": max(r["unordered_em"] for r in rows),
        }
        for (shots, method), rows in group_by(records, "shots", "method").items()
    ]
    result = {
        "command": command("pizza_lowresource.py", None),
        "settings": {
            "teacher": f"{teacher_name}, grammar-constrained, temperature 0.7",
            "pool": "PIZZA_dev.16_shots.json (16 real TOP trees) for generation, every seed and both sizes",
            "rs_requests_per_seed": args.rs,
            "gb_requests_per_seed": args.gb,
            "student": "ParserCRF (CRF path tagger + tree builder, catalogue lexicon features, delexicalised), "
            "c1 0.05, c2 0.01, 150 iterations",
            "word_classes": {"negation": WORD_CLASSES[args.word_classes], "setting": args.word_classes},
            "test": "PIZZA_test.json, 1,357 examples; unordered_em = PIZZA's metric after catalogue resolution",
        },
        "generation": generation,
        "records": records,
        "summary": table,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print("\n| shots | method | synthetic pairs | EM | unordered EM (median, min-max) |")
    print("|---|---|---|---|---|")
    for row in table:
        print(
            f"| {row['shots']} | {row['method']} | {row['synthetic_median']:g} | {row['em_median']:.1f} | "
            f"{row['unordered_em_median']:.1f} ({row['unordered_em_min']:.1f}-{row['unordered_em_max']:.1f}) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
