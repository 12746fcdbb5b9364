"""Intent drift: generated utterances whose words a reference model reads as another intent.

A small teacher's carrier phrase often drifts ("book a table for two" written as "what is the weather for
two"): the slots are fine, the sentence is of another intent.  The reference (in a run, the baseline student
trained on base + seeds, which knows every existing intent and the new one from its seeds) predicts the
generated text; the utterance goes when the predicted intent is not its own, or, with option ``margin``
(default 0: off), when it is but the reference's confidence (``meta["intent_confidence"]``) is below
``margin``.  A reference that gives no confidence is judged by the label alone.

A baseline trained on ten seeds barely knows the new intent: it reads most *real* utterances of that intent
as another one, so "predicted intent is not its own" alone throws away good data with the bad: on SNIPS
training data (``bench/filter_calibration.py``, 7 intents, seed 0) it removed 60.5 % of real held-out
utterances of the new intent and 36.8 % of the embedded teacher's; at every ``confidence`` it removed about as
many real utterances as generated ones, which is why ``tvd run``'s default pipeline leaves it out.
Option ``confidence`` keeps an utterance read as another intent unless the reference is at least that sure of
the other intent (``meta["intent_confidence"]``): the carrier phrase then really belongs elsewhere.
``bench/filter_calibration.py`` measures both kinds of removal (real held-out utterances of the intent, which
should stay, and generated ones) for each setting on training data.  The filter may serve with a stronger
reference (a student trained on more data of the intent).

All texts of a batch are predicted in one ``predict`` call (:meth:`IntentFilter.prepare`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Self

from tvd.data.utterance import Utterance
from tvd.filters.base import Filter, FilterContext, OptionRange, Reference, ReferencePredictions


class IntentFilter(Filter):
    """Removes an utterance the reference gives another intent, or its own with confidence below ``margin``."""

    name = "intent"
    reason = "intent_mismatch"
    needs_reference: ClassVar[bool] = True
    options: ClassVar[Mapping[str, Any]] = MappingProxyType({"margin": 0.0, "confidence": 0.0})
    option_ranges: ClassVar[Mapping[str, OptionRange]] = MappingProxyType(
        {"margin": OptionRange(float, 0.0, 1.0), "confidence": OptionRange(float, 0.0, 1.0)}
    )

    def __init__(self, reference: Reference, *, margin: float = 0.0, confidence: float = 0.0) -> None:
        self.margin = margin
        self.confidence = confidence
        self._predictions = ReferencePredictions(reference)

    @classmethod
    def from_context(cls, context: FilterContext) -> Self:
        options = cls.resolve_options(context.options)
        return cls(cls.require_reference(context), **options)

    def prepare(self, utterances: Sequence[Utterance]) -> None:
        self._predictions.prepare(utterances)

    def check(self, utterance: Utterance) -> str | None:
        predicted = self._predictions.get(utterance)
        confidence = predicted.meta.get("intent_confidence")
        if predicted.intent != utterance.intent:
            sure = confidence is None or float(confidence) >= self.confidence
            return self.reason if sure else None
        if self.margin > 0 and confidence is not None and float(confidence) < self.margin:
            return self.reason
        return None
