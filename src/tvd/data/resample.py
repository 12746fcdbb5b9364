"""Slot-catalogue resampling: the no-teacher baseline for data augmentation, and re-valuing any template.

A new utterance is a seed example with each slot value swapped for another value of the same label,
drawn from a *catalogue* (``label -> values``).  The catalogue holds the seed examples' own values plus
values of the same labels from other data (e.g. other intents' training utterances: ``city`` values from
GetWeather serve BookRestaurant).  The wording never changes, only the values, which is what a
teacher model is measured against.  :func:`revalue` applies the same swap to other utterances (e.g. a
teacher's kept outputs): several value fillings of each new wording.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence

from tvd.data.utterance import Span, Utterance
from tvd.errors import E_BAD_CATALOGUE_VALUE, E_NOTHING_TO_RESAMPLE, TvdError

SlotCatalogue = dict[str, list[str]]
"""Slot label -> distinct values, in first-seen order."""

_SPACE = re.compile(r"\s+")


def build_catalogue(
    seed_examples: Iterable[Utterance],
    others: Iterable[Utterance] = (),
    *,
    labels: Iterable[str] | None = None,
) -> SlotCatalogue:
    """Collect the values of each slot label: the seed examples' first, then those of ``others``.

    Only ``labels`` are kept (default: the labels the seed examples use).  Values are deduplicated
    case-insensitively (first spelling wins), so the catalogue is a set of values, not a frequency list.
    For the few-shot protocol, pass the base (other intents) as ``others`` and never the target intent's
    held-back utterances.
    """
    seeds = list(seed_examples)
    wanted = set(labels) if labels is not None else {s.label for u in seeds for s in u.spans}
    catalogue: SlotCatalogue = {}
    seen: dict[str, set[str]] = {}
    for utterance in (*seeds, *others):
        for label, value in utterance.slots:
            if label not in wanted:
                continue
            key = _SPACE.sub(" ", value.casefold())
            if key in seen.setdefault(label, set()):
                continue
            seen[label].add(key)
            catalogue.setdefault(label, []).append(value)
    return catalogue


def resample(
    seed_examples: Sequence[Utterance],
    catalogue: Mapping[str, Sequence[str]],
    n: int,
    seed: int = 0,
    *,
    max_attempts: int = 50,
) -> list[Utterance]:
    """Make ``n`` new utterances from the seed examples by swapping slot values.

    Each output picks a seed example at random (among those with at least one slot) and replaces every
    slot value by a random catalogue value of the same label; a label missing from the catalogue keeps its
    value.  Offsets are recomputed, intent and language are kept, a source tokenisation is dropped (it
    would no longer fit).  Up to ``max_attempts`` draws are made per output to avoid an exact duplicate
    (same case-folded text, intent and slots) of a seed example or an earlier output; when the catalogue
    is too small for that, the last draw is kept anyway, so the result always has ``n`` utterances.
    Sampling is lazy (one combination at a time) and deterministic given ``seed``.  Outputs carry
    ``meta = {"source": "resample", "seed_index": i}`` with ``i`` the index of the seed example used.

    Raises :class:`TvdError`: E162 when no seed example has a slot (nothing to resample), E163 when a
    catalogue value is empty or has surrounding whitespace.
    """
    if n < 0:
        raise TvdError(E_NOTHING_TO_RESAMPLE, f"n must not be negative, got {n}", fix="ask for n >= 0 utterances")
    if n == 0:
        return []
    usable = [i for i, u in enumerate(seed_examples) if u.spans]
    if not usable:
        raise TvdError(
            E_NOTHING_TO_RESAMPLE,
            f"none of the {len(seed_examples)} seed examples has a slot, so there is nothing to resample",
            fix="give seed examples with annotated slots",
        )
    values = _checked_catalogue(catalogue)
    rng = random.Random(seed)
    seen = {_key(u) for u in seed_examples}
    out: list[Utterance] = []
    for _ in range(n):
        for _attempt in range(max(1, max_attempts)):
            index = rng.choice(usable)
            candidate = _swap(seed_examples[index], values, rng)
            if _key(candidate) not in seen:
                break
        seen.add(_key(candidate))
        out.append(candidate.replace(meta={"source": "resample", "seed_index": index}))
    return out


def revalue(
    utterances: Sequence[Utterance],
    catalogue: Mapping[str, Sequence[str]],
    k: int,
    seed: int = 0,
    *,
    max_attempts: int = 50,
    avoid: Iterable[Utterance] = (),
) -> list[Utterance]:
    """Up to ``k`` re-filled variants of each input utterance that has slots: the same wording with every slot
    value replaced by a random catalogue value of its label (drawn as :func:`resample` draws; a label missing
    from the catalogue keeps its value).

    Where :func:`resample` varies the seed examples, this varies any template, e.g. the teacher's kept
    utterances: a new wording is worth more with several values in it.  A variant is never an exact duplicate
    (same case-folded text, intent and slots) of an input, of ``avoid`` (e.g. the seed examples) or of an
    earlier output: up to ``max_attempts`` draws are made per variant, and when none is new the variant is
    *skipped*, not duplicated.  So the result holds at most ``k`` variants per input, fewer when the catalogue
    runs out of new combinations (an input whose labels have no catalogue values gives none), and inputs
    without slots give none.  Outputs come input by input, in input order; sampling is deterministic given
    ``seed``.

    Each output keeps its input's intent, language and ``meta``, except ``meta["bracketed"]`` (a teacher's raw
    line, which held the old values), and adds ``meta["source"] = "revalue"``, ``meta["template_source"]`` (the
    input's ``meta["source"]``, e.g. ``"linguist"``, or ``None``) and ``meta["revalued_from"]`` (the input's
    text).  ``k`` = 0 gives ``[]``.

    Raises :class:`TvdError`: E162 when ``k`` is negative, E163 when a catalogue value is empty or has
    surrounding whitespace.
    """
    if k < 0:
        raise TvdError(E_NOTHING_TO_RESAMPLE, f"k must not be negative, got {k}", fix="ask for k >= 0 variants")
    if k == 0:
        return []
    values = _checked_catalogue(catalogue)
    rng = random.Random(seed)
    seen = {_key(u) for u in (*utterances, *avoid)}
    out: list[Utterance] = []
    for utterance in utterances:
        if not any(span.label in values for span in utterance.spans):
            continue  # nothing would change
        meta = {key: value for key, value in utterance.meta.items() if key != "bracketed"}
        meta |= {"source": "revalue", "template_source": utterance.meta.get("source"), "revalued_from": utterance.text}
        for _ in range(k):
            for _attempt in range(max(1, max_attempts)):
                candidate = _swap(utterance, values, rng)
                if _key(candidate) not in seen:
                    seen.add(_key(candidate))
                    out.append(candidate.replace(meta=dict(meta)))
                    break
    return out


def _checked_catalogue(catalogue: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    checked: dict[str, list[str]] = {}
    for label, values in catalogue.items():
        for value in values:
            if not isinstance(value, str) or not value or value != value.strip():
                raise TvdError(
                    E_BAD_CATALOGUE_VALUE,
                    f"catalogue value {value!r} of slot {label!r} is empty or has surrounding whitespace",
                    fix="strip catalogue values and drop empty ones",
                )
        if values:
            checked[label] = list(values)
    return checked


def _swap(utterance: Utterance, catalogue: Mapping[str, list[str]], rng: random.Random) -> Utterance:
    """``utterance`` with each slot value replaced by a random catalogue value of its label."""
    pieces: list[str] = []
    spans: list[Span] = []
    cursor = length = 0
    for span in utterance.spans:
        before = utterance.text[cursor : span.start]
        options = catalogue.get(span.label)
        value = rng.choice(options) if options else utterance.value(span)
        pieces += [before, value]
        start = length + len(before)
        spans.append(Span(start, start + len(value), span.label))
        length = start + len(value)
        cursor = span.end
    pieces.append(utterance.text[cursor:])
    return utterance.replace(text="".join(pieces), spans=tuple(spans), tokens=None)


def _key(utterance: Utterance) -> tuple[object, ...]:
    """Identity for duplicate avoidance: case-folded text, intent and slots."""
    return (utterance.text.casefold(), utterance.intent, utterance.spans)
