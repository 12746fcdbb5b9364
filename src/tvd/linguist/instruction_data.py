"""Instruction data for tuning a LINGUIST teacher: prompt / target pairs built from labelled datasets.

Each pair imitates one generation request on an intent the data already covers: sample a dataset (by the
mixing weights), an intent of it, one *target* utterance of that intent and 0-10 *other* utterances of it as
the examples; shuffle the label numbering; derive the include block from the target's slots (each value kept
verbatim or replaced by the wildcard ``*``; with probability ``free_rate`` the block is left empty); set the
language.  The prompt is :func:`tvd.linguist.prompt.build_prompt` of that request, exactly what generation
sends, and the target is the target utterance in numbered-bracket form, i.e. the line the teacher should
write next.  Examples are dropped (last first) until the prompt fits ``max_prompt_chars``.

Cross-lingual pairs (``examples_from``): the examples of a pair whose target comes from another dataset are
drawn from the named dataset's utterances of the same intent instead, so a prompt with English examples and
``<language>`` German has a German target: the skill the LINGUIST paper's cross-lingual teacher learns.  Targets
of intents the examples dataset lacks are not drawn (their own dataset's pairs would be monolingual).  Leave a
language out by not passing its data: the manifest of a tuned adapter lists the target languages it saw.

Excluded intents (``dataset:intent`` or a bare intent name for every dataset) never appear, neither as
target nor as example: they are the novel intents a tuned teacher will later generate for.  Everything
derives from one seed: the same inputs and settings give the same pairs, byte for byte.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tvd.data.utterance import Utterance
from tvd.errors import (
    E_BAD_INSTRUCTION_PAIR,
    E_BAD_MIX,
    E_INSTRUCTION_FILE,
    E_INSTRUCTION_SETTINGS,
    E_NO_INSTRUCTION_INTENTS,
    TvdError,
)
from tvd.formats.brackets import render_brackets
from tvd.linguist.prompt import build_prompt
from tvd.linguist.request import MAX_EXAMPLES, WILDCARD, IncludeSlot, LinguistRequest


@dataclass(frozen=True)
class InstructionSettings:
    """How to build pairs.  ``shots`` lists the example counts drawn from uniformly (0-10)."""

    pairs: int = 2000
    shots: tuple[int, ...] = tuple(range(MAX_EXAMPLES + 1))
    wildcard_rate: float = 0.5
    free_rate: float = 0.1
    max_prompt_chars: int = 1200
    exclude: tuple[str, ...] = ()
    mix: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    examples_from: str | None = None


@dataclass(frozen=True)
class InstructionPair:
    """One training pair: the teacher reads ``prompt`` and should write ``target`` (then a newline)."""

    prompt: str
    target: str
    dataset: str
    intent: str
    n_examples: int
    language: str

    @property
    def key(self) -> str:
        return f"{self.dataset}:{self.intent}"


def _excluded(dataset: str, intent: str, exclude: Sequence[str]) -> bool:
    return intent in exclude or f"{dataset}:{intent}" in exclude


def build_pairs(
    datasets: Mapping[str, Sequence[Utterance]], settings: InstructionSettings = InstructionSettings()
) -> list[InstructionPair]:
    """``settings.pairs`` pairs from ``datasets`` (name -> utterances), deterministic for ``settings.seed``."""
    _check(settings, datasets)
    by_intent: dict[str, dict[str, list[Utterance]]] = {}
    for name, utterances in datasets.items():
        groups: dict[str, list[Utterance]] = {}
        for utterance in utterances:
            if utterance.intent and not _excluded(name, utterance.intent, settings.exclude):
                groups.setdefault(utterance.intent, []).append(utterance)
        usable = {intent: group for intent, group in sorted(groups.items()) if len(group) >= 2}
        if usable:
            by_intent[name] = usable
    source = by_intent.get(settings.examples_from or "", {})
    if settings.examples_from:
        # a target from another dataset needs examples of its intent in the examples dataset
        by_intent = {
            name: groups if name == settings.examples_from else {i: g for i, g in groups.items() if i in source}
            for name, groups in by_intent.items()
        }
        by_intent = {name: groups for name, groups in by_intent.items() if groups}
    if not by_intent:
        raise TvdError(
            E_NO_INSTRUCTION_INTENTS,
            "no intent with at least 2 utterances is left after the exclusions",
            fix="exclude fewer intents or add datasets",
        )
    names = sorted(by_intent)
    weights = [float(settings.mix.get(name, 1.0)) for name in names]
    if sum(weights) <= 0:
        raise TvdError(E_BAD_MIX, f"mixing weights {dict(settings.mix)} give no dataset a positive weight")
    labels_of = {
        (name, intent): sorted({span.label for u in group for span in u.spans})
        for name, groups in by_intent.items()
        for intent, group in groups.items()
    }
    rng = random.Random(settings.seed)
    pairs = []
    for _ in range(settings.pairs):
        name = rng.choices(names, weights)[0]
        intent = rng.choice(sorted(by_intent[name]))
        group = by_intent[name][intent]
        target_index = rng.randrange(len(group))
        target = group[target_index]
        cross = settings.examples_from is not None and name != settings.examples_from
        others = source[intent] if cross else group[:target_index] + group[target_index + 1 :]
        k = min(rng.choice(settings.shots), len(others))
        examples = rng.sample(others, k) if k else []
        labels = labels_of[(name, intent)][:]
        if cross:  # the examples' labels belong in the map too
            labels = sorted({*labels, *labels_of[(str(settings.examples_from), intent)]})
        rng.shuffle(labels)
        include: list[IncludeSlot] = []
        if rng.random() >= settings.free_rate:
            for span in target.spans:
                value = WILDCARD if rng.random() < settings.wildcard_rate else target.value(span)
                include.append(IncludeSlot(span.label, value))
        while True:
            request = LinguistRequest(
                intent=intent,
                labels=tuple(labels),
                include=tuple(include),
                examples=tuple(examples),
                language=target.language,
            )
            prompt = build_prompt(request)
            if len(prompt) <= settings.max_prompt_chars or not examples:
                break
            examples.pop()
        pairs.append(
            InstructionPair(
                prompt=prompt,
                target=render_brackets(target, request.numbers),
                dataset=name,
                intent=intent,
                n_examples=len(examples),
                language=target.language,
            )
        )
    return pairs


def _check(settings: InstructionSettings, datasets: Mapping[str, Sequence[Utterance]]) -> None:
    if settings.pairs < 1 or not settings.shots or not all(0 <= k <= MAX_EXAMPLES for k in settings.shots):
        raise TvdError(
            E_INSTRUCTION_SETTINGS,
            f"bad instruction-data settings: pairs={settings.pairs}, shots={settings.shots}",
            fix=f"use pairs >= 1 and example counts within [0, {MAX_EXAMPLES}]",
        )
    for name, rate in (("wildcard_rate", settings.wildcard_rate), ("free_rate", settings.free_rate)):
        if not 0.0 <= rate <= 1.0:
            raise TvdError(E_INSTRUCTION_SETTINGS, f"{name} must be within [0, 1], got {rate}")
    unknown = sorted(set(settings.mix) - set(datasets))
    if unknown:
        raise TvdError(E_BAD_MIX, f"mixing weights name unknown dataset(s) {unknown}", fix=f"use {sorted(datasets)}")
    if settings.examples_from is not None and settings.examples_from not in datasets:
        raise TvdError(
            E_INSTRUCTION_SETTINGS,
            f"examples_from names {settings.examples_from!r}, which is not one of the datasets",
            fix=f"use one of {sorted(datasets)}",
        )


def write_pairs(path: str | Path, pairs: Sequence[InstructionPair], settings: InstructionSettings) -> None:
    """JSONL: a first ``{"settings": ...}`` line, then one pair per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"settings": {**asdict(settings), "mix": dict(settings.mix)}}
    lines = [json.dumps(header, sort_keys=True)] + [json.dumps(asdict(p), ensure_ascii=False) for p in pairs]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_pairs(path: str | Path) -> list[InstructionPair]:
    """Pairs written by :func:`write_pairs` (the settings line is skipped)."""
    path = Path(path)
    if not path.is_file():
        raise TvdError(
            E_INSTRUCTION_FILE, "instruction data file not found", file=path, fix="run `tvd teacher build-data`"
        )
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record: dict[str, Any] = json.loads(line)
            if "settings" in record:
                continue
            pairs.append(InstructionPair(**record))
        except (json.JSONDecodeError, TypeError) as exc:
            raise TvdError(
                E_BAD_INSTRUCTION_PAIR,
                f"not an instruction pair: {exc}",
                file=path,
                line=number,
                fix="rebuild the file with `tvd teacher build-data`",
            ) from exc
    return pairs
