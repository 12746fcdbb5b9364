"""Rename intents and slot labels between label schemes (e.g. SNIPS -> xSID).

A mapping file has one ``source target`` pair a line (whitespace-separated), as xSID's
``snips_to_xsid_mapping.txt``::

    city location
    timeRange datetime
    GetWeather weather/find

Intents and slot labels share the one table; names the file does not list stay unchanged.  Blank lines
and ``#`` comments are skipped.  Several sources may map to one target (``city`` and ``state`` both become
``location``); one source mapped to two different targets is an error.  Spans keep their offsets, so two
adjacent slots that map to the same label stay two slots (``B-location B-location`` in BIO).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tvd.data.utterance import Span, Utterance
from tvd.errors import E_MAPPING_CONFLICT, E_MAPPING_FILE, E_MAPPING_LINE, TvdError


@dataclass(frozen=True)
class LabelMapping:
    """``names``: source label -> target label, for intents and slots alike."""

    names: Mapping[str, str] = field(default_factory=dict)

    def name(self, label: str) -> str:
        """The target name of ``label`` (itself when unlisted)."""
        return self.names.get(label, label)

    def apply(self, utterance: Utterance) -> Utterance:
        """``utterance`` with its intent and slot labels renamed; text, offsets, tokens and meta unchanged."""
        intent = self.name(utterance.intent) if utterance.intent is not None else None
        spans = tuple(Span(s.start, s.end, self.name(s.label)) for s in utterance.spans)
        return utterance.replace(intent=intent, spans=spans)

    def apply_all(self, utterances: Iterable[Utterance]) -> list[Utterance]:
        return [self.apply(u) for u in utterances]


def parse_label_mapping(text: str, source: str | Path = "<memory>") -> LabelMapping:
    """The mapping written in ``text``; ``source`` names the file in error messages."""
    names: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise TvdError(
                E_MAPPING_LINE,
                f"expected 'source target' (two names separated by whitespace), got {raw!r}",
                file=source,
                line=number,
                fix="write one 'source_label target_label' pair a line; '#' starts a comment",
            )
        src, dst = parts
        if src in names and names[src] != dst:
            raise TvdError(
                E_MAPPING_CONFLICT,
                f"{src!r} is mapped to {names[src]!r} on line {first_line[src]} and to {dst!r} here",
                file=source,
                line=number,
                fix=f"keep one target for {src!r}",
            )
        names[src] = dst
        first_line.setdefault(src, number)
    return LabelMapping(names)


def read_label_mapping(path: str | Path) -> LabelMapping:
    """Read a mapping file (see the module docstring for the format)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TvdError(
            E_MAPPING_FILE,
            f"cannot read the label mapping: {exc}",
            file=path,
            fix="pass an existing UTF-8 text file with one 'source target' pair a line",
        ) from exc
    return parse_label_mapping(text, path)
