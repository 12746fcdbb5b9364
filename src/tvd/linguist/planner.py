"""Plan LINGUIST requests for one intent from its seed examples.

Each request gets its own shuffled label numbering, a sample of up to ``examples_per_prompt`` seeds in
random order, and an include block whose slot combination is copied from a random seed example (so the
combinations are realistic) with each value either the wildcard ``*`` (probability ``wildcard_rate``) or
a fixed value drawn from a value catalogue (user-given values first, else values seen in the data).
Everything is derived from one integer seed: the same plan comes out every time.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tvd.data.utterance import Utterance
from tvd.errors import E_BAD_EXAMPLE_COUNT, E_BAD_WILDCARD_RATE, E_UNKNOWN_FIXED_SLOT, TvdError
from tvd.linguist.request import MAX_EXAMPLES, WILDCARD, IncludeSlot, LinguistRequest


@dataclass(frozen=True)
class PlanSettings:
    """How to build requests.  ``examples_per_prompt=0`` gives zero-shot prompts (label names only)."""

    requests: int = 50
    examples_per_prompt: int = MAX_EXAMPLES
    wildcard_rate: float = 0.5
    language: str = "en"
    seed: int = 0
    extra_labels: tuple[str, ...] = ()
    fixed_values: Mapping[str, Sequence[str]] = field(default_factory=dict)


def plan_requests(
    intent: str,
    seeds: Sequence[Utterance],
    settings: PlanSettings,
    value_catalogue: Mapping[str, Sequence[str]] | None = None,
) -> list[LinguistRequest]:
    """``settings.requests`` requests for ``intent``.

    ``value_catalogue`` maps slot labels to values to draw fixed include values from when the user gave
    none for that label (e.g. values of the same slot in the seeds and other intents).
    """
    if not 0.0 <= settings.wildcard_rate <= 1.0:
        raise TvdError(E_BAD_WILDCARD_RATE, f"wildcard_rate must be within [0, 1], got {settings.wildcard_rate}")
    if not 0 <= settings.examples_per_prompt <= MAX_EXAMPLES:
        raise TvdError(
            E_BAD_EXAMPLE_COUNT,
            f"examples_per_prompt must be within [0, {MAX_EXAMPLES}], got {settings.examples_per_prompt}",
        )
    seed_labels = sorted({span.label for u in seeds for span in u.spans})
    labels = list(dict.fromkeys([*seed_labels, *settings.extra_labels]))
    unknown = sorted(set(settings.fixed_values) - set(labels))
    if unknown:
        raise TvdError(
            E_UNKNOWN_FIXED_SLOT,
            f"fixed values given for slot(s) {unknown}, which no seed example of {intent} uses",
            fix=f"use one of {labels}, or add the slot to generation.extra_labels",
        )
    catalogue = {label: list(dict.fromkeys(values)) for label, values in (value_catalogue or {}).items()}
    for label, values in settings.fixed_values.items():
        catalogue[label] = list(values)
    signatures = [tuple(span.label for span in u.spans) for u in seeds] or [()]

    rng = random.Random(settings.seed)
    requests = []
    for index in range(settings.requests):
        order = labels[:]
        rng.shuffle(order)
        k = min(settings.examples_per_prompt, len(seeds))
        examples = tuple(rng.sample(list(seeds), k)) if k else ()
        include = []
        for label in rng.choice(signatures):
            pool = catalogue.get(label) or []
            wildcard = not pool or rng.random() < settings.wildcard_rate
            if settings.fixed_values.get(label):
                wildcard = False
            include.append(IncludeSlot(label, WILDCARD if wildcard else rng.choice(pool)))
        requests.append(
            LinguistRequest(
                intent=intent,
                labels=tuple(order),
                include=tuple(include),
                examples=examples,
                language=settings.language,
                request_id=f"{intent}-{settings.seed}-{index:05d}",
            )
        )
    return requests
