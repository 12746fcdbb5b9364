"""Seed translation, the first step of translate-then-generate: tagged seed utterances rewritten in another language.

A small teacher given English examples writes English whatever the ``<language>`` block says (the embedded
Gemma 3 270M wrote 0 of 420 completions in German, Italian or Japanese that way), but with examples in the
target language it writes that language.  So a run whose output language differs from its seeds' first
translates the seeds, keeping their bracket markup, and then uses the translations as its in-language examples
(:func:`tvd.jobs.augment.augment`, ``generation.translate``).

One :class:`TranslationRequest` per (seed, language).  The prompt is a parallel text: a few demonstration
pairs (:data:`DEMONSTRATIONS`, hand-written for this module, generic phrases; none taken from a benchmark),
then the seed in numbered-bracket form, ending where the translation starts::

    English: will it rain in [1 berlin ] [2 tomorrow ]
    German: wird es [2 morgen ] in [1 Berlin ] regnen

    English: weather in [1 dallas ] on [2 saturday ]
    German:

The grammar is the LINGUIST output grammar of the seed's slots as wildcards
(:func:`tvd.linguist.grammar.output_grammar`): the same slot numbers must come back, each as often as in the
seed, in any order, with any values (the teacher may translate or keep them; with ``keep_values`` the seed's
values verbatim), so a translation never loses or invents a slot.  Validation is LINGUIST's parser plus two
checks: a translation identical to its source (``untranslated``), and one that gives two slots the same value
where the seed had two (``slot_values_merged``), are rejected with their reasons.  Whether the text is really
in the target language is the ``language`` filter's job, run by the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tvd.data.utterance import Utterance
from tvd.engine.task import Rejection
from tvd.errors import E_BAD_TRANSLATION_REQUEST, TvdError
from tvd.formats.brackets import render_brackets
from tvd.linguist.grammar import output_grammar
from tvd.linguist.parse import PARSER_VERSION, parse_output
from tvd.linguist.request import WILDCARD, IncludeSlot, LinguistRequest, language_name
from tvd.teachers.base import Completion, GenerationParams

TRANSLATOR_VERSION = f"translate-1+{PARSER_VERSION}"
"""The validator's version (the parser's plus this module's own check); recorded in the engine's stats."""

DEMONSTRATIONS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "de": (
        ("will it rain in [1 berlin ] [2 tomorrow ]", "wird es [2 morgen ] in [1 Berlin ] regnen"),
        ("play [1 jazz ] music by [2 miles davis ]", "spiele [1 Jazz ] Musik von [2 Miles Davis ]"),
        ("book a table for [1 two ] at [2 eight pm ]", "reserviere einen Tisch für [1 zwei ] um [2 zwanzig Uhr ]"),
        ("show me the film [1 the lion king ]", "zeig mir den Film [1 Der König der Löwen ]"),
    ),
    "it": (
        ("will it rain in [1 berlin ] [2 tomorrow ]", "pioverà [2 domani ] a [1 Berlino ]"),
        ("play [1 jazz ] music by [2 miles davis ]", "riproduci musica [1 jazz ] di [2 Miles Davis ]"),
        ("book a table for [1 two ] at [2 eight pm ]", "prenota un tavolo per [1 due ] alle [2 otto di sera ]"),
        ("show me the film [1 the lion king ]", "mostrami il film [1 Il re leone ]"),
    ),
    "ja": (
        ("will it rain in [1 berlin ] [2 tomorrow ]", "[2 明日 ] [1 ベルリン ] で 雨 が 降り ます か"),
        ("play [1 jazz ] music by [2 miles davis ]", "[2 マイルス・デイヴィス ] の [1 ジャズ ] を かけて"),
        ("book a table for [1 two ] at [2 eight pm ]", "[2 夜 八時 ] に [1 二人 ] で 席 を 予約 して"),
        ("show me the film [1 the lion king ]", "映画 [1 ライオン・キング ] を 見せて"),
    ),
    "fr": (
        ("will it rain in [1 berlin ] [2 tomorrow ]", "va-t-il pleuvoir à [1 Berlin ] [2 demain ]"),
        ("play [1 jazz ] music by [2 miles davis ]", "joue de la musique [1 jazz ] de [2 Miles Davis ]"),
        ("book a table for [1 two ] at [2 eight pm ]", "réserve une table pour [1 deux ] à [2 vingt heures ]"),
        ("show me the film [1 the lion king ]", "montre-moi le film [1 Le Roi lion ]"),
    ),
    "es": (
        ("will it rain in [1 berlin ] [2 tomorrow ]", "va a llover en [1 Berlín ] [2 mañana ]"),
        ("play [1 jazz ] music by [2 miles davis ]", "pon música [1 jazz ] de [2 Miles Davis ]"),
        ("book a table for [1 two ] at [2 eight pm ]", "reserva una mesa para [1 dos ] a las [2 ocho de la noche ]"),
        ("show me the film [1 the lion king ]", "muéstrame la película [1 El rey león ]"),
    ),
}
"""English -> language demonstration pairs in numbered-bracket form, for the languages that have them; a
language without any is translated zero-shot (the language's name alone)."""

SOURCE_LANGUAGE = "en"
"""The language of :data:`DEMONSTRATIONS`' sources: seeds in another language are translated zero-shot."""

MAX_TRANSLATION_WORDS = 12
"""Most words of free text before, between and after the slots of a translation (grammar)."""


@dataclass(frozen=True)
class TranslationRequest:
    """One seed to translate into ``language``.  ``labels``: the slot numbering of the prompt (the seed's labels
    in order of first appearance); ``request_id`` is stable across runs (it names the seed, the language and
    ``keep_values``).  ``keep_values``: the slot values must come back verbatim (only the words around them are
    translated: right for names, wrong for dates and numbers); else the teacher may translate them too."""

    source: Utterance
    language: str
    labels: tuple[str, ...]
    request_id: str
    demonstrations: tuple[tuple[str, str], ...] = ()
    keep_values: bool = False

    @property
    def numbers(self) -> dict[str, int]:
        """``label -> number`` (1-based)."""
        return {label: i + 1 for i, label in enumerate(self.labels)}

    def as_linguist(self) -> LinguistRequest:
        """The LINGUIST request whose grammar and parser check a translation: the seed's slots, as wildcards, or
        with their values when ``keep_values``."""
        source = self.source
        include = tuple(
            IncludeSlot(span.label, source.value(span) if self.keep_values else WILDCARD) for span in source.spans
        )
        return LinguistRequest(
            intent=self.source.intent or "",
            labels=self.labels,
            include=include,
            language=self.language,
            request_id=self.request_id,
        )


def translation_requests(
    seeds: Sequence[Utterance],
    language: str,
    *,
    demonstrations: Sequence[tuple[str, str]] | None = None,
    keep_values: bool = False,
) -> list[TranslationRequest]:
    """One request per seed utterance, for translating ``seeds`` into ``language``.

    ``demonstrations``: the prompt's example pairs (default: :data:`DEMONSTRATIONS` of ``language`` when the
    seeds are English, else none); ``keep_values``: see :class:`TranslationRequest`.  Raises E204 when there is
    no seed, or a seed is already in ``language``.
    """
    if not seeds:
        raise TvdError(
            E_BAD_TRANSLATION_REQUEST,
            f"no seed utterances to translate into {language_name(language)}",
            fix="give the run seed utterances, or turn generation.translate off",
        )
    same = [u for u in seeds if u.language == language]
    if same:
        raise TvdError(
            E_BAD_TRANSLATION_REQUEST,
            f"{len(same)} seed utterance(s) are already in {language_name(language)} ({same[0].text!r})",
            fix="translate only when generation.language differs from the seeds' language",
        )
    requests = []
    for seed in seeds:
        labels = tuple(dict.fromkeys(span.label for span in seed.spans))
        if demonstrations is not None:
            shown = tuple(demonstrations)
        else:
            shown = DEMONSTRATIONS.get(language, ()) if seed.language == SOURCE_LANGUAGE else ()
        spans = ";".join(f"{span.start}:{span.end}:{span.label}" for span in seed.spans)
        key = f"{seed.intent}\t{seed.language}\t{seed.text}\t{spans}\t{int(keep_values)}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        request_id = f"tr-{language}-{digest[:16]}"
        requests.append(TranslationRequest(seed, language, labels, request_id, shown, keep_values))
    return requests


def build_translation_prompt(request: TranslationRequest) -> str:
    """The parallel-text prompt of ``request``; the completion is the translation, one line."""
    source_name = language_name(request.source.language)
    target_name = language_name(request.language)
    lines: list[str] = []
    for source, target in request.demonstrations:
        lines += [f"{source_name}: {source}", f"{target_name}: {target}", ""]
    lines.append(f"{source_name}: {render_brackets(request.source, request.numbers)}")
    return "\n".join(lines) + f"\n{target_name}:"


def translation_grammar(request: TranslationRequest) -> str:
    """The GBNF grammar of one translation: the seed's slot numbers, each as often as in the seed, any order."""
    return output_grammar(
        request.as_linguist(),
        same_language_fixed_values=request.keep_values,
        max_words=MAX_TRANSLATION_WORDS,
        leading_space=True,
    )


@dataclass(frozen=True)
class TranslationTask:
    """Seed translation through the engine (:func:`tvd.engine.generate.generate`); results are utterances in the
    target language with ``meta`` holding ``request_id``, ``source`` (``"translation"``), ``translated_from``
    (the seed's text), ``bracketed``, ``sample`` and ``teacher``."""

    name: str = "translating"
    unit: str = "utt"
    version: str = TRANSLATOR_VERSION
    default_params: GenerationParams = field(default_factory=lambda: GenerationParams(temperature=0.3))

    def request_id(self, request: TranslationRequest) -> str:
        return request.request_id

    def prompt(self, request: TranslationRequest) -> str:
        return build_translation_prompt(request)

    def grammar(self, request: TranslationRequest) -> str | None:
        return translation_grammar(request)

    def validate(self, request: TranslationRequest, completion: Completion, *, sample: int, teacher: str) -> Utterance:
        utterance = parse_output(
            completion.text,
            request.as_linguist(),
            finish_reason=completion.finish_reason,
            check_fixed_values=request.keep_values,
        )
        if _plain(utterance.text) == _plain(request.source.text):
            raise Rejection("untranslated", "the translation is the source utterance, unchanged")
        if not request.keep_values:
            _check_distinct_values(request.source, utterance)
        meta = {
            **utterance.meta,
            "source": "translation",
            "translated_from": request.source.text,
            "sample": sample,
            "teacher": teacher,
        }
        return utterance.replace(meta=meta)

    def reject_record(
        self, request: TranslationRequest, sample: int, rejection: Rejection, raw: str
    ) -> dict[str, Any]:
        return {
            "request_id": request.request_id,
            "sample": sample,
            "reason": rejection.reason,
            "message": str(rejection),
            "raw": raw,
            "translating": render_brackets(request.source, request.numbers),
            "language": request.language,
        }


def _check_distinct_values(source: Utterance, translation: Utterance) -> None:
    """Rejects (``slot_values_merged``) a translation that gives two slots one value where the seed gave them two
    different ones: a small teacher repeats a value into every slot ("[1 in der Stadt ] [2 in der Stadt ]")."""
    distinct_source = len({_plain(value) for _, value in source.slots})
    distinct_translation = len({_plain(value) for _, value in translation.slots})
    if distinct_translation < distinct_source:
        raise Rejection(
            "slot_values_merged",
            f"{distinct_source} different slot values in the seed, {distinct_translation} in the translation",
        )


def _plain(text: str) -> str:
    return " ".join(text.lower().split())
