"""Template duplicates: the same wording with different slot values.

The delexicalised template of ``weather in dallas on saturday`` (``dallas`` a ``city``, ``saturday`` a
``day``) is ``weather in {city} on {day}``.  Keeping one utterance per template favours varied wording
over varied values.  This filter is aggressive: a small teacher often rewrites one template with new
values, so most of its outputs can go; the removal count tells how many.  Make it optional per run.
"""

from __future__ import annotations

from tvd.data.utterance import Utterance
from tvd.filters.base import Filter, segments


def template_of(utterance: Utterance) -> str:
    """The delexicalised template: normalised text with each slot value replaced by ``{label}``."""
    parts = segments(utterance)
    out = [parts[0]]
    for i in range(1, len(parts), 3):
        out += ["{" + parts[i] + "}", parts[i + 2]]
    return "".join(out)


class TemplateDuplicateFilter(Filter):
    """Removes an utterance whose intent, language and :func:`template_of` equal those of one kept earlier;
    the first occurrence stays."""

    name = "template"
    reason = "template_duplicate"

    def __init__(self) -> None:
        self._seen: set[tuple[str | None, str, str]] = set()

    def _key(self, utterance: Utterance) -> tuple[str | None, str, str]:
        return (utterance.intent, utterance.language, template_of(utterance))

    def check(self, utterance: Utterance) -> str | None:
        return self.reason if self._key(utterance) in self._seen else None

    def keep(self, utterance: Utterance) -> None:
        self._seen.add(self._key(utterance))
