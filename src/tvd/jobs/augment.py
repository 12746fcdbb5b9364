"""The LINGUIST job: a few seed utterances of one intent in, validated and filtered synthetic utterances out.

:func:`augment` plans the requests (:func:`~tvd.linguist.planner.plan_requests`, values drawn from a catalogue
of the seeds' and the base data's slot values), sends them through the engine with the
:class:`~tvd.linguist.task.LinguistTask`, and runs the named filters over the accepted utterances.  It writes
nothing: the caller decides where results go (:mod:`tvd.jobs.run` writes a run directory, the benchmarks keep
records).  The completion cache is the only state, so a re-run sends only what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tvd.config import GenerationConfig
from tvd.data.resample import build_catalogue
from tvd.data.utterance import Utterance
from tvd.engine.accounting import Budget, Price
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import EngineSettings
from tvd.engine.generate import GenerationEstimate, GenerationResult, GenerationStats, estimate_generation, generate
from tvd.evaluate.control import ControlSample
from tvd.filters import FilterChain, FilterOptions, FilterResult, Reference, apply_filters, build_filters
from tvd.filters.language import require_supported
from tvd.linguist.planner import PlanSettings, plan_requests
from tvd.linguist.request import LinguistRequest
from tvd.linguist.task import LinguistTask
from tvd.linguist.translate import TranslationRequest, TranslationTask, translation_requests
from tvd.teachers.base import GenerationParams, Teacher

#: augment's default filters (duplicates only; a run config that names none gets `tvd.filters.RUN_PIPELINE`)
RUN_FILTERS: tuple[str, ...] = ("exact", "seed")


@dataclass
class Augmented:
    """What :func:`augment` made: the requests, the engine's result (accepted, rejects, failures, stats) and the
    filters' verdict on the accepted utterances (``kept`` is the training data).  With translate-then-generate,
    ``translation`` is the seed translations' engine result and ``translation_filtered`` the language check's
    verdict on them (its ``kept`` were the prompts' examples; with ``translate.keep`` they went through the
    filters with the generated utterances, first)."""

    requests: list[LinguistRequest]
    generation: GenerationResult[Utterance]
    filtered: FilterResult
    translation: GenerationResult[Utterance] | None = None
    translation_filtered: FilterResult | None = None
    filter_cost_usd: float = 0.0
    """What the filters that ask the teacher (the judge) spent, at the engine's price."""

    @property
    def kept(self) -> list[Utterance]:
        return self.filtered.kept

    @property
    def stats(self) -> GenerationStats:
        return self.generation.stats

    def control_samples(self) -> list[ControlSample]:
        """The accepted completions (their bracketed text) with their requests, in order, for the control
        metrics of :mod:`tvd.evaluate.control`."""
        by_id = {request.request_id: request for request in self.requests}
        return [ControlSample(by_id[u.meta["request_id"]], u.meta["bracketed"]) for u in self.generation.accepted]


def plan_settings(generation: GenerationConfig, requests: int | None = None) -> PlanSettings:
    """The planner's settings of a generation block (``requests`` overrides its count)."""
    return PlanSettings(
        requests=requests if requests is not None else generation.requests,
        examples_per_prompt=generation.examples_per_prompt,
        wildcard_rate=generation.wildcard_rate,
        language=generation.language,
        seed=generation.seed,
        extra_labels=tuple(generation.extra_labels),
        fixed_values=generation.fixed_values,
    )


def generation_params(generation: GenerationConfig) -> GenerationParams:
    """The decoding parameters of a generation block."""
    return GenerationParams(
        max_tokens=generation.max_tokens,
        temperature=generation.temperature,
        top_p=generation.top_p,
        top_k=generation.top_k,
        repeat_penalty=generation.repeat_penalty,
        seed=generation.seed,
    )


def plan(
    intent: str,
    seeds: Sequence[Utterance],
    base: Sequence[Utterance],
    generation: GenerationConfig,
    requests: int | None = None,
) -> list[LinguistRequest]:
    """The LINGUIST requests for ``intent`` (fixed values drawn from the seeds' and ``base``'s slot values)."""
    return plan_requests(intent, seeds, plan_settings(generation, requests), build_catalogue(seeds, base))


def _task(seeds: Sequence[Utterance], source_language: str | None) -> LinguistTask:
    if source_language is None:
        source_language = seeds[0].language if seeds else "en"
    return LinguistTask(source_language=source_language)


def estimate_augment(
    intent: str,
    seeds: Sequence[Utterance],
    base: Sequence[Utterance],
    generation: GenerationConfig,
    teacher: Teacher,
    cache: CompletionCache | None,
    *,
    engine: EngineSettings | None = None,
    source_language: str | None = None,
    filters: Sequence[str] = RUN_FILTERS,
    filter_options: FilterOptions | None = None,
) -> GenerationEstimate:
    """What :func:`augment` would send (``cache`` None: nothing cached); sends nothing.  With translate-then-generate
    the seed translations are counted too, and the LINGUIST prompts are estimated with the seeds standing in for
    the translations that are not made yet (about as long; after a partial run an upper bound, since the prompts
    built from the real translations are the ones cached).  With the ``judge`` in ``filters``, one question per
    planned completion is counted (an upper bound: rejects and earlier filters' removals are not asked about; the
    questions are sized by a seed's, and counted as not cached)."""
    price = (engine or EngineSettings()).price
    task = _task(seeds, source_language)
    estimates = []
    if translates(generation, seeds, source_language):
        assert generation.translate is not None
        estimates.append(
            estimate_generation(
                TranslationTask(),
                _translation_requests(seeds, generation),
                teacher,
                cache,
                params=translation_params(generation),
                samples_per_request=generation.translate.samples,
                constrained=generation.constrained,
                price=price,
            )
        )
        task = LinguistTask(source_language=generation.language)
    estimates.append(
        estimate_generation(
            task,
            plan(intent, seeds, base, generation),
            teacher,
            cache,
            params=generation_params(generation),
            samples_per_request=generation.samples_per_request,
            constrained=generation.constrained,
            price=price,
        )
    )
    questions = estimates[-1].planned
    if len(estimates) > 1 and generation.translate and generation.translate.keep:
        questions += estimates[0].planned  # kept translations are filtered (and judged) too
    if "judge" in filters and questions:
        estimates.append(_judge_estimate(questions, seeds, base, teacher, price, filter_options))
    return GenerationEstimate(
        **{name: sum(getattr(e, name) for e in estimates) for name in GenerationEstimate.__dataclass_fields__}
    )


def _judge_estimate(
    questions: int,
    seeds: Sequence[Utterance],
    base: Sequence[Utterance],
    teacher: Teacher,
    price: Price,
    filter_options: FilterOptions | None,
) -> GenerationEstimate:
    """``questions`` judge calls, each as long as the judge's question about the first seed."""
    from tvd.filters.judge import JUDGE_PARAMS, JudgeFilter

    options = JudgeFilter.resolve_options((filter_options or {}).get("judge", {}))
    judge = JudgeFilter(teacher, seeds, base, **options)
    prompt_tokens = questions * (teacher.count_tokens(judge.prompt(seeds[0])) if seeds else 0)
    completion_tokens = questions * JUDGE_PARAMS.max_tokens
    return GenerationEstimate(
        planned=questions,
        cached=0,
        to_send=questions,
        prompt_tokens=prompt_tokens,
        max_completion_tokens=completion_tokens,
        cost_usd=price.cost(prompt_tokens, completion_tokens),
    )


def augment(
    intent: str,
    seeds: Sequence[Utterance],
    base: Sequence[Utterance],
    generation: GenerationConfig,
    teacher: Teacher,
    cache: CompletionCache,
    *,
    filters: Sequence[str] = RUN_FILTERS,
    engine: EngineSettings | None = None,
    budget_usd: float | None = None,
    progress: bool = False,
    source_language: str | None = None,
    reference: Reference | None = None,
    filter_options: FilterOptions | None = None,
) -> Augmented:
    """LINGUIST data for ``intent``: plan, generate (through ``cache``), validate, filter (``filters`` by name,
    in order, against the seeds).  ``engine``: concurrency, rate limits, retries, price; ``budget_usd``: stop
    sending (resumably) before the estimated spend of this call would exceed it.  ``source_language``: the
    language the fixed include values are written in (default: the seeds'); when the requested language differs,
    the teacher may translate them (see :class:`~tvd.linguist.task.LinguistTask`).  The filters see ``base`` too,
    ``reference`` (a model with ``predict``, e.g. the baseline student, for filters that need one) and their
    ``filter_options`` (filter name -> options); a filter that asks a teacher (``judge``) asks ``teacher``, through
    ``cache`` and ``engine``, so a re-run does not ask again.

    With translate-then-generate (``generation.translate`` and a ``generation.language`` other than the seeds'),
    the seeds are translated first (:func:`translate_seeds`), the accepted translations are the prompts' examples,
    and the ``language`` filter runs last if ``filters`` does not name it.

    The filters are built before anything is sent (an unknown or repeated name is E560, bad options E562, a
    filter that needs a missing reference E561 then, not after the teacher was paid); the cache is locked while
    it is open (E372 if another process holds it)."""
    translating = translates(generation, seeds, source_language)
    if translating and "language" not in filters:
        filters = (*filters, "language")  # another language was asked for: what is not in it goes (wrong_language)
    budget = Budget(budget_usd) if budget_usd is not None else None  # translations, generation, then the judge
    chain = FilterChain(
        build_filters(
            tuple(filters),
            seeds,
            base=base,
            reference=reference,
            options=filter_options,
            teacher=teacher,  # for a filter that asks one (the judge): the run's teacher, cache and engine
            cache=cache,
            engine=engine,
            budget=budget,
        )
    )
    if "language" in filters:
        require_supported(generation.language)  # E564 before anything is sent, not at the first utterance
    translation = translation_filtered = None
    examples, catalogue_base, task = seeds, base, _task(seeds, source_language)
    if translating:
        translation, translation_filtered = translate_seeds(
            seeds, generation, teacher, cache, engine=engine, budget_usd=budget_usd, progress=progress
        )
        if budget is not None:
            budget.spend(translation.stats.cost_usd, "translation")
        # the translations are the prompts' examples; their values (target language) are the fixed values' catalogue
        examples, catalogue_base = translation_filtered.kept, ()
        task = LinguistTask(source_language=generation.language)
    # no accepted translation: nothing to show the teacher in the language, so nothing is asked (the translations'
    # rejects and removals say why); English seeds would only bring English back
    requests = plan(intent, examples, catalogue_base, generation) if examples else []
    result = generate(
        task,
        requests,
        teacher,
        cache,
        params=generation_params(generation),
        samples_per_request=generation.samples_per_request,
        constrained=generation.constrained,
        progress=progress,
        settings=engine,
        budget_usd=budget.left() if budget is not None else None,
    )
    if budget is not None:
        budget.spend(result.stats.cost_usd, "generation")
    candidates = list(result.accepted)
    if translation_filtered is not None and generation.translate is not None and generation.translate.keep:
        candidates = [*translation_filtered.kept, *candidates]
    filtered = chain.apply(candidates)
    filter_cost = sum(getattr(f, "spent_usd", 0.0) for f in chain.filters)
    return Augmented(requests, result, filtered, translation, translation_filtered, filter_cost)


def translates(generation: GenerationConfig, seeds: Sequence[Utterance], source_language: str | None = None) -> bool:
    """Whether :func:`augment` translates the seeds first: ``generation.translate`` is set and the requested
    language differs from the seeds' (``source_language``, default the first seed's)."""
    if generation.translate is None or not seeds:
        return False
    return generation.language != (source_language or seeds[0].language)


def translate_seeds(
    seeds: Sequence[Utterance],
    generation: GenerationConfig,
    teacher: Teacher,
    cache: CompletionCache,
    *,
    engine: EngineSettings | None = None,
    budget_usd: float | None = None,
    progress: bool = False,
) -> tuple[GenerationResult[Utterance], FilterResult]:
    """The seeds translated into ``generation.language`` (:mod:`tvd.linguist.translate`, ``generation.translate``'s
    settings; through ``cache``), and the ``exact`` + ``language`` filters' verdict on the accepted translations
    (what they keep is in the target language, each once)."""
    settings = generation.translate
    if settings is None:
        raise ValueError("translate_seeds needs generation.translate")
    result = generate(
        TranslationTask(),
        _translation_requests(seeds, generation),
        teacher,
        cache,
        params=translation_params(generation),
        samples_per_request=settings.samples,
        constrained=generation.constrained,
        progress=progress,
        settings=engine,
        budget_usd=budget_usd,
    )
    return result, apply_filters(result.accepted, filters=("exact", "language"))


def _translation_requests(seeds: Sequence[Utterance], generation: GenerationConfig) -> list[TranslationRequest]:
    settings = generation.translate
    assert settings is not None
    demonstrations = [(source, target) for source, target in settings.demonstrations or ()] or None
    return translation_requests(
        seeds, generation.language, demonstrations=demonstrations, keep_values=settings.values == "keep"
    )


def translation_params(generation: GenerationConfig) -> GenerationParams:
    """The decoding parameters of the seed translations: the generation block's, at ``translate.temperature`` and
    with 16 more tokens (a translation may be longer than its source)."""
    settings = generation.translate
    assert settings is not None
    params = generation_params(generation)
    return replace(params, max_tokens=params.max_tokens + 16, temperature=settings.temperature)
