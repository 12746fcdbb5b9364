"""Utterances not in their stated language, by a language-identification model (py3langid).

The filter asks, for each generated utterance, "is this text in the utterance's ``language``?": the failure it
is there for is a teacher that writes English (its examples' language) when asked for German.  The model is
py3langid's (a naive-Bayes classifier over byte n-grams, trained on 140 languages; BSD, its model inside the
4.6 MB wheel, numpy its only dependency).  The whole utterance text is identified, slot values included:
they are part of what the teacher wrote in the language asked for.

An utterance is in ``L`` when ``L`` has the highest probability among the *candidate* languages and at least
``min_confidence`` (probabilities renormalised over the candidates, which is what py3langid's own
``set_languages`` computes).  The candidates (:func:`candidates_for`):

* by default, the 50 languages of MASSIVE (:data:`MASSIVE_LANGUAGES`: widely used languages, which an NLU
  teacher writes) plus ``L`` and the languages of the run's seeds and base data;
* with ``open_set``, every language py3langid knows (140), regional ones included.

Why this library and these candidates (``bench/language_id.py`` on the xSID *valid* sets: 300 utterances each
of en / de / it, 150 of ja; README "Language identification"): py3langid with the MASSIVE candidates accepted
96.7 % (de), 96.3 % (it), 100 % (ja) and 95.7 % (en) of each language's utterances as their own, took none of
the 300 English utterances for de, it or ja, and none of the other xSID languages' either, in 0.1-0.2 ms an
utterance (a shared 2-core machine).  Its open set lost recall to regional languages (English 87.7 %: short
commands go to Nigerian Pidgin ``pcm``; Italian 94.3 %) and rejected no more English.  The pair {L, en} had the
best recall (98.1 % over de / it / ja) but took 1 of 300 English utterances for German and for Italian, passed
45.8 % of the Italian and Japanese utterances as German, and cannot reject anything in an English run.  lingua
(2.1.1; 2.2.0 has no wheel for Python 3.11) had lower recall in every mode (MASSIVE: it 90.0 %, en 94.0 %),
took 0.3-0.7 % of English for de / it, was 4-10 times slower in its open and MASSIVE modes, and comes as a
96 MB compiled wheel.  ``min_confidence`` 0 (the best candidate wins) is the default: with the MASSIVE
candidates, 0.5 already cost 2.8 points of recall and removed no English false accept (there were none).

A language py3langid does not know cannot be judged: :class:`LanguageFilter` raises E564 when it is built for
seeds or base data in such a language, and when it meets an utterance in one.  Without py3langid installed
(it is a base dependency) it raises E563.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any, ClassVar, Self

from tvd.data.utterance import Utterance
from tvd.errors import E_NO_LANGUAGE_ID, E_UNSUPPORTED_LANGUAGE, TvdError
from tvd.filters.base import Filter, FilterContext, OptionRange

LIBRARY = "py3langid"
"""The language-identification package the filter uses (pinned in pyproject.toml's base dependencies)."""

# fmt: off
MASSIVE_LANGUAGES = frozenset((
    "af", "am", "ar", "az", "bn", "cy", "da", "de", "el", "en", "es", "fa", "fi", "fr", "he", "hi", "hu", "hy",
    "id", "is", "it", "ja", "jv", "ka", "km", "kn", "ko", "lv", "ml", "mn", "ms", "my", "no", "nl", "pl", "pt",
    "ro", "ru", "sl", "sq", "sv", "sw", "ta", "te", "th", "tl", "tr", "ur", "vi", "zh",
))
# fmt: on
"""The languages of MASSIVE 1.0's 51 locales (zh-CN and zh-TW are one; nb-NO is py3langid's ``no``)."""

DEFAULT_MIN_CONFIDENCE = 0.0
DEFAULT_MODE = "massive"
"""The filter's defaults (chosen on the xSID valid sets, see the module docstring): the best of the MASSIVE
languages (and the run's) wins."""

_ALIASES = {"nb": "no", "iw": "he", "in": "id", "jw": "jv"}
"""Codes py3langid spells differently (it names Norwegian Bokmål ``no``, and knows the modern ISO codes)."""


def model_code(language: str) -> str:
    """The code py3langid uses for ``language``: lower case, without region or script (``pt-BR`` -> ``pt``),
    with the old and alternative codes of :data:`_ALIASES` mapped (``nb`` -> ``no``)."""
    code = language.strip().lower().replace("_", "-").split("-")[0]
    return _ALIASES.get(code, code)


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """py3langid's identifier with probabilities (loaded once: about half a second, 30 MB)."""
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as exc:
        raise TvdError(
            E_NO_LANGUAGE_ID,
            f"the language filter needs {LIBRARY}, which is not importable ({exc})",
            fix="pip install py3langid==0.4.0 (a dependency of tvd: reinstall tvd), or drop the language filter",
        ) from exc
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@lru_cache(maxsize=1)
def supported_languages() -> frozenset[str]:
    """Every language code the model knows (140 for py3langid 0.4.0).  E563 without py3langid."""
    return frozenset(_identifier().labels)


def require_supported(language: str) -> str:
    """``language``'s model code (:func:`model_code`), or E564 when the model does not know it."""
    code = model_code(language)
    if code not in supported_languages():
        raise TvdError(
            E_UNSUPPORTED_LANGUAGE,
            f"language {language!r} is not one the language-identification model ({LIBRARY}) knows",
            fix="drop the language filter for this language, or give its ISO 639-1 code "
            f"(known: {', '.join(sorted(supported_languages()))})",
        )
    return code


def probabilities(text: str, candidates: Iterable[str] | None = None) -> dict[str, float]:
    """Each candidate's probability that ``text`` is in it (model codes; renormalised over ``candidates``, or over
    every language the model knows when ``None``).  E564 for a candidate the model does not know."""
    ranked = dict(_identifier().rank(text))  # the identifier keeps no state between calls: thread-safe
    if candidates is None:
        return ranked
    kept = {code: ranked[code] for code in dict.fromkeys(require_supported(c) for c in candidates)}
    total = sum(kept.values())
    if total <= 0.0:  # nothing to tell them apart (an empty text): uniform
        return {code: 1.0 / len(kept) for code in kept}
    return {code: p / total for code, p in kept.items()}


def candidates_for(language: str, others: Iterable[str] = ()) -> tuple[str, ...]:
    """The default candidates for an utterance in ``language``: it, ``others`` (the languages of the run's seeds
    and base) and :data:`MASSIVE_LANGUAGES`, as model codes without repeats."""
    codes = (language, *others, *sorted(MASSIVE_LANGUAGES))
    return tuple(dict.fromkeys(require_supported(c) for c in codes))


def in_language(
    text: str,
    language: str,
    *,
    open_set: bool = False,
    candidates: Iterable[str] | None = None,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
) -> bool:
    """Whether ``text`` is in ``language``: ``language`` has the highest probability among the candidates
    (ties go against it) and at least ``min_confidence``.

    Candidates: every language the model knows with ``open_set``; else ``candidates`` when given (``language``
    is always added: ``candidates=["en"]`` is the pair {language, en}), else :func:`candidates_for`
    (``language`` and the MASSIVE languages).  E564 for a language the model does not know, E563 without
    py3langid.
    """
    code = require_supported(language)
    if open_set:
        scores = probabilities(text)
    elif candidates is not None:
        scores = probabilities(text, (code, *candidates))
    else:
        scores = probabilities(text, candidates_for(code))
    own = scores.get(code, 0.0)
    if own < min_confidence:
        return False
    return all(p < own for other, p in scores.items() if other != code)


class LanguageFilter(Filter):
    """Removes an utterance that :func:`in_language` says is not in its own ``language``.

    Options: ``min_confidence`` (the probability the utterance's language needs, over the candidates; default
    0: the best candidate wins) and ``open_set`` (every language the model knows as candidates; default false:
    the MASSIVE languages, the utterance's own and the seeds' and base data's).
    """

    name = "language"
    reason = "wrong_language"
    options: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"min_confidence": DEFAULT_MIN_CONFIDENCE, "open_set": False}
    )
    option_ranges: ClassVar[Mapping[str, OptionRange]] = MappingProxyType(
        {"min_confidence": OptionRange(float, 0.0, 1.0), "open_set": OptionRange(bool)}
    )

    def __init__(
        self,
        languages: Iterable[str] = (),
        *,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        open_set: bool = False,
    ) -> None:
        self.min_confidence = float(min_confidence)
        self.open_set = bool(open_set)
        self.languages = tuple(dict.fromkeys(require_supported(language) for language in languages))
        """The run's languages (seeds and base data), candidates besides each utterance's own and MASSIVE's."""
        self._candidates: dict[str, tuple[str, ...]] = {}

    @classmethod
    def from_context(cls, context: FilterContext) -> Self:
        """The filter for a run: E562 for bad options, E563 without py3langid and E564 when a seed or base
        utterance is in a language the model does not know (checked now, before a teacher is paid)."""
        options = cls.resolve_options(context.options)
        supported_languages()  # E563 now rather than at the first utterance
        languages = dict.fromkeys(u.language for u in (*context.seeds, *context.base))
        return cls(languages, **options)

    def check(self, utterance: Utterance) -> str | None:
        language = utterance.language
        if language not in self._candidates:
            self._candidates[language] = candidates_for(language, self.languages)
        accepted = in_language(
            utterance.text,
            language,
            open_set=self.open_set,
            candidates=self._candidates[language],
            min_confidence=self.min_confidence,
        )
        return None if accepted else self.reason
