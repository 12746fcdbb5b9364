"""Control quality of generated data: does the teacher do what the LINGUIST prompt asks?

Measured on raw completions paired with their requests (:class:`ControlSample`), independently of any
grammar, so the same function scores constrained and unconstrained runs:

``well_formed``
    share of completions that parse in the numbered-bracket format with only known label numbers (the
    include block's other checks aside); meaningful for runs *without* a grammar, which forces the format;
``fixed_honoured``
    over the fixed (non-``*``) include values of the completions that parse: share that appear verbatim
    (case- and space-insensitive) as a value of their slot;
``wildcard_novel``
    over the wildcard include slots filled in parsed completions: share whose value is not a value of that
    slot in the seed examples (new values, the point of wildcards);
``templates_per_100``
    distinct templates (:func:`tvd.filters.template.template_of`: normalised text with every slot value
    replaced by ``{label}``, the definition the template filter uses) per 100 parsed completions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from tvd.data.utterance import Utterance
from tvd.filters.template import template_of
from tvd.formats.brackets import BracketError, utterance_from_brackets
from tvd.linguist.prompt import EXAMPLES_CLOSE, build_prompt
from tvd.linguist.request import LinguistRequest
from tvd.teachers.base import GenerationParams, Teacher


@dataclass(frozen=True)
class ControlSample:
    """One raw completion and the request it answers."""

    request: LinguistRequest
    text: str


def free_samples(
    requests: Sequence[LinguistRequest], teacher: Teacher, params: GenerationParams
) -> list[ControlSample]:
    """One completion per request without the output grammar (``params`` as given, ``grammar`` dropped), sent to
    ``teacher`` directly (no cache): the samples on which ``well_formed`` says whether the teacher follows the
    format by itself."""
    params = replace(params, grammar=None)
    return [ControlSample(r, teacher.generate(build_prompt(r), 1, params)[0].text) for r in requests]


def _norm(value: str) -> str:
    return " ".join(value.casefold().split())


def _parse(sample: ControlSample) -> Utterance | None:
    line = sample.text.strip().split("\n", 1)[0].replace(EXAMPLES_CLOSE, "").strip()
    if not line:
        return None
    try:
        return utterance_from_brackets(line, sample.request.label_map, intent=sample.request.intent)
    except (BracketError, ValueError):
        return None


@dataclass(frozen=True)
class ControlCounts:
    """The counts behind :func:`control_quality`: completions, parsed ones, fixed include values (and how many
    were honoured), filled wildcards (and how many are novel), distinct templates."""

    samples: int
    parsed: int
    fixed_total: int
    fixed_honoured: int
    wildcards_filled: int
    wildcards_novel: int
    templates: int


def control_counts(
    samples: Sequence[ControlSample], seed_values: Mapping[str, Sequence[str]] | None = None
) -> ControlCounts:
    """Count what :func:`control_quality` reports as shares.

    ``seed_values``: slot label -> values in the seed examples; by default taken from the requests' examples.
    """
    if seed_values is None:
        collected: dict[str, set[str]] = {}
        for sample in samples:
            for example in sample.request.examples:
                for label, value in example.slots:
                    collected.setdefault(label, set()).add(_norm(value))
        known = collected
    else:
        known = {label: {_norm(v) for v in values} for label, values in seed_values.items()}
    parsed = 0
    fixed_total = fixed_ok = wild_total = wild_novel = 0
    templates: set[str] = set()
    for sample in samples:
        utterance = _parse(sample)
        if utterance is None:
            continue
        parsed += 1
        templates.add(template_of(utterance))
        values: dict[str, list[str]] = {}
        for label, value in utterance.slots:
            values.setdefault(label, []).append(_norm(value))
        for slot in sample.request.include:
            found = values.get(slot.label, [])
            if slot.is_wildcard:
                fixed_values = {_norm(s.value) for s in sample.request.include if s.label == slot.label}
                filled = [v for v in found if v not in fixed_values and v != "*"]
                if filled:
                    wild_total += 1
                    wild_novel += filled[0] not in known.get(slot.label, set())
            else:
                fixed_total += 1
                fixed_ok += _norm(slot.value) in found
    return ControlCounts(len(samples), parsed, fixed_total, fixed_ok, wild_total, wild_novel, len(templates))


def control_quality(
    samples: Sequence[ControlSample], seed_values: Mapping[str, Sequence[str]] | None = None
) -> dict[str, float | int | None]:
    """The four shares (see the module docstring), as fractions in [0, 1] (``None`` where undefined).

    ``seed_values``: slot label -> values in the seed examples; by default taken from the requests' examples.
    """
    c = control_counts(samples, seed_values)
    return {
        "samples": c.samples,
        "well_formed": c.parsed / c.samples if c.samples else None,
        "fixed_honoured": c.fixed_honoured / c.fixed_total if c.fixed_total else None,
        "wildcard_novel": c.wildcards_novel / c.wildcards_filled if c.wildcards_filled else None,
        "templates_per_100": 100 * c.templates / c.parsed if c.parsed else None,
    }
