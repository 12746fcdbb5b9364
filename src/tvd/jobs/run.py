"""The run job: a run config's seed utterances of a new intent in, synthetic data and a better student out.

``tvd run CONFIG`` = :func:`load_run_data` (read base, seed and test data) then :func:`generate_data` (the
LINGUIST job, :func:`~tvd.jobs.augment.augment`, through the run directory's ``cache.sqlite``; then ``revalue``
re-filled variants of each kept utterance (:func:`~tvd.data.resample.revalue`, values from the seeds and the
base); :func:`write_generated` writes ``generated.jsonl`` (the teacher's kept utterances) / ``revalued.jsonl`` /
``rejects.jsonl`` / ``filtered.jsonl`` / ``failures.jsonl``; :func:`write_run_record` ``run.json`` /
``prompts.jsonl`` / ``seeds.jsonl``) followed by :func:`train_and_compare` (train the student on base + seeds, and
on base + seeds x ``seed_weight`` + kept + re-valued; evaluate both on the held-out test set, their predictions in
``predictions/<student>.jsonl``; estimate the gain from the seeds alone by :func:`cross_validate`; write
``metrics.json``).  Both steps end by writing ``report.html`` (:mod:`tvd.report.html`; a failure there is logged,
never raised: the report is a view of the files already written).  Every file goes into the run directory.

A filter that needs a reference student (``intent``: :func:`tvd.filters.needs_reference`) gets the baseline
student (base + seeds), trained before generation's filtering by :func:`train_baseline`; it travels in
:attr:`GeneratedData.reference` so :func:`train_and_compare` reuses it instead of training it twice.

Nothing is sent before the whole config has been checked: the student block and the filters build
(:meth:`~tvd.config.RunConfig.check`), the seed file holds one intent and a configured test file holds
utterances (E113).  :func:`generate_data` and :func:`train_and_compare` hold the run directory's lock
(:func:`~tvd.engine.lock.run_lock`) while they work, so a second process on the same directory is refused
(E372) instead of sending every request again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvd.config import RunConfig
from tvd.data.atomic import write_json, write_jsonl
from tvd.data.resample import build_catalogue, revalue
from tvd.data.utterance import Utterance, intents
from tvd.engine.accounting import format_cost
from tvd.engine.cache import CompletionCache, existing_cache
from tvd.engine.generate import GenerationEstimate, GenerationStats, summary_lines
from tvd.engine.lock import run_lock
from tvd.errors import E_MIXED_SEEDS, E_NO_SEEDS, E_NO_UTTERANCES, E_SEED_INTENT, TvdError
from tvd.evaluate.metrics import Metrics, evaluate
from tvd.evaluate.seed_validation import SeedValidation, estimate_gain
from tvd.filters import needs_reference
from tvd.formats import read_dataset
from tvd.jobs import augment as linguist_job
from tvd.jobs.augment import Augmented
from tvd.jobs.teacher import build_teacher, engine_settings
from tvd.linguist.request import LinguistRequest
from tvd.report.html import try_write_run_report
from tvd.students import Student, make_student
from tvd.teachers.base import Teacher


@dataclass
class RunData:
    base: list[Utterance]
    seeds: list[Utterance]
    test: list[Utterance]
    intent: str


@dataclass
class TrainedStudent:
    """A fitted student with what it was trained on: ``train_size`` utterances in ``seconds``."""

    student: Student
    train_size: int
    seconds: float


@dataclass
class GeneratedData:
    """What :func:`generate_data` made: the teacher's ``kept`` utterances (after the filters), their ``revalued``
    variants, the engine's stats and the filters' removal counts.  ``reference``: the baseline student the filters
    were given (None when no filter needs one), for :func:`train_and_compare` to reuse."""

    kept: list[Utterance]
    stats: GenerationStats
    filter_counts: dict[str, int]
    revalued: list[Utterance] = field(default_factory=list)
    reference: TrainedStudent | None = None


@dataclass
class Comparison:
    """What :func:`train_and_compare` found: test-set ``metrics`` per student (empty without a test set), the
    seed cross-validation estimate (None when off or impossible) and the ``summary`` written to metrics.json."""

    metrics: dict[str, Metrics]
    seed_validation: SeedValidation | None
    summary: dict[str, Any]


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
            engine=engine_settings(config.teacher, config.engine),
            filters=config.filters,
            filter_options=config.filter_options,
        )


def write_generated(run_dir: Path, augmented: Augmented, revalued: Sequence[Utterance] = ()) -> None:
    """The run directory's data files: generated (kept), revalued (their re-filled variants; empty when the config
    asks for none), rejects, filtered (with reasons) and failures.  With translate-then-generate the seed
    translations' rejects, failures and language-filter removals come first in the same files (their records
    name ``translating``); the kept translations are in generated.jsonl (``meta.source`` ``translation``)."""
    result, filtered = augmented.generation, augmented.filtered
    translation, translation_filtered = augmented.translation, augmented.translation_filtered
    removed = [*(translation_filtered.removed_records() if translation_filtered else []), *filtered.removed_records()]
    write_jsonl(run_dir / "generated.jsonl", (u.to_dict() for u in filtered.kept))
    write_jsonl(run_dir / "revalued.jsonl", (u.to_dict() for u in revalued))
    write_jsonl(run_dir / "rejects.jsonl", [*(translation.rejects if translation else []), *result.rejects])
    write_jsonl(run_dir / "filtered.jsonl", removed)
    write_jsonl(run_dir / "failures.jsonl", [*(translation.failures if translation else []), *result.failures])


def write_run_record(
    config: RunConfig, data: RunData, augmented: Augmented, teacher: Teacher, revalued: int = 0
) -> None:
    """What the run directory's data files do not say, for the report (:mod:`tvd.report`) and dataset cards:
    ``run.json`` (the teacher's backend and fingerprint, the generation block, filters in chain order with their
    removal counts, data sizes, the engine's stats), ``prompts.jsonl`` (each request's prompt and include block,
    by ``request_id``) and ``seeds.jsonl`` (the seed utterances, for the novelty of generated values).  No teacher
    option is written: a URL or key stays out."""
    from tvd import __version__
    from tvd.linguist.prompt import build_prompt

    run_dir = config.run_dir
    record = {
        "kind": "linguist",
        "tvd_version": __version__,
        "name": config.name,
        "intent": data.intent,
        "teacher": {"backend": teacher.backend, "fingerprint": teacher.fingerprint()},
        "generation": config.generation.model_dump(mode="json"),
        "filters": list(config.filters),
        "filter_options": config.filter_options,
        "filter_counts": dict(augmented.filtered.counts),
        "revalue": config.revalue,
        "n_revalued": revalued,
        "seed_weight": config.seed_weight,
        "student": config.student.model_dump(mode="json"),
        "data": {
            "format": config.data.format,
            "base": len(data.base),
            "seeds": len(data.seeds),
            "test": len(data.test),
            "files": {
                name: path.name
                for name, path in (("base", config.data.base), ("seed", config.data.seed), ("test", config.data.test))
                if path is not None
            },
        },
        "stats": augmented.stats.to_dict(),
    }
    write_json(run_dir / "run.json", record)
    write_jsonl(
        run_dir / "prompts.jsonl",
        (
            {"request_id": r.request_id, "include": [[s.label, s.value] for s in r.include], "prompt": build_prompt(r)}
            for r in augmented.requests
        ),
    )
    write_jsonl(run_dir / "seeds.jsonl", (u.to_dict() for u in data.seeds))


def baseline_training_data(data: RunData) -> list[Utterance]:
    """The baseline student's training data: base + seeds."""
    return [*data.base, *data.seeds]


def augmented_training_data(config: RunConfig, data: RunData, generated: GeneratedData) -> list[Utterance]:
    """The augmented student's training data: base + the seeds ``seed_weight`` times (weighing the real examples
    against the generated ones) + the kept generated utterances + their re-valued variants."""
    return [*data.base, *data.seeds * config.seed_weight, *generated.kept, *generated.revalued]


def train_baseline(config: RunConfig, data: RunData, *, log: Any = print) -> TrainedStudent:
    """Train the config's student on base + seeds (the run's baseline, and the reference of filters that need
    one)."""
    train = baseline_training_data(data)
    started = time.perf_counter()
    student = make_student(config.student.kind, **config.student.params).fit(train)
    seconds = round(time.perf_counter() - started, 2)
    log(f"trained baseline student on {len(train)} utterances in {seconds:.1f} s")
    return TrainedStudent(student, len(train), seconds)


def revalue_kept(
    config: RunConfig, data: RunData, kept: Sequence[Utterance], translations: Sequence[Utterance] | None = None
) -> list[Utterance]:
    """``config.revalue`` re-filled variants of each kept utterance (:func:`~tvd.data.resample.revalue`, seeded by
    ``generation.seed``; never a copy of a kept utterance, a seed or another variant, so possibly fewer).  The
    values come from the seeds and the base (:func:`~tvd.data.resample.build_catalogue`), for the labels of the
    seeds and of the kept utterances (so a label the teacher used through ``generation.extra_labels`` gets the
    base's values too); a label neither has keeps its value.  With translate-then-generate (``translations``: the
    seeds' accepted translations) the values come from the translations alone: the seeds' and the base's are in
    another language."""
    if config.revalue == 0 or not kept:
        return []
    labels = {s.label for u in (*data.seeds, *kept) for s in u.spans}
    if translations is not None:
        catalogue = build_catalogue(translations, (), labels=labels)
    else:
        catalogue = build_catalogue(data.seeds, data.base, labels=labels)
    return revalue(kept, catalogue, config.revalue, seed=config.generation.seed, avoid=data.seeds)


def generate_data(
    config: RunConfig,
    data: RunData,
    *,
    teacher: Teacher | None = None,
    progress: bool = True,
    log: Any = print,
    budget_usd: float | None = None,
    baseline: TrainedStudent | None = None,
) -> GeneratedData:
    """Plan, generate, validate and filter (:func:`~tvd.jobs.augment.augment`), re-value the kept utterances
    (:func:`revalue_kept`); write generated / revalued / rejects / filtered / failures JSONL to the run directory.

    ``teacher`` overrides the config's teacher block (tests pass a scripted one).  ``budget_usd``: stop
    sending (resumably: a re-run continues) before the estimated spend of this call would exceed it.
    A :class:`~tvd.errors.TvdError` from the teacher (wrong URL, bad key...) stops the run before any
    output file is written; what was answered until then stays in the cache.  The config is checked
    (:meth:`~tvd.config.RunConfig.check`) and the run directory locked (E372) before the teacher is built.

    When a configured filter needs a reference student (:func:`tvd.filters.needs_reference`), ``baseline`` is it,
    or (None) the baseline student is trained here first (:func:`train_baseline`, before the teacher is built);
    it is returned in :attr:`GeneratedData.reference`.  Otherwise no student is trained.
    """
    run_dir = config.run_dir
    settings = engine_settings(config.teacher, config.engine)
    config.check()
    with run_lock(run_dir):
        reference = None
        if needs_reference(config.filters):
            if baseline is None:
                log(
                    f"a filter of {config.filters} needs a reference student: training the baseline student "
                    "(base + seeds) before generation"
                )
                baseline = train_baseline(config, data, log=log)
            reference = baseline
        with (
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
                reference=reference.student if reference is not None else None,
                filter_options=config.filter_options,
            )
            translated = augmented.translation_filtered
            revalued = revalue_kept(config, data, augmented.kept, translated.kept if translated else None)
            write_generated(run_dir, augmented, revalued)
            write_run_record(config, data, augmented, teacher_, len(revalued))
        try_write_run_report(run_dir, log=log)
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
    if "judge" in config.filters:
        log(f"judge: its calls cost {format_cost(augmented.filter_cost_usd)} for this run")
    if filtered.counts.get("judge_not_asked"):
        log(
            f"the budget ran out before the judge asked about {filtered.counts['judge_not_asked']} utterance(s), "
            "left out (judge_not_asked); run again (with a higher --budget) to judge them"
        )
    if config.revalue:
        templates = sum(bool(u.spans) for u in filtered.kept)
        log(
            f"re-valued: {len(revalued)} variant(s) of {templates} kept utterance(s) with slots (up to "
            f"{config.revalue} each; fewer where the catalogue has no new values); see {run_dir / 'revalued.jsonl'}"
        )
    return GeneratedData(
        kept=filtered.kept, stats=stats, filter_counts=dict(filtered.counts), revalued=revalued, reference=reference
    )


def cross_validate(
    config: RunConfig, data: RunData, generated: GeneratedData, *, log: Any = print
) -> SeedValidation | None:
    """The seed cross-validation estimate of the generated data (:func:`~tvd.evaluate.seed_validation.estimate_gain`
    with the config's ``validation`` block, student and ``seed_weight``; the generated data is kept + re-valued).

    None when ``validation.folds`` is 0 or there are fewer than 2 seeds (said in the log); more folds than seeds
    are cut to one per seed (leave one out), also said in the log.  Optimistic: the teacher saw every seed."""
    folds = config.validation.folds
    if folds == 0:
        return None
    if len(data.seeds) < 2:
        log(f"seed cross-validation skipped: it needs at least 2 seed utterances, the run has {len(data.seeds)}")
        return None
    if folds > len(data.seeds):
        log(f"seed cross-validation: {folds} folds asked for {len(data.seeds)} seeds; using {len(data.seeds)}")
        folds = len(data.seeds)
    return estimate_gain(
        data.intent,
        data.base,
        data.seeds,
        [*generated.kept, *generated.revalued],
        lambda: make_student(config.student.kind, **config.student.params),
        folds=folds,
        base_per_intent=config.validation.base_per_intent,
        seed=config.validation.seed,
        seed_weight=config.seed_weight,
        log=log,
    )


def train_and_compare(
    config: RunConfig,
    data: RunData,
    generated: GeneratedData,
    *,
    log: Any = print,
    baseline: TrainedStudent | None = None,
) -> Comparison:
    """Train baseline (base + seeds) and augmented (base + seeds x ``seed_weight`` + kept + re-valued) students;
    evaluate both on the test set (when the config names one); estimate the gain by seed cross-validation
    (:func:`cross_validate`, also without a test set); write ``metrics.json``.

    The baseline student is ``baseline``, else ``generated.reference`` (the filters' reference), else trained
    here: never twice.  Holds the run directory's lock (E372 if another process works there)."""
    with run_lock(config.run_dir):
        return _train_and_compare(config, data, generated, log, baseline)


def prediction_records(gold: Sequence[Utterance], predicted: Sequence[Utterance]) -> list[dict[str, Any]]:
    """One ``predictions/<student>.jsonl`` line per test utterance: its text, the gold intent and slots and the
    student's (for the report's confusion matrices)."""

    def labels(u: Utterance) -> dict[str, Any]:
        record = u.to_dict()
        return {"intent": record["intent"], "slots": record["slots"]}

    return [{"text": g.text, "gold": labels(g), "predicted": labels(p)} for g, p in zip(gold, predicted, strict=True)]


def _train_and_compare(
    config: RunConfig, data: RunData, generated: GeneratedData, log: Any, given: TrainedStudent | None
) -> Comparison:
    baseline = given or generated.reference
    run_dir = config.run_dir
    runs = {"baseline": baseline_training_data(data), "augmented": augmented_training_data(config, data, generated)}
    metrics: dict[str, Metrics] = {}
    timings: dict[str, float] = {}
    for name, train in runs.items():
        if name == "baseline" and baseline is not None:
            student, timings[name] = baseline.student, baseline.seconds
            why = "the filters' reference" if given is None else "given"
            log(f"baseline student: reusing the one already trained on {baseline.train_size} utterances ({why})")
        else:
            started = time.perf_counter()
            student = make_student(config.student.kind, **config.student.params).fit(train)
            timings[name] = round(time.perf_counter() - started, 2)
            log(f"trained {name} student on {len(train)} utterances in {timings[name]:.1f} s")
        student.save(run_dir / "students" / name)
        if data.test:
            predicted = student.predict(data.test)
            metrics[name] = evaluate(data.test, predicted)
            write_jsonl(run_dir / "predictions" / f"{name}.jsonl", prediction_records(data.test, predicted))
    validation = cross_validate(config, data, generated, log=log)
    summary = {
        "intent": data.intent,
        "train_sizes": {name: len(train) for name, train in runs.items()},
        "train_seconds": timings,
        "generation": generated.stats.to_dict(),
        "filters": generated.filter_counts,
        "n_generated": len(generated.kept),
        "n_revalued": len(generated.revalued),
        "revalue": config.revalue,
        "seed_weight": config.seed_weight,
        "baseline_reused": baseline is not None,
        "test_size": len(data.test),
        "metrics": {name: m.to_dict() for name, m in metrics.items()},
        "seed_validation": validation.to_dict() if validation is not None else None,
    }
    write_json(run_dir / "metrics.json", summary)
    try_write_run_report(run_dir, log=log)
    return Comparison(metrics=metrics, seed_validation=validation, summary=summary)
