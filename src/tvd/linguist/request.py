"""A LINGUIST generation request: everything one prompt says.

The five blocks of a LINGUIST prompt are the fields here: output ``language``, ``intent``, the ``include``
block (slots the output must contain, each with a fixed value or the wildcard ``*``), the numbered label
map (``labels``: label ``labels[i]`` has number ``i + 1``; the planner shuffles the order per request) and
up to 10 tagged ``examples``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tvd.data.utterance import Utterance

WILDCARD = "*"
MAX_EXAMPLES = 10

LANGUAGE_NAMES = {
    "ar": "Arabic",
    "da": "Danish",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "sr": "Serbian",
    "tr": "Turkish",
    "zh": "Chinese",
}


def language_name(code: str) -> str:
    """The English name used in the ``<language>`` block; unknown codes are used as given."""
    return LANGUAGE_NAMES.get(code.split("-")[0].lower(), code)


@dataclass(frozen=True)
class IncludeSlot:
    """One entry of the include block: a slot label and a fixed value, or :data:`WILDCARD`."""

    label: str
    value: str = WILDCARD

    @property
    def is_wildcard(self) -> bool:
        return self.value == WILDCARD


@dataclass(frozen=True)
class LinguistRequest:
    """One prompt's worth of instructions.  ``request_id`` is stable across runs (used in provenance)."""

    intent: str
    labels: tuple[str, ...]
    include: tuple[IncludeSlot, ...] = ()
    examples: tuple[Utterance, ...] = ()
    language: str = "en"
    request_id: str = ""

    def __post_init__(self) -> None:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"label map repeats a label: {self.labels}")
        if len(self.examples) > MAX_EXAMPLES:
            raise ValueError(f"at most {MAX_EXAMPLES} examples per request, got {len(self.examples)}")
        known = set(self.labels)
        for slot in self.include:
            if slot.label not in known:
                raise ValueError(f"include slot {slot.label!r} is not in the label map {self.labels}")
        for example in self.examples:
            for span in example.spans:
                if span.label not in known:
                    raise ValueError(f"example slot {span.label!r} is not in the label map {self.labels}")

    @property
    def numbers(self) -> dict[str, int]:
        """``label -> number`` (1-based)."""
        return {label: i + 1 for i, label in enumerate(self.labels)}

    @property
    def label_map(self) -> dict[int, str]:
        """``number -> label``."""
        return {i + 1: label for i, label in enumerate(self.labels)}

    @property
    def include_counts(self) -> Counter[str]:
        return Counter(slot.label for slot in self.include)
