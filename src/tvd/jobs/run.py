"""The run job: a run config's seed utterances of a new intent in, synthetic data and a better student out.

``tvd run CONFIG`` = :func:`load_run_data` (read base, seed and test data) then :func:`generate_data` (the
LINGUIST job, :func:`~tvd.jobs.augment.augment`, through the run directory's ``cache.sqlite``; then
:func:`write_generated` writes ``generated.jsonl`` / ``rejects.jsonl`` / ``filtered.jsonl`` / ``failures.jsonl``)
followed by :func:`train_and_compare` (train the student on base + seeds, and on base + seeds + generated;
evaluate both on the held-out test set; write ``metrics.json``).  Every file goes into the run directory.

Nothing is sent before the whole config has been checked: the student block and the filters build
(:meth:`~tvd.config.RunConfig.check`), the seed file holds one intent and a configured test file holds
utterances (E113).  :func:`generate_data` and :func:`train_and_compare` hold the run directory's lock
(:func:`~tvd.engine.lock.run_lock`) while they work, so a second process on the same directory is refused
(E372) instead of sending every request again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tvd.config import RunConfig
from tvd.data.atomic import write_json, write_jsonl
from tvd.data.utterance import Utterance, intents
from tvd.engine.accounting import format_cost
from tvd.engine.cache import CompletionCache, existing_cache
from tvd.engine.generate import GenerationEstimate, GenerationStats, summary_lines
from tvd.engine.lock import run_lock
from tvd.errors import E_MIXED_SEEDS, E_NO_SEEDS, E_NO_UTTERANCES, E_SEED_INTENT, TvdError
from tvd.evaluate.metrics import Metrics, evaluate
from tvd.formats import read_dataset
from tvd.jobs import augment as linguist_job
from tvd.jobs.augment import Augmented
from tvd.jobs.teacher import build_teacher, engine_settings
from tvd.linguist.request import LinguistRequest
from tvd.students import make_student
from tvd.teachers.base import Teacher


@dataclass
class RunData:
    base: list[Utterance]
    seeds: list[Utterance]
    test: list[Utterance]
    intent: str


@dataclass
class GeneratedData:
    kept: list[Utterance]
    stats: GenerationStats
    filter_counts: dict[str, int]


def load_run_data(config: RunConfig, log: Any = print) -> RunData:
    """Read base, seed and test data; check the seeds are of one intent (and say if the base has it too) and
    that a configured test file holds utterances (E113; no ``data.test`` at all: no evaluation)."""
    run_dir = config.run_dir
    problems: list[dict[str, Any]] = []

    def read(path: Path | None) -> list[Utterance]:
        if path is None:
            return []
        result = read_dataset(path, config.data.format, skip_errors=config.data.skip_errors)
        problems.extend(p.as_dict() for p in result.problems)
        return result.utterances

    base, seeds, test = read(config.data.base), read(config.data.seed), read(config.data.test)
    if problems:
        write_jsonl(run_dir / "input_problems.jsonl", problems)
        log(f"skipped {len(problems)} malformed input record(s): see {run_dir / 'input_problems.jsonl'}")
    if not seeds:
        raise TvdError(E_NO_SEEDS, "the seed file holds no utterances", file=config.data.seed, fix="add seed examples")
    if config.data.test is not None and not test:
        raise TvdError(
            E_NO_UTTERANCES,
            "the test file holds no utterances" + (" (every record was malformed and skipped)" if problems else ""),
            file=config.data.test,
            fix="add held-out test utterances of every intent, or remove data.test from the config to skip evaluation",
        )
    seed_intents = intents(seeds)
    intent = config.intent or (seed_intents[0] if len(seed_intents) == 1 else None)
    if intent is None:
        raise TvdError(
            E_MIXED_SEEDS,
            f"the seed file mixes intents {seed_intents}",
            file=config.data.seed,
            fix="set `intent:` in the config to the new intent",
        )
    wrong = [u.text for u in seeds if u.intent != intent]
    if wrong:
        raise TvdError(
            E_SEED_INTENT,
            f"{len(wrong)} seed utterance(s) are not of intent {intent!r}, e.g. {wrong[0]!r}",
            file=config.data.seed,
            fix="keep only the new intent's utterances in the seed file",
        )
    in_base = sum(u.intent == intent for u in base)
    if in_base:
        log(f"note: the base data already has {in_base} utterance(s) of {intent!r}; they are trained on as well")
    return RunData(base=base, seeds=seeds, test=test, intent=intent)


def plan(config: RunConfig, data: RunData, requests: int | None = None) -> list[LinguistRequest]:
    """The run's LINGUIST requests (``requests`` overrides the configured count, e.g. to preview a few)."""
    return linguist_job.plan(data.intent, data.seeds, data.base, config.generation, requests)


def estimate_data(config: RunConfig, data: RunData, *, teacher: Teacher | None = None) -> GenerationEstimate:
    """What :func:`generate_data` would send (for ``tvd generate --dry-run``); sends and writes nothing."""
    with (
        teacher or build_teacher(config.teacher) as teacher_,
        existing_cache(config.run_dir / "cache.sqlite") as cache,
    ):
        return linguist_job.estimate_augment(
            data.intent,
            data.seeds,
            data.base,
            config.generation,
            teacher_,
            cache,
            engine=engine_settings(config.teacher),
        )


def write_generated(run_dir: Path, augmented: Augmented) -> None:
    """The run directory's data files: generated (kept), rejects, filtered (with reasons) and failures."""
    result, filtered = augmented.generation, augmented.filtered
    write_jsonl(run_dir / "generated.jsonl", (u.to_dict() for u in filtered.kept))
    write_jsonl(run_dir / "rejects.jsonl", result.rejects)
    write_jsonl(run_dir / "filtered.jsonl", filtered.removed_records())
    write_jsonl(run_dir / "failures.jsonl", result.failures)


def generate_data(
    config: RunConfig,
    data: RunData,
    *,
    teacher: Teacher | None = None,
    progress: bool = True,
    log: Any = print,
    budget_usd: float | None = None,
) -> GeneratedData:
    """Plan, generate, validate and filter (:func:`~tvd.jobs.augment.augment`); write generated / rejects /
    filtered / failures JSONL to the run directory.

    ``teacher`` overrides the config's teacher block (tests pass a scripted one).  ``budget_usd``: stop
    sending (resumably: a re-run continues) before the estimated spend of this call would exceed it.
    A :class:`~tvd.errors.TvdError` from the teacher (wrong URL, bad key...) stops the run before any
    output file is written; what was answered until then stays in the cache.  The config is checked
    (:meth:`~tvd.config.RunConfig.check`) and the run directory locked (E372) before the teacher is built.
    """
    run_dir = config.run_dir
    settings = engine_settings(config.teacher)
    config.check()
    with (
        run_lock(run_dir),
        teacher or build_teacher(config.teacher) as teacher_,
        CompletionCache(run_dir / "cache.sqlite") as cache,
    ):
        augmented = linguist_job.augment(
            data.intent,
            data.seeds,
            data.base,
            config.generation,
            teacher_,
            cache,
            filters=config.filters,
            engine=settings,
            budget_usd=budget_usd,
            progress=progress,
        )
        write_generated(run_dir, augmented)
    stats, filtered = augmented.stats, augmented.filtered
    for line in summary_lines(stats, settings.price):
        log(line)
    if stats.failed:
        log(
            f"{sum(stats.failed.values())} request(s) failed after their retries: see {run_dir / 'failures.jsonl'}; "
            "run again to retry them"
        )
    if stats.stopped_by_budget:
        log(
            f"stopped at the budget of {format_cost(budget_usd or 0.0)}: {stats.unsent} request(s) not sent; "
            "run again (with a higher --budget) to continue where this run stopped"
        )
    log(f"filters: kept {len(filtered.kept)} of {stats.accepted}, removed {dict(filtered.counts) or 'none'}")
    return GeneratedData(kept=filtered.kept, stats=stats, filter_counts=dict(filtered.counts))


def train_and_compare(
    config: RunConfig, data: RunData, generated: GeneratedData, *, log: Any = print
) -> dict[str, Metrics]:
    """Train baseline (base + seeds) and augmented (+ generated) students; evaluate both on the test set (when
    the config names one).  Holds the run directory's lock (E372 if another process works there)."""
    with run_lock(config.run_dir):
        return _train_and_compare(config, data, generated, log)


def _train_and_compare(config: RunConfig, data: RunData, generated: GeneratedData, log: Any) -> dict[str, Metrics]:
    run_dir = config.run_dir
    runs = {"baseline": [*data.base, *data.seeds], "augmented": [*data.base, *data.seeds, *generated.kept]}
    metrics: dict[str, Metrics] = {}
    timings: dict[str, float] = {}
    for name, train in runs.items():
        started = time.perf_counter()
        student = make_student(config.student.kind, **config.student.params).fit(train)
        timings[name] = round(time.perf_counter() - started, 2)
        student.save(run_dir / "students" / name)
        log(f"trained {name} student on {len(train)} utterances in {timings[name]:.1f} s")
        if data.test:
            metrics[name] = evaluate(data.test, student.predict(data.test))
    summary = {
        "intent": data.intent,
        "train_sizes": {name: len(train) for name, train in runs.items()},
        "train_seconds": timings,
        "generation": generated.stats.to_dict(),
        "filters": generated.filter_counts,
        "n_generated": len(generated.kept),
        "test_size": len(data.test),
        "metrics": {name: m.to_dict() for name, m in metrics.items()},
    }
    write_json(run_dir / "metrics.json", summary)
    return metrics
