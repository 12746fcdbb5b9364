"""The SNIPS few-shot novel-intent protocol (as in the LINGUIST paper).

A target intent plays the part of a new feature: all other intents keep their complete training data
(the *base*), while the target keeps only ``k`` training examples (the *seed examples*), sampled
deterministically from ``seed``.  A model is trained on base + seed examples (+ generated data) and scored
on the target intent's real test utterances; repeating over seeds and intents gives mean and spread.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from tvd.data.utterance import Utterance, intents
from tvd.errors import E_TOO_FEW_SHOTS, E_UNKNOWN_INTENT, TvdError


@dataclass(frozen=True)
class FewShotSplit:
    """One draw of the protocol.

    ``base`` holds every training utterance of the other intents, in input order.  ``seed_examples``
    holds the ``k`` sampled utterances of ``intent``, in input order.  ``held_back`` holds the target
    intent's remaining training utterances: the protocol never trains on them, and a slot catalogue
    built for the target must not draw on them either (that would leak unseen values).
    """

    intent: str
    k: int
    seed: int
    base: tuple[Utterance, ...]
    seed_examples: tuple[Utterance, ...]
    held_back: tuple[Utterance, ...]

    @property
    def train(self) -> list[Utterance]:
        """The few-shot training set: base followed by the seed examples."""
        return [*self.base, *self.seed_examples]


def novel_intent_split(train: Sequence[Utterance], intent: str, k: int = 10, seed: int = 0) -> FewShotSplit:
    """Split ``train`` for the novel-intent protocol with ``intent`` as the new intent.

    The ``k`` seed examples are a uniform sample without replacement, drawn with ``random.Random(seed)``
    over the target intent's utterances in input order, so the same file, intent, ``k`` and ``seed``
    always give the same examples.  Raises :class:`TvdError` (E160) for an unknown intent, (E161) when the
    intent has fewer than ``k`` examples or ``k`` is not positive.
    """
    if k < 1:
        raise TvdError(
            E_TOO_FEW_SHOTS, f"k must be at least 1, got {k}", fix="use k >= 1 (the standard protocol uses 10)"
        )
    target = [i for i, u in enumerate(train) if u.intent == intent]
    if not target:
        known = intents(train)
        raise TvdError(
            E_UNKNOWN_INTENT,
            f"intent {intent!r} does not occur in the training data",
            fix=f"choose one of: {', '.join(known)}" if known else "give training data that has intents",
        )
    if len(target) < k:
        raise TvdError(
            E_TOO_FEW_SHOTS,
            f"intent {intent!r} has only {len(target)} training examples, fewer than k={k}",
            fix=f"use k <= {len(target)} or another intent",
        )
    chosen = set(random.Random(seed).sample(target, k))
    return FewShotSplit(
        intent=intent,
        k=k,
        seed=seed,
        base=tuple(u for u in train if u.intent != intent),
        seed_examples=tuple(train[i] for i in target if i in chosen),
        held_back=tuple(train[i] for i in target if i not in chosen),
    )
