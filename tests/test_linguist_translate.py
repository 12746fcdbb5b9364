"""Seed translation (translate-then-generate's first step): requests, prompt, grammar, validation, and the job."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_linguist_grammar import _grammar_language
from tvd.config import GenerationConfig, TranslateConfig
from tvd.data.utterance import Utterance
from tvd.engine.cache import CompletionCache
from tvd.engine.task import Rejection
from tvd.errors import TvdError
from tvd.jobs.augment import augment, translates
from tvd.linguist.grammar import output_grammar
from tvd.linguist.translate import (
    DEMONSTRATIONS,
    TranslationTask,
    build_translation_prompt,
    translation_grammar,
    translation_requests,
)
from tvd.teachers.base import Completion
from tvd.teachers.scripted import ScriptedTeacher

GERMAN = {  # the scripted teacher's translations of the weather seeds, by source text
    "will it rain in [1 boston ] on [2 friday ]": "wird es am [2 Freitag ] in [1 Boston ] regnen und wie kalt wird es",
    "weather for [1 austin ] [2 tomorrow ]": "wie wird das Wetter [2 morgen ] in [1 Austin ] sein",
    "is it [1 cold ] in [2 paris ]": "ist es in [2 Paris ] heute wirklich so [1 kalt ] wie gestern",
    "forecast for [1 denver ] [2 next week ]": "forecast for [1 denver ] [2 next week ] please and thank you",
}


def test_one_request_per_seed_with_stable_ids_that_name_language_and_value_mode(weather_seeds) -> None:
    german = translation_requests(weather_seeds, "de")
    again = translation_requests(weather_seeds, "de")
    italian = translation_requests(weather_seeds, "it")
    kept = translation_requests(weather_seeds, "de", keep_values=True)
    assert [r.source for r in german] == weather_seeds
    assert [r.request_id for r in german] == [r.request_id for r in again]
    assert len({r.request_id for r in german + italian + kept}) == 3 * len(weather_seeds)
    assert all(r.request_id.startswith("tr-de-") for r in german)
    assert german[0].labels == ("city", "timeRange")  # the seed's own labels, in order of appearance


def test_requests_refuse_no_seeds_and_seeds_already_in_the_language(weather_seeds) -> None:
    with pytest.raises(TvdError) as empty:
        translation_requests([], "de")
    assert empty.value.code == "E204"
    german_seed = weather_seeds[0].replace(language="de")
    with pytest.raises(TvdError) as same:
        translation_requests([german_seed], "de")
    assert same.value.code == "E204" and "already in German" in str(same.value)


def test_prompt_is_a_parallel_text_ending_where_the_translation_starts(weather_seeds) -> None:
    request = translation_requests(weather_seeds[:1], "de")[0]
    prompt = build_translation_prompt(request)
    assert prompt.endswith("English: will it rain in [1 boston ] on [2 friday ]\nGerman:")
    for source, target in DEMONSTRATIONS["de"]:
        assert f"English: {source}\nGerman: {target}\n" in prompt
    own = translation_requests(weather_seeds[:1], "de", demonstrations=[("hi [1 bob ]", "hallo [1 Bob ]")])[0]
    assert build_translation_prompt(own).startswith("English: hi [1 bob ]\nGerman: hallo [1 Bob ]\n\n")
    korean = build_translation_prompt(translation_requests(weather_seeds[:1], "ko")[0])  # no demonstrations: zero-shot
    assert korean == "English: will it rain in [1 boston ] on [2 friday ]\nKorean:"


def test_grammar_keeps_every_slot_number_once_in_any_order(weather_seeds) -> None:
    request = translation_requests(weather_seeds[:1], "de")[0]
    language = _grammar_language(translation_grammar(request))
    assert language.fullmatch(" wird es am [2 Freitag ] in [1 Boston ] regnen")
    assert language.fullmatch("in [1 Boston ] am [2 Freitag ] regnet es")
    assert not language.fullmatch(" wird es in [1 Boston ] regnen")  # a slot lost
    assert not language.fullmatch(" [1 Boston ] [1 Berlin ] [2 Freitag ]")  # a slot twice
    assert not language.fullmatch(" [3 Boston ] [2 Freitag ]")  # a number the seed has not
    assert not language.fullmatch(" wird\u00a0es\u00a0in [1 Boston ] [2 Freitag ]")  # no-break spaces glue words
    keep = translation_requests(weather_seeds[:1], "de", keep_values=True)[0]
    verbatim = _grammar_language(translation_grammar(keep))
    assert verbatim.fullmatch(" regnet es am [2 friday ] in [1 boston ]")
    assert not verbatim.fullmatch(" regnet es am [2 Freitag ] in [1 Boston ]")


def test_linguist_grammar_is_unchanged_by_the_translation_options(request_) -> None:
    grammar = output_grammar(request_)
    assert grammar.startswith("root ::= lead (") and "\\u00A0" not in grammar
    assert output_grammar(request_, leading_space=True).startswith('root ::= " "? lead (')


def _validate(request, text: str) -> Utterance:
    return TranslationTask().validate(request, Completion(text), sample=0, teacher="t")


def test_validation_accepts_a_translation_and_rejects_copies_and_merged_values(weather_seeds) -> None:
    request = translation_requests(weather_seeds[:1], "de")[0]
    utterance = _validate(request, " wird es am [2 Freitag ] in [1 Boston ] regnen")
    assert utterance.language == "de" and utterance.intent == "GetWeather"
    assert list(utterance.slots) == [("timeRange", "Freitag"), ("city", "Boston")]
    assert utterance.meta["source"] == "translation"
    assert utterance.meta["translated_from"] == "will it rain in boston on friday"
    with pytest.raises(Rejection) as copy:
        _validate(request, " will it rain in [1 Boston ] on [2 friday ]")
    assert copy.value.reason == "untranslated"
    with pytest.raises(Rejection) as merged:
        _validate(request, " es regnet [1 in der Stadt ] [2 in der Stadt ]")
    assert merged.value.reason == "slot_values_merged"
    with pytest.raises(Rejection) as missing:
        _validate(request, " es regnet in [1 Boston ]")
    assert missing.value.reason == "missing_slot"
    keep = translation_requests(weather_seeds[:1], "de", keep_values=True)[0]
    with pytest.raises(Rejection) as changed:
        _validate(keep, " regnet es am [2 Freitag ] in [1 boston ]")
    assert changed.value.reason == "fixed_value_changed"


def _scripted(prompt: str, seed: int) -> str:
    if prompt.endswith("German:"):  # a translation request: translate the last source line
        return " " + GERMAN[prompt.rsplit("English: ", 1)[1].split("\n", 1)[0]]
    examples = prompt.split("<examples>\n", 1)[1].strip().splitlines()
    return examples[seed % len(examples)] + " bitte"  # a new German utterance


def test_translate_then_generate_uses_the_german_translations_as_examples(tmp_path: Path, weather_seeds) -> None:
    translate = TranslateConfig(samples=1)
    generation = GenerationConfig(requests=3, samples_per_request=1, examples_per_prompt=3, language="de")
    generation = generation.model_copy(update={"translate": translate})
    prompts: list[str] = []

    def teacher_answer(prompt: str, seed: int) -> str:
        prompts.append(prompt)
        return _scripted(prompt, seed)

    teacher = ScriptedTeacher(teacher_answer)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        done = augment("GetWeather", weather_seeds, [], generation, teacher, cache, filters=("exact", "seed"))
        calls = teacher.calls
        again = augment("GetWeather", weather_seeds, [], generation, teacher, cache, filters=("exact", "seed"))
    assert teacher.calls == calls  # translations and generations both came from the cache the second time
    assert done.translation is not None and done.translation_filtered is not None
    assert done.translation.stats.planned == len(weather_seeds) and done.translation.stats.accepted == 4
    assert dict(done.translation_filtered.counts).get("wrong_language") == 1  # the English "forecast for ..."
    translations = done.translation_filtered.kept
    assert len(translations) == 3 and all(u.language == "de" for u in translations)
    linguist_prompts = [p for p in prompts if "<examples>" in p]
    assert linguist_prompts and all("<language> German </language>" in p for p in linguist_prompts)
    for prompt in linguist_prompts:  # the examples are the German translations, never the English seeds
        examples = prompt.split("<examples>\n", 1)[1].strip().splitlines()
        assert examples and all(not line.startswith(("will it", "weather for", "is it")) for line in examples)
    sources = [u.meta["source"] for u in done.kept]
    assert sources[: len(translations)] == ["translation"] * len(translations)
    assert "linguist" in sources and [u.text for u in again.kept] == [u.text for u in done.kept]


def test_no_translation_when_the_language_is_the_seeds_or_translate_is_off(weather_seeds) -> None:
    on = GenerationConfig(language="de", translate=TranslateConfig())
    assert translates(on, weather_seeds)
    assert not translates(on.model_copy(update={"language": "en"}), weather_seeds)
    assert not translates(on.model_copy(update={"translate": None}), weather_seeds)
    assert not translates(on, weather_seeds, source_language="de")


def test_translations_are_dropped_from_training_data_when_keep_is_off(tmp_path: Path, weather_seeds) -> None:
    generation = GenerationConfig(
        requests=2, samples_per_request=1, examples_per_prompt=2, language="de", translate=TranslateConfig(keep=False)
    )
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        done = augment("GetWeather", weather_seeds, [], generation, ScriptedTeacher(_scripted), cache)
    assert done.kept and all(u.meta["source"] == "linguist" for u in done.kept)


def test_a_language_the_language_filter_cannot_judge_fails_before_the_teacher_is_asked(
    tmp_path: Path, weather_seeds
) -> None:
    generation = GenerationConfig(requests=2, language="tlh", translate=TranslateConfig())
    teacher = ScriptedTeacher(_scripted)
    with CompletionCache(tmp_path / "cache.sqlite") as cache, pytest.raises(TvdError) as error:
        augment("GetWeather", weather_seeds, [], generation, teacher, cache)
    assert error.value.code == "E564" and teacher.calls == 0


def test_no_accepted_translation_means_no_generation_and_every_record_kept(tmp_path: Path, weather_seeds) -> None:
    generation = GenerationConfig(requests=3, language="de", translate=TranslateConfig())
    teacher = ScriptedTeacher(lambda prompt, seed: " no idea [1 x ]")  # never the seed's slots: all rejected
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        done = augment("GetWeather", weather_seeds, [], generation, teacher, cache)
    assert done.translation is not None and done.translation.stats.accepted == 0
    assert len(done.translation.rejects) == len(weather_seeds) == teacher.calls  # only the translations were asked
    assert done.requests == [] and done.kept == []


def test_the_estimate_counts_the_translations_and_the_generation(tmp_path: Path, weather_seeds) -> None:
    from tvd.jobs.augment import estimate_augment

    generation = GenerationConfig(requests=3, samples_per_request=2, examples_per_prompt=2, language="de")
    teacher = ScriptedTeacher(_scripted)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        before = estimate_augment("GetWeather", weather_seeds, [], generation, teacher, cache)
        augment("GetWeather", weather_seeds, [], generation, teacher, cache)
        after = estimate_augment("GetWeather", weather_seeds, [], generation, teacher, cache)
    assert (before.planned, before.to_send) == (len(weather_seeds) + 6, len(weather_seeds) + 6)
    assert after.cached >= len(weather_seeds)  # the translations were made: cached now
    english = generation.model_copy(update={"language": "en"})
    assert estimate_augment("GetWeather", weather_seeds, [], english, teacher, None).planned == 6
