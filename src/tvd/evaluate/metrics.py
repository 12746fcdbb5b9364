"""Intent and slot metrics for gold and predicted utterances, with standard errors.

:func:`evaluate` compares gold and predicted :class:`~tvd.data.utterance.Utterance` lists aligned by
position (their texts must match) and returns :class:`Metrics`:

* intent accuracy, and per-intent precision / recall / F1 / support;
* slot precision / recall / F1 as seqeval computes them in its default mode, which reads chunks exactly as
  conlleval.pl does (an ``I-X`` after ``O`` or after another type starts a new ``X`` chunk; seqeval's
  ``mode="strict"`` would drop such chunks and is not what papers report).  Scoring is on the *gold*
  tokenisation: ``gold.to_bio()`` gives the gold tags, and each predicted span is mapped onto the gold
  tokens it overlaps (first token ``B-``, the rest ``I-``; a token touched by two predicted spans goes to
  the first), so a student that tokenises differently is still scored on the gold tokens;
* sentence accuracy: intent right and the predicted chunk set equal to the gold one;
* slot scores restricted to the utterances of each gold intent (:meth:`Metrics.slot_f1_for_intent`) and
  per slot label.

Standard errors: a proportion ``p`` over ``n`` items (intent and sentence accuracy over utterances,
per-intent recall over the intent's support and precision over its predictions) gets ``sqrt(p(1-p)/n)``.
Slot precision, recall and F1 are ratios of entity counts that cluster within utterances, so their
standard errors come from an utterance-level bootstrap: 1,000 resamples of the utterances with a fixed
seed (0), so the same inputs always give the same numbers; the standard error is the standard deviation
of the resampled scores.  A resample without predicted (gold) entities scores precision (recall) 0, as
seqeval does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from seqeval.metrics.sequence_labeling import get_entities

from tvd.data.utterance import Span, SpanError, Utterance
from tvd.errors import E_BAD_GOLD, E_MISALIGNED, TvdError

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0

Entity = tuple[str, int, int]  # (label, first token, last token), as seqeval's get_entities returns


def proportion_se(p: float, n: int) -> float:
    """Standard error ``sqrt(p(1-p)/n)`` of a proportion over ``n`` items (0 when ``n`` is 0)."""
    return math.sqrt(p * (1.0 - p) / n) if n > 0 else 0.0


def _prf(correct: float, gold: float, pred: float) -> tuple[float, float, float]:
    precision = correct / pred if pred else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass(frozen=True)
class SlotScores:
    """Chunk-level slot scores over a set of utterances (seqeval default mode = conlleval)."""

    precision: float
    recall: float
    f1: float
    precision_se: float
    recall_se: float
    f1_se: float
    n_gold: int  # gold chunks
    n_pred: int  # predicted chunks
    n_correct: int  # predicted chunks with the gold label and token extent
    n_utterances: int


@dataclass(frozen=True)
class IntentScores:
    """One intent's classification scores (``support``: gold count, ``predicted``: predicted count)."""

    precision: float
    recall: float
    f1: float
    support: int
    predicted: int
    precision_se: float
    recall_se: float


@dataclass(frozen=True)
class Metrics:
    """All scores of one evaluation.  Proportions are in [0, 1]; ``*_se`` are their standard errors."""

    n: int
    intent_accuracy: float
    intent_accuracy_se: float
    slots: SlotScores
    sentence_accuracy: float
    sentence_accuracy_se: float
    per_intent: dict[str, IntentScores] = field(default_factory=dict)
    per_intent_slots: dict[str, SlotScores] = field(default_factory=dict)  # keyed by *gold* intent
    per_slot_label: dict[str, SlotScores] = field(default_factory=dict)

    @property
    def slot_f1(self) -> float:
        return self.slots.f1

    @property
    def slot_precision(self) -> float:
        return self.slots.precision

    @property
    def slot_recall(self) -> float:
        return self.slots.recall

    def intent_recall(self, intent: str) -> float:
        """Recall of ``intent`` (0 when it has no gold examples)."""
        scores = self.per_intent.get(intent)
        return scores.recall if scores is not None else 0.0

    def slot_scores_for_intent(self, intent: str) -> SlotScores:
        """Slot scores over the utterances whose gold intent is ``intent``; E411 if there are none."""
        if intent not in self.per_intent_slots:
            raise TvdError(
                E_BAD_GOLD,
                f"no gold utterance has intent {intent!r}",
                fix=f"use one of: {', '.join(sorted(self.per_intent_slots))}",
            )
        return self.per_intent_slots[intent]

    def slot_f1_for_intent(self, intent: str) -> float:
        """Slot F1 over the utterances whose gold intent is ``intent`` (the few-shot benchmark's number)."""
        return self.slot_scores_for_intent(intent).f1

    def headline(self, *, percent: bool = False) -> dict[str, float]:
        """``intent_acc``, ``slot_f1`` and ``sentence_acc``; ``percent``: in percent, rounded to 2 decimals."""
        scores = {"intent_acc": self.intent_accuracy, "slot_f1": self.slot_f1, "sentence_acc": self.sentence_accuracy}
        return {key: round(100 * value, 2) for key, value in scores.items()} if percent else scores

    def focus(self, intent: str) -> dict[str, float]:
        """The scores of a new-intent experiment: ``intent``'s recall and precision (``ic_recall``,
        ``ic_precision``) and slot F1 over its gold utterances (``slot_f1``), then the overall ``intent_acc``,
        ``overall_slot_f1`` and ``sentence_acc``.  E411 when no gold utterance has ``intent``."""
        slot_f1 = self.slot_f1_for_intent(intent)
        scores = self.per_intent[intent]
        return {
            "ic_recall": scores.recall,
            "ic_precision": scores.precision,
            "slot_f1": slot_f1,
            "intent_acc": self.intent_accuracy,
            "overall_slot_f1": self.slot_f1,
            "sentence_acc": self.sentence_accuracy,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary of every score."""
        return asdict(self)


# -- tags ----------------------------------------------------------------------------------------------


def spans_to_tags(offsets: Sequence[tuple[int, int]], spans: Sequence[Span]) -> list[str]:
    """BIO tags of ``spans`` on the given token offsets: a span tags the tokens it overlaps.

    The first overlapped token gets ``B-``, the others ``I-``; a token already taken by an earlier span
    stays with it, and a span left without a token of its own is dropped.
    """
    tags = ["O"] * len(offsets)
    for span in sorted(spans):
        covered = [
            i for i, (start, end) in enumerate(offsets) if start < span.end and end > span.start and tags[i] == "O"
        ]
        for k, i in enumerate(covered):
            tags[i] = f"{'B' if k == 0 else 'I'}-{span.label}"
    return tags


def _check_aligned(gold: Sequence[Utterance], pred: Sequence[Utterance]) -> None:
    if len(gold) != len(pred):
        raise TvdError(
            E_MISALIGNED,
            f"{len(gold)} gold utterances but {len(pred)} predictions",
            fix="predict every gold utterance, in order (student.predict(gold) does)",
        )
    for index, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if g.text != p.text:
            raise TvdError(
                E_MISALIGNED,
                f"utterance {index}: predicted text {p.text!r} differs from gold text {g.text!r}",
                fix="keep gold and predictions in the same order, with the same texts",
            )


def slot_tags(gold: Sequence[Utterance], pred: Sequence[Utterance]) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted BIO tag sequences on the gold tokenisation (see the module docstring)."""
    _check_aligned(gold, pred)
    gold_tags, pred_tags = [], []
    for index, (g, p) in enumerate(zip(gold, pred, strict=True)):
        try:
            _, tags = g.to_bio()
        except SpanError as exc:
            raise TvdError(
                E_BAD_GOLD,
                f"gold utterance {index} cannot be BIO-tagged: {exc}",
                fix="give gold slots on token boundaries, or give the utterance its own `tokens`",
            ) from exc
        gold_tags.append(tags)
        pred_tags.append(spans_to_tags(g.token_offsets(), p.spans))
    return gold_tags, pred_tags


def entities(tags: Sequence[str]) -> set[Entity]:
    """Chunks of one tag sequence, read by seqeval's default (conlleval) rules."""
    return set(get_entities(list(tags)))


# -- slot scores -------------------------------------------------------------------------------------


def _bootstrap_se(counts: np.ndarray, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """Bootstrap standard errors of (precision, recall, F1) for each group of columns.

    ``counts`` is ``n_utterances x (3 * groups)``: per utterance, each group's correct, gold and predicted
    chunk counts.  Returns a ``groups x 3`` array.
    """
    n, width = counts.shape
    groups = width // 3
    if n < 2:
        return np.zeros((groups, 3))
    rng = np.random.default_rng(seed)
    totals = []
    chunk = max(1, min(BOOTSTRAP_RESAMPLES, 2_000_000 // n))
    done = 0
    while done < BOOTSTRAP_RESAMPLES:
        size = min(chunk, BOOTSTRAP_RESAMPLES - done)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=size)
        totals.append(weights @ counts)
        done += size
    sums = np.vstack(totals).astype(float).reshape(BOOTSTRAP_RESAMPLES, groups, 3)
    correct, gold, pred = sums[..., 0], sums[..., 1], sums[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred > 0, correct / pred, 0.0)
        recall = np.where(gold > 0, correct / gold, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return np.stack([precision.std(axis=0, ddof=1), recall.std(axis=0, ddof=1), f1.std(axis=0, ddof=1)], axis=1)


def _scores_from_counts(counts: np.ndarray, seed: int = BOOTSTRAP_SEED) -> list[SlotScores]:
    n = counts.shape[0]
    totals = counts.sum(axis=0).reshape(-1, 3)
    errors = _bootstrap_se(counts, seed)
    scores = []
    for (correct, gold, pred), (p_se, r_se, f_se) in zip(totals, errors, strict=True):
        precision, recall, f1 = _prf(int(correct), int(gold), int(pred))
        scores.append(
            SlotScores(
                precision, recall, f1, float(p_se), float(r_se), float(f_se), int(gold), int(pred), int(correct), n
            )
        )
    return scores


def slot_scores(gold_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> SlotScores:
    """Chunk precision / recall / F1 of tag sequences, equal to seqeval's default mode (and conlleval)."""
    if len(gold_tags) != len(pred_tags):
        raise TvdError(
            E_MISALIGNED,
            f"{len(gold_tags)} gold tag sequences but {len(pred_tags)} predicted",
            fix="pass one predicted tag sequence per gold sequence",
        )
    counts = np.zeros((len(gold_tags), 3), dtype=np.int64)
    for row, (g, p) in enumerate(zip(gold_tags, pred_tags, strict=True)):
        if len(g) != len(p):
            raise TvdError(
                E_MISALIGNED, f"sequence {row}: {len(g)} gold tags but {len(p)} predicted", fix="tag the gold tokens"
            )
        gold_set, pred_set = entities(g), entities(p)
        counts[row] = (len(gold_set & pred_set), len(gold_set), len(pred_set))
    return _scores_from_counts(counts)[0]


# -- evaluation ----------------------------------------------------------------------------------------


def _intent_scores(gold_intents: list[str], pred_intents: list[str]) -> dict[str, IntentScores]:
    labels = sorted(set(gold_intents) | set(pred_intents))
    result = {}
    for label in labels:
        support = sum(g == label for g in gold_intents)
        predicted = sum(p == label for p in pred_intents)
        correct = sum(g == p == label for g, p in zip(gold_intents, pred_intents, strict=True))
        precision, recall, f1 = _prf(correct, support, predicted)
        result[label] = IntentScores(
            precision,
            recall,
            f1,
            support,
            predicted,
            proportion_se(precision, predicted),
            proportion_se(recall, support),
        )
    return result


def evaluate(gold: Sequence[Utterance], pred: Sequence[Utterance]) -> Metrics:
    """Score predictions against gold utterances aligned by position (see the module docstring).

    Raises :class:`TvdError` E410 when lengths or texts differ, E411 when a gold utterance has no intent
    or slots off its own tokens.
    """
    gold, pred = list(gold), list(pred)
    gold_tags, pred_tags = slot_tags(gold, pred)
    if not gold:
        raise TvdError(E_MISALIGNED, "nothing to evaluate: no gold utterances", fix="check the test data path")
    for index, g in enumerate(gold):
        if g.intent is None:
            raise TvdError(
                E_BAD_GOLD,
                f"gold utterance {index} ({g.text!r}) has no intent",
                fix="evaluate on data annotated with intents",
            )
    gold_intents = [str(g.intent) for g in gold]
    pred_intents = ["<none>" if p.intent is None else str(p.intent) for p in pred]
    n = len(gold)

    gold_sets = [entities(t) for t in gold_tags]
    pred_sets = [entities(t) for t in pred_tags]
    labels = sorted({e[0] for s in gold_sets + pred_sets for e in s})
    # Per utterance: overall (correct, gold, pred) then the same for each slot label.
    column = {label: 3 * k for k, label in enumerate(labels, start=1)}
    counts = np.zeros((n, 3 * (1 + len(labels))), dtype=np.int64)
    for row, (gs, ps) in enumerate(zip(gold_sets, pred_sets, strict=True)):
        for offset, chunks in enumerate((gs & ps, gs, ps)):
            counts[row, offset] = len(chunks)
            for label, _, _ in chunks:
                counts[row, column[label] + offset] += 1
    all_scores = _scores_from_counts(counts)
    overall, per_label = all_scores[0], dict(zip(labels, all_scores[1:], strict=True))

    per_intent_slots = {}
    for intent in sorted(set(gold_intents)):
        rows = [i for i, g in enumerate(gold_intents) if g == intent]
        per_intent_slots[intent] = _scores_from_counts(counts[rows, 0:3])[0]

    intent_correct = [g == p for g, p in zip(gold_intents, pred_intents, strict=True)]
    sentence_correct = [ok and gs == ps for ok, gs, ps in zip(intent_correct, gold_sets, pred_sets, strict=True)]
    intent_accuracy = sum(intent_correct) / n
    sentence_accuracy = sum(sentence_correct) / n
    return Metrics(
        n=n,
        intent_accuracy=intent_accuracy,
        intent_accuracy_se=proportion_se(intent_accuracy, n),
        slots=overall,
        sentence_accuracy=sentence_accuracy,
        sentence_accuracy_se=proportion_se(sentence_accuracy, n),
        per_intent=_intent_scores(gold_intents, pred_intents),
        per_intent_slots=per_intent_slots,
        per_slot_label=per_label,
    )
