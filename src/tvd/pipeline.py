"""The main job: a few seed utterances of a new intent in, synthetic data and a better student out.

``tvd run CONFIG`` = :func:`generate_data` (read data, plan LINGUIST requests, query the teacher through the
cache, validate, filter, write ``generated.jsonl`` / ``rejects.jsonl`` / ``filtered.jsonl`` /
``failures.jsonl``) followed by :func:`train_and_compare` (train the student on base + seeds, and on base +
seeds + generated; evaluate both on the held-out test set; write ``metrics.json``).  Every file goes into
the run directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tvd.config import RunConfig, TeacherConfig
from tvd.data.atomic import write_json, write_jsonl
from tvd.data.resample import build_catalogue
from tvd.data.utterance import Utterance, intents
from tvd.engine.accounting import Price, format_cost
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import EngineSettings
from tvd.engine.generate import GenerationEstimate, GenerationStats, estimate_generation, generate, summary_lines
from tvd.errors import TvdError
from tvd.evaluate.metrics import Metrics, evaluate
from tvd.filters import apply_filters
from tvd.formats import read_dataset
from tvd.linguist.planner import PlanSettings, plan_requests
from tvd.linguist.request import LinguistRequest
from tvd.students import make_student
from tvd.teachers.base import GenerationParams, Teacher
from tvd.teachers.registry import make_teacher


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
    """Read base, seed and test data; check the seeds are of one intent (and say if the base has it too)."""
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
        raise TvdError("E510", "the seed file holds no utterances", file=config.data.seed, fix="add seed examples")
    seed_intents = intents(seeds)
    intent = config.intent or (seed_intents[0] if len(seed_intents) == 1 else None)
    if intent is None:
        raise TvdError(
            "E511",
            f"the seed file mixes intents {seed_intents}",
            file=config.data.seed,
            fix="set `intent:` in the config to the new intent",
        )
    wrong = [u.text for u in seeds if u.intent != intent]
    if wrong:
        raise TvdError(
            "E512",
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
    gen = config.generation
    settings = PlanSettings(
        requests=requests if requests is not None else gen.requests,
        examples_per_prompt=gen.examples_per_prompt,
        wildcard_rate=gen.wildcard_rate,
        language=gen.language,
        seed=gen.seed,
        extra_labels=tuple(gen.extra_labels),
        fixed_values=gen.fixed_values,
    )
    return plan_requests(data.intent, data.seeds, settings, build_catalogue(data.seeds, data.base))


def engine_settings(teacher: TeacherConfig) -> EngineSettings:
    """The generation engine's settings from a config's teacher block."""
    price = teacher.price
    return EngineSettings(
        concurrency=teacher.concurrency,
        max_concurrency=max(teacher.max_concurrency, teacher.concurrency),
        adaptive_concurrency=teacher.adaptive_concurrency,
        requests_per_minute=teacher.requests_per_minute,
        tokens_per_minute=teacher.tokens_per_minute,
        max_retries=teacher.max_retries,
        backoff_s=teacher.backoff_s,
        max_backoff_s=teacher.max_backoff_s,
        price=Price(price.input_per_million, price.output_per_million) if price else Price(),
    )


def generation_params(config: RunConfig) -> GenerationParams:
    """The decoding parameters of a run config."""
    gen = config.generation
    return GenerationParams(
        max_tokens=gen.max_tokens,
        temperature=gen.temperature,
        top_p=gen.top_p,
        top_k=gen.top_k,
        repeat_penalty=gen.repeat_penalty,
        seed=gen.seed,
    )


def _make_teacher(config: RunConfig) -> Teacher:
    return make_teacher(config.teacher.backend, **config.teacher.backend_options())


def estimate_data(config: RunConfig, data: RunData, *, teacher: Teacher | None = None) -> GenerationEstimate:
    """What :func:`generate_data` would send (for ``tvd generate --dry-run``); sends and writes nothing."""
    requests = plan(config, data)
    cache_path = config.run_dir / "cache.sqlite"
    with teacher or _make_teacher(config) as teacher_:
        cache = CompletionCache(cache_path) if cache_path.is_file() else None
        try:
            return estimate_generation(
                requests,
                teacher_,
                cache,
                params=generation_params(config),
                samples_per_request=config.generation.samples_per_request,
                constrained=config.generation.constrained,
                source_language=data.seeds[0].language,
                price=engine_settings(config.teacher).price,
            )
        finally:
            if cache is not None:
                cache.close()


def generate_data(
    config: RunConfig,
    data: RunData,
    *,
    teacher: Teacher | None = None,
    progress: bool = True,
    log: Any = print,
    budget_usd: float | None = None,
) -> GeneratedData:
    """Plan, generate, validate and filter; write generated / rejects / filtered / failures JSONL to the run
    directory.

    ``teacher`` overrides the config's teacher block (tests pass a scripted one).  ``budget_usd``: stop
    sending (resumably: a re-run continues) before the estimated spend of this call would exceed it.
    A :class:`~tvd.errors.TvdError` from the teacher (wrong URL, bad key...) stops the run before any
    output file is written; what was answered until then stays in the cache.
    """
    run_dir = config.run_dir
    gen = config.generation
    requests = plan(config, data)
    settings = engine_settings(config.teacher)
    source_language = data.seeds[0].language
    if teacher is None:
        teacher = _make_teacher(config)
    with teacher, CompletionCache(run_dir / "cache.sqlite") as cache:
        result = generate(
            requests,
            teacher,
            cache,
            params=generation_params(config),
            samples_per_request=gen.samples_per_request,
            constrained=gen.constrained,
            source_language=source_language,
            progress=progress,
            settings=settings,
            budget_usd=budget_usd,
        )
    filtered = apply_filters(result.accepted, data.seeds, filters=tuple(config.filters))
    write_jsonl(run_dir / "generated.jsonl", (u.to_dict() for u in filtered.kept))
    write_jsonl(run_dir / "rejects.jsonl", result.rejects)
    write_jsonl(run_dir / "filtered.jsonl", ({**u.to_dict(), "reason": reason} for u, reason in filtered.removed))
    write_jsonl(run_dir / "failures.jsonl", result.failures)
    stats = result.stats
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
    return GeneratedData(kept=filtered.kept, stats=result.stats, filter_counts=dict(filtered.counts))


def train_and_compare(
    config: RunConfig, data: RunData, generated: GeneratedData, *, log: Any = print
) -> dict[str, Metrics]:
    """Train baseline (base + seeds) and augmented (+ generated) students; evaluate both on the test set."""
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
