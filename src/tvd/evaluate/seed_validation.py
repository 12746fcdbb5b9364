"""Seed cross-validation: does the generated data help, judged from the seed utterances alone (no test set).

A run has about ten seed utterances of the new intent and no held-out data of it unless a test set is given.
:func:`estimate_gain` splits the seeds into ``folds`` folds (a shuffle fixed by ``seed``) and, for each fold,
trains two students of the run's kind:

* **A** (baseline): a sample of the base data (at most ``base_per_intent`` utterances of each other intent;
  the base's own utterances of the new intent, if any, and those without an intent, all) + the other folds'
  seeds;
* **B** (augmented): A + the other folds' seeds ``seed_weight - 1`` more times (so ``seed_weight`` in all, as
  the run's augmented student has them) + the generated utterances, minus those that copy a held-out seed:
  the same normalised text (:func:`~tvd.filters.base.normalise`) or the same template
  (:func:`~tvd.filters.template.template_of`), and (``drop_held_out_values``, on by default) minus those with a
  slot value that only the held-out seeds have, i.e. one that is neither a value of the same label in the base
  data nor in the other folds' seeds (label and normalised value compared): the teacher's include blocks draw
  fixed values from the seeds, so such a value came from the held-out seed itself.

Both predict the held-out seeds and a held-out sample of other-intent base utterances (``negatives_per_seed``
per seed, never in the training sample, at most a third of any intent), so that the new intent's precision can
fall when the generated data pulls other intents' utterances into it.  The scores are the new intent's slot F1
over the held-out seeds, its intent recall and its intent precision (:mod:`tvd.evaluate.metrics`).

The point estimate pools the held-out predictions of all folds (each seed and each negative is predicted once)
and scores them together; the standard error of a delta (B - A) is the standard deviation of the per-fold deltas
over ``sqrt(folds)``.

**The verdict.**  The score is the mean of the three pooled deltas (slot F1, intent recall, intent precision:
precision is in it so that data which teaches the new intent by taking other intents' utterances does not count
as a gain); its standard error is that of the per-fold mean of the three deltas.  ``recommended`` is
``"augmented"`` when the score is >= 0 (the generated data did no harm on the seeds), else ``"baseline"``.
``verdict`` is the same side when the score is more than one standard error away from 0, and ``"uncertain"``
when ``|score| <= se`` (so identical students, a score of 0 with no spread, are ``"uncertain"`` too).

**The caveat.**  The generated data was written by a teacher whose prompts held every seed, the held-out ones
included, so the augmented students have seen paraphrases of what they are tested on and the estimate is
optimistic.  Leaving out exact and template copies of the held-out seeds, and utterances carrying their own
values, limits that, but near-paraphrases stay.  (On the shipped example's 117 generated utterances, 5 folds:
without the value rule the held-out seeds' slot F1 rose by 70 points, with it by about 12; the test set
said +4.9.)  Read a positive estimate as "no harm found", and a negative one as a real warning.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tvd.data.utterance import Utterance
from tvd.errors import E_SEED_INTENT, E_SEED_VALIDATION, TvdError
from tvd.evaluate.metrics import Metrics, evaluate
from tvd.filters.base import normalise
from tvd.filters.template import template_of
from tvd.students.base import Student

#: the scores of each student, keys of :attr:`SeedValidation.baseline` and friends; the verdict's score is the
#: mean of their deltas
SCORES: tuple[str, ...] = ("slot_f1", "ic_recall", "ic_precision")
_LABELS = {"slot_f1": "slot F1", "ic_recall": "IC recall", "ic_precision": "IC precision"}

Log = Callable[[str], object]


@dataclass(frozen=True)
class FoldResult:
    """One fold: how many seeds and other-intent utterances were held out, how many generated utterances were
    left out (``copies_removed``: the text or template of a held-out seed; ``values_removed``: not a copy, but a
    slot value only the held-out seeds have), both training sizes, and both students' scores on the held-out
    data."""

    fold: int
    held_out: int
    negatives: int
    copies_removed: int
    values_removed: int
    train_sizes: dict[str, int]
    baseline: dict[str, float]
    augmented: dict[str, float]

    @property
    def delta(self) -> dict[str, float]:
        """Augmented minus baseline, per score."""
        return {key: self.augmented[key] - self.baseline[key] for key in SCORES}

    @property
    def score(self) -> float:
        """The mean of the fold's deltas (the verdict's score on this fold)."""
        return statistics.fmean(self.delta.values())


@dataclass(frozen=True)
class SeedValidation:
    """The estimate of :func:`estimate_gain`: per-fold results, pooled scores of both students (proportions in
    [0, 1]), their deltas with standard errors over folds, and the verdict (see the module docstring)."""

    intent: str
    folds: int
    n_seeds: int
    n_generated: int
    base_per_intent: int | None
    seed: int
    seed_weight: int
    drop_held_out_values: bool
    fold_results: tuple[FoldResult, ...]
    baseline: dict[str, float]
    augmented: dict[str, float]
    delta: dict[str, float]
    delta_se: dict[str, float]
    score: float
    score_se: float
    verdict: str  # "augmented", "baseline" or "uncertain"
    recommended: str  # "augmented" or "baseline"
    seconds: float

    def summary_line(self) -> str:
        """One line for a run's log: each delta in points with its standard error, and the recommendation."""
        deltas = ", ".join(
            f"{_LABELS[key]} {100 * self.delta[key]:+.1f} ± {100 * self.delta_se[key]:.1f}" for key in SCORES
        )
        line = (
            f"seed cross-validation ({self.folds} folds, no test set needed): {deltas} "
            f"-> recommended: {self.recommended}"
        )
        if self.verdict == "uncertain":
            line += " (uncertain: within one standard error of no change)"
        return line

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary (per-fold deltas included), as ``metrics.json`` stores it."""
        out = asdict(self)
        out["fold_results"] = [{**asdict(fold), "delta": fold.delta} for fold in self.fold_results]
        return out


def fold_indices(n: int, folds: int, seed: int = 0) -> list[list[int]]:
    """The seed indices of each fold: ``range(n)`` shuffled by ``seed``, then dealt round-robin (fold sizes differ
    by at most one)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [sorted(order[fold::folds]) for fold in range(folds)]


def _split_base(
    base: Sequence[Utterance], intent: str, base_per_intent: int | None, n_negatives: int, rng: random.Random
) -> tuple[list[Utterance], list[Utterance]]:
    """(training sample, held-out negatives) of the base data: negatives dealt round-robin over the other intents
    (at most a third of each), then up to ``base_per_intent`` of each other intent's remaining utterances."""
    kept = [u for u in base if u.intent is None or u.intent == intent]
    groups: dict[str, list[Utterance]] = {}
    for utterance in base:
        if utterance.intent is not None and utterance.intent != intent:
            groups.setdefault(utterance.intent, []).append(utterance)
    names = sorted(groups)
    for name in names:
        rng.shuffle(groups[name])
    taken = dict.fromkeys(names, 0)
    negatives: list[Utterance] = []
    while len(negatives) < n_negatives:
        open_ = [name for name in names if taken[name] < len(groups[name]) // 3]
        if not open_:
            break
        for name in open_[: n_negatives - len(negatives)]:
            negatives.append(groups[name][taken[name]])
            taken[name] += 1
    sample = [u for name in names for u in groups[name][taken[name] :][:base_per_intent]]
    return kept + sample, negatives


def _values(utterances: Sequence[Utterance]) -> set[tuple[str, str]]:
    """The (label, normalised value) pairs of the utterances' slots."""
    return {(label, normalise(value)) for u in utterances for label, value in u.slots}


def _scores(metrics: Metrics, intent: str) -> dict[str, float]:
    scores = metrics.per_intent[intent]
    return {"slot_f1": metrics.slot_f1_for_intent(intent), "ic_recall": scores.recall, "ic_precision": scores.precision}


def _se(values: Sequence[float]) -> float:
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def estimate_gain(
    intent: str,
    base: Sequence[Utterance],
    seeds: Sequence[Utterance],
    generated: Sequence[Utterance],
    make_student: Callable[[], Student],
    *,
    folds: int = 5,
    base_per_intent: int | None = 100,
    seed: int = 0,
    seed_weight: int = 1,
    negatives_per_seed: int = 3,
    drop_held_out_values: bool = True,
    log: Log | None = None,
) -> SeedValidation:
    """Cross-validate the generated data on the seeds (see the module docstring, and its caveat: optimistic).

    ``make_student`` builds a fresh, untrained student (two per fold are trained); ``generated``: everything the
    augmented student trains on besides base and seeds (kept and re-valued utterances); ``seed`` fixes the folds
    and the base sample; ``drop_held_out_values``: also leave out generated utterances with a value only the
    held-out seeds have; ``log`` gets one line per fold.  Deterministic for a deterministic student.

    Raises :class:`TvdError`: E513 when ``folds`` < 2 or more than there are seeds, E512 when a seed is not of
    ``intent``.
    """
    seeds = list(seeds)
    if folds < 2 or folds > len(seeds):
        raise TvdError(
            E_SEED_VALIDATION,
            f"seed cross-validation needs 2 to {len(seeds)} folds for {len(seeds)} seed utterance(s), got {folds}",
            fix="set validation.folds between 2 and the number of seeds (0 turns the estimate off)"
            if len(seeds) >= 2
            else "give at least 2 seed utterances, or set validation.folds: 0",
        )
    wrong = [u.text for u in seeds if u.intent != intent]
    if wrong:
        raise TvdError(
            E_SEED_INTENT,
            f"{len(wrong)} seed utterance(s) are not of intent {intent!r}, e.g. {wrong[0]!r}",
            fix="cross-validate only the new intent's seed utterances",
        )
    started = time.perf_counter()
    rng = random.Random(seed)
    train_base, negatives = _split_base(base, intent, base_per_intent, negatives_per_seed * len(seeds), rng)
    base_values = _values(base)
    results: list[FoldResult] = []
    pooled_gold: list[Utterance] = []
    pooled: dict[str, list[Utterance]] = {"baseline": [], "augmented": []}
    for fold, held_indices in enumerate(fold_indices(len(seeds), folds, seed)):
        held_set = set(held_indices)
        held = [seeds[i] for i in held_indices]
        train_seeds = [u for i, u in enumerate(seeds) if i not in held_set]
        texts = {normalise(u.text) for u in held}
        templates = {template_of(u) for u in held}
        not_copies = [g for g in generated if normalise(g.text) not in texts and template_of(g) not in templates]
        usable = not_copies
        if drop_held_out_values:
            held_only = _values(held) - base_values - _values(train_seeds)
            usable = [g for g in not_copies if not _values([g]) & held_only]
        gold = held + negatives[fold::folds]
        trains = {
            "baseline": [*train_base, *train_seeds],
            "augmented": [*train_base, *train_seeds * seed_weight, *usable],
        }
        scores: dict[str, dict[str, float]] = {}
        for name, train in trains.items():
            predicted = make_student().fit(train).predict(gold)
            pooled[name] += predicted
            scores[name] = _scores(evaluate(gold, predicted), intent)
        pooled_gold += gold
        result = FoldResult(
            fold=fold,
            held_out=len(held),
            negatives=len(gold) - len(held),
            copies_removed=len(generated) - len(not_copies),
            values_removed=len(not_copies) - len(usable),
            train_sizes={name: len(train) for name, train in trains.items()},
            baseline=scores["baseline"],
            augmented=scores["augmented"],
        )
        results.append(result)
        if log is not None:
            log(
                f"seed cross-validation fold {fold + 1}/{folds}: {len(held)} seed(s) and {result.negatives} other "
                f"utterance(s) held out, {result.copies_removed} generated utterance(s) left out as copies and "
                f"{result.values_removed} for their held-out values; "
                + ", ".join(f"{_LABELS[key]} {100 * value:+.1f}" for key, value in result.delta.items())
            )
    baseline = _scores(evaluate(pooled_gold, pooled["baseline"]), intent)
    augmented = _scores(evaluate(pooled_gold, pooled["augmented"]), intent)
    delta = {key: augmented[key] - baseline[key] for key in SCORES}
    delta_se = {key: _se([r.delta[key] for r in results]) for key in SCORES}
    score = statistics.fmean(delta.values())
    score_se = _se([r.score for r in results])
    recommended = "augmented" if score >= 0 else "baseline"
    return SeedValidation(
        intent=intent,
        folds=folds,
        n_seeds=len(seeds),
        n_generated=len(generated),
        base_per_intent=base_per_intent,
        seed=seed,
        seed_weight=seed_weight,
        drop_held_out_values=drop_held_out_values,
        fold_results=tuple(results),
        baseline=baseline,
        augmented=augmented,
        delta=delta,
        delta_se=delta_se,
        score=score,
        score_se=score_se,
        verdict="uncertain" if abs(score) <= score_se else recommended,
        recommended=recommended,
        seconds=round(time.perf_counter() - started, 2),
    )
