"""The CLASP job: real parses in, validated (utterance, parse) pairs out, by one registered strategy.

:func:`clasp_job` reads what a :class:`~tvd.config.ClaspConfig` names (the PIZZA folder's catalogues, the pool
of real parses, TS / TB's glossary and pairs), lets the strategy plan its requests (TS runs its value
translations first, through the same engine and cache), sends them through the engine with the
:class:`~tvd.clasp.task.ClaspTask` and returns the accepted pairs as PIZZA JSON lines.  :func:`write_clasp`
writes the run directory; :func:`estimate_clasp` is the dry run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvd.clasp.grammar import NEGATION_CUES_EN
from tvd.clasp.resolve import Catalogs
from tvd.clasp.strategies import ClaspInputs, ClaspRequest, Plan, Strategy, get_strategy
from tvd.clasp.task import ClaspTask
from tvd.config import ClaspConfig
from tvd.data.atomic import atomic_write_text
from tvd.data.parse_tree import Tree
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import EngineSettings
from tvd.engine.generate import GenerationEstimate, GenerationResult, estimate_generation, generate
from tvd.errors import E_BAD_CONFIG_TREE, E_EMPTY_POOL, E_NEEDS_PIZZA_DIR, E_UNKNOWN_STRATEGY, TvdError
from tvd.filters.language import in_language, model_code, supported_languages
from tvd.formats.pizza import read_pizza
from tvd.report.html import try_write_run_report
from tvd.teachers.base import GenerationParams, Teacher

DEFAULT_POOL = "PIZZA_dev.16_shots.json"
EXAMPLE = "examples/clasp/de.yaml"


@dataclass
class ClaspRun:
    """A CLASP job's outcome: the engine's result, the PIZZA JSON lines of the accepted pairs (``rows``) and the
    summary written to ``summary.json`` (strategy, what preliminary steps found, stats)."""

    strategy: str
    result: GenerationResult[dict[str, Any]]
    rows: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)


def params_of(config: ClaspConfig) -> GenerationParams:
    """The decoding parameters of a CLASP job (seed ``config.seed * 100_000``)."""
    return GenerationParams(max_tokens=192, temperature=0.7, seed=config.seed * 100_000)


def _trees(items: list[str], key: str) -> list[Tree]:
    try:
        return [Tree.from_top(str(item)) for item in items]
    except TvdError as exc:
        raise TvdError(E_BAD_CONFIG_TREE, f"`{key}`: {exc.message}", fix=exc.fix or f"see {EXAMPLE}") from exc


def _catalogs(config: ClaspConfig, needed: bool) -> Catalogs | None:
    if config.data is None:
        if needed:
            raise TvdError(
                E_NEEDS_PIZZA_DIR,
                f"strategy {config.strategy} needs the PIZZA folder (its catalogs/ give slot values)",
                fix="pass --data DIR (the folder holding catalogs/ and PIZZA_dev.16_shots.json) or set data:",
            )
        return None
    return Catalogs.load(config.data / "catalogs")


def _pool(config: ClaspConfig) -> list[Tree]:
    pool: Path | list[str] | None = config.pool
    if pool is None and config.data is not None:
        pool = config.data / DEFAULT_POOL
    if pool is None:
        raise TvdError(
            E_EMPTY_POOL, "no real parses to start from", fix=f"give pool: (TOP trees) or --pool FILE; see {EXAMPLE}"
        )
    if isinstance(pool, Path):
        return [e.top for e in read_pizza(pool) if e.top is not None]
    if not pool:
        raise TvdError(E_EMPTY_POOL, "`pool` must be a non-empty list of TOP trees", fix=f"see {EXAMPLE}")
    return _trees(pool, "pool")


def _inputs(config: ClaspConfig, strategy: Strategy, catalogs: Catalogs | None) -> ClaspInputs:
    values = {label: catalogs.values(label) for label in catalogs.entries} if catalogs else {}
    pairs: list[tuple[Tree, Tree]] = []
    if strategy.cross_lingual:
        language = config.language
        english = _trees([p.get("en", "") for p in config.pairs], "pairs.en")
        target = _trees([p.get("de", p.get(language, "")) for p in config.pairs], f"pairs.{language}")
        pairs = list(zip(english, target, strict=True))
    return ClaspInputs(
        pool=_pool(config),
        catalog=values,
        count=config.count,
        seed=config.seed,
        negation_cues=NEGATION_CUES_EN if config.negation_cues else (),
        language=config.language if strategy.cross_lingual else "en",
        glossary=[(str(a), str(b)) for a, b in config.glossary],
        pairs=pairs,
    )


def _prepare(config: ClaspConfig) -> tuple[Strategy, Catalogs | None, ClaspInputs, ClaspTask]:
    if config.strategy is None:
        raise TvdError(
            E_UNKNOWN_STRATEGY, "no CLASP strategy given", fix="pass --strategy rs|ts|gb|tb or set strategy:"
        )
    strategy = get_strategy(config.strategy)
    catalogs = _catalogs(config, needed=not strategy.cross_lingual)
    inputs = _inputs(config, strategy, catalogs)
    task = ClaspTask(lexicon=inputs.catalog, language_check=_language_check(inputs.language))
    return strategy, catalogs, inputs, task


def _language_check(language: str) -> Callable[[str, str], bool] | None:
    """TS / TB's ``wrong_language`` check: the ``language`` filter's test (py3langid, the MASSIVE languages as
    candidates), or None for English and for a language its model does not know (nothing to judge it with)."""
    if language == "en" or model_code(language) not in supported_languages():
        return None
    return in_language


def _rows(result: GenerationResult[dict[str, Any]], strategy: str, catalogs: Catalogs | None) -> list[dict[str, Any]]:
    rows = []
    for record in result.accepted:
        row = {"train.SRC": record["text"], "train.TOP": record["top"]}
        if record["language"] == "en" and catalogs is not None:
            row["train.EXR"] = str(catalogs.resolve(Tree.from_top(record["top"])))
        rows.append({**row, "strategy": strategy, "request_id": record["request_id"]})
    return rows


def clasp_job(
    config: ClaspConfig,
    teacher: Teacher,
    cache: CompletionCache,
    *,
    engine: EngineSettings | None = None,
    budget_usd: float | None = None,
    progress: bool = False,
) -> ClaspRun:
    """Generate and validate the pairs of ``config``'s strategy (through ``cache``: a re-run sends only what is
    missing).  ``engine``: concurrency, retries, price; ``budget_usd``: stop sending (resumably) before the
    estimated spend of this call would exceed it.  The cache is locked while it is open (a second process on it
    is refused, E372); ``tvd clasp`` also locks the run directory while it writes the outputs."""
    return _clasp_job(config, teacher, cache, engine=engine, budget_usd=budget_usd, progress=progress)


def _clasp_job(
    config: ClaspConfig,
    teacher: Teacher,
    cache: CompletionCache,
    *,
    engine: EngineSettings | None,
    budget_usd: float | None,
    progress: bool,
) -> ClaspRun:
    strategy, catalogs, inputs, task = _prepare(config)
    run: dict[str, Any] = {
        "params": params_of(config),
        "constrained": config.constrained,
        "progress": progress,
        "settings": engine,
        "budget_usd": budget_usd,
    }

    def run_step(requests: list[ClaspRequest]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        step = generate(task, requests, teacher, cache, **run)
        return step.accepted, step.stats.to_dict()

    plan: Plan = strategy.plan(inputs, run_step)
    result = generate(task, plan.requests, teacher, cache, **run)
    summary = {
        "strategy": strategy.name,
        "language_check": task.language_check is not None,
        **plan.steps,
        "stats": result.stats.to_dict(),
    }
    return ClaspRun(strategy.name, result, _rows(result, strategy.name, catalogs), summary)


def estimate_clasp(
    config: ClaspConfig, teacher: Teacher, cache: CompletionCache | None, *, engine: EngineSettings | None = None
) -> GenerationEstimate:
    """What :func:`clasp_job` would send; sends nothing.  TS's second step is planned from the value translations
    in the cache (a value not translated yet stands for itself, so its prompt's size is approximate)."""
    strategy, _, inputs, task = _prepare(config)
    params = params_of(config)
    steps: list[list[ClaspRequest]] = []

    def run_step(requests: list[ClaspRequest]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        steps.append(requests)
        if cache is None:
            return [], {}
        found = generate(
            task, requests, teacher, cache, params=params, constrained=config.constrained, progress=False, send=False
        )
        return found.accepted, {}

    plan = strategy.plan(inputs, run_step)
    price = (engine or EngineSettings()).price
    estimates = [
        estimate_generation(task, requests, teacher, cache, params=params, constrained=config.constrained, price=price)
        for requests in [*steps, plan.requests]
    ]
    return GenerationEstimate(
        planned=sum(e.planned for e in estimates),
        cached=sum(e.cached for e in estimates),
        to_send=sum(e.to_send for e in estimates),
        prompt_tokens=sum(e.prompt_tokens for e in estimates),
        max_completion_tokens=sum(e.max_completion_tokens for e in estimates),
        cost_usd=sum(e.cost_usd for e in estimates),
    )


def write_clasp(out: Path, run: ClaspRun, log: Any = print) -> None:
    """The run directory: generated.jsonl (PIZZA JSON lines), rejects.jsonl, failures.jsonl, summary.json, and
    report.html (:mod:`tvd.report.html`: trees as indented brackets; a failure there is logged, not raised)."""
    result = run.result
    atomic_write_text(out / "generated.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in run.rows))
    atomic_write_text(out / "rejects.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.rejects))
    atomic_write_text(out / "failures.jsonl", "".join(json.dumps(f) + "\n" for f in result.failures))
    atomic_write_text(out / "summary.json", json.dumps(run.summary, indent=2, ensure_ascii=False) + "\n")
    try_write_run_report(out, log=log)
