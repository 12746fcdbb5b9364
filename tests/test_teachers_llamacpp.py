"""Tests for the embedded llama.cpp teacher.  The slow ones run the real default model (Gemma 3 270M)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tvd.data.utterance import Span, Utterance
from tvd.engine.dispatch import Dispatcher, EngineSettings, Job, Outcome
from tvd.errors import E_LLAMA_CPP, TvdError
from tvd.formats.brackets import parse_brackets
from tvd.linguist.grammar import output_grammar
from tvd.linguist.parse import Rejection, parse_output
from tvd.linguist.prompt import build_prompt
from tvd.linguist.request import WILDCARD, IncludeSlot, LinguistRequest
from tvd.teachers.base import GenerationParams
from tvd.teachers.embedded_model import MODEL_PACKAGE
from tvd.teachers.llamacpp import MAX_BATCH_WIDTH, LlamaCppTeacher

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
    request = _linguist_request()
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


# -- batched decoding (batch_width > 1) ---------------------------------------------------------------
@pytest.mark.parametrize("width", [0, MAX_BATCH_WIDTH + 1, True, 2.0])
def test_bad_batch_width_is_rejected(tmp_path: Path, width: object) -> None:
    with pytest.raises(TvdError) as info:
        LlamaCppTeacher(model_path=tmp_path / "x.gguf", batch_width=width)  # type: ignore[arg-type]
    assert info.value.code == E_LLAMA_CPP
    assert "batch_width" in str(info.value)


WIDTH = 4


@pytest.fixture(scope="module")
def batched() -> Iterator[LlamaCppTeacher]:
    with LlamaCppTeacher(batch_width=WIDTH) as loaded:
        yield loaded


def _linguist_request() -> LinguistRequest:
    def example(text: str, city: str, time_range: str) -> Utterance:
        spans = []
        for value, label in ((city, "city"), (time_range, "timeRange")):
            start = text.index(value)
            spans.append(Span(start, start + len(value), label))
        return Utterance(text=text, intent="GetWeather", spans=tuple(spans))

    return LinguistRequest(
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


@pytest.mark.slow
@needs_model
def test_width_one_gives_the_texts_of_before_batching(teacher: LlamaCppTeacher) -> None:
    # written by the teacher before batch_width existed (same model file, same llama-cpp-python build)
    params = GenerationParams(max_tokens=16, temperature=1.0, seed=7)
    before = [
        " what is it like to be in the middle of nowhere",
        " what is the most beautiful city in the world",
        " do you have a dog that is a cat?",
    ]
    assert teacher.batch_width == 1 and teacher.batch_size == 1
    assert texts(teacher.generate(PROMPT, 3, params)) == before
    requests = [(PROMPT, replace(params, seed=7 + i)) for i in range(3)]
    assert texts(teacher.generate_requests(requests)) == before
    grammar = 'root ::= [a-z ]+ "[1 " [a-z]+ " ]"'
    prompt = "will it rain in [1 boston ]\nweather for [1 austin ]\nis it cold in [1 oslo ]\n"
    out = teacher.generate(prompt, 2, GenerationParams(max_tokens=24, grammar=grammar, seed=11))
    assert texts(out) == ["is it hot in [1 seattle ]", "is it hot in [1 chicago ]"]


@pytest.mark.slow
@needs_model
def test_batch_width_is_part_of_the_fingerprint(teacher: LlamaCppTeacher, batched: LlamaCppTeacher) -> None:
    assert teacher.fingerprint() == f"llamacpp:{teacher.model_id}"  # width 1: the keys of existing caches
    assert batched.fingerprint() == f"llamacpp:{teacher.model_id}:batch_width={WIDTH}"
    assert batched.batch_size == 4 * WIDTH  # what the engine sends per generate_requests call


@pytest.mark.slow
@needs_model
def test_batched_grammar_output_parses_in_every_lane(batched: LlamaCppTeacher) -> None:
    request = _linguist_request()
    prompt = build_prompt(request).rstrip() + "\n"  # a new line to write (width 1: 7 of these 7 parse)
    base = GenerationParams(max_tokens=32, temperature=0.5, grammar=output_grammar(request), seed=1)
    yes_no = GenerationParams(max_tokens=4, grammar='root ::= "yes" | "no"')
    # more requests than lanes, two grammars mixed: every lane is refilled at least once
    requests = [(prompt, replace(base, seed=seed)) for seed in range(1, 8)]
    requests.insert(3, ("Is Paris in France? Answer:", yes_no))
    out = batched.generate_requests(requests)
    assert len(out) == len(requests)
    assert out[3].text in {"yes", "no"} and out[3].finish_reason == "stop"
    parsed = []
    for completion in out[:3] + out[4:]:
        assert completion.extra["batch_width"] == WIDTH
        try:
            parsed.append(parse_output(completion.text, request, finish_reason=completion.finish_reason))
        except Rejection as rejection:  # the grammar leaves only one way to fail: running out of tokens
            assert rejection.reason == "truncated", (rejection.reason, completion.text)
    assert len(parsed) >= 5, texts(out)
    for utterance in parsed:
        assert ("city", "paris") in [(label, value.lower()) for label, value in utterance.slots]


@pytest.mark.slow
@needs_model
def test_batched_completion_does_not_depend_on_its_company(batched: LlamaCppTeacher) -> None:
    """The guarantee of tvd.teachers.llamacpp_batch, bitwise: same request, other neighbours, lane, order and
    joining time -> the same logits at every step, so the same text."""
    params = GenerationParams(max_tokens=16, temperature=1.0, seed=7)
    target = (PROMPT, params)
    others = [(OTHER_PROMPT, replace(params, seed=s)) for s in (50, 51)]
    others += [(PROMPT, replace(params, seed=s, max_tokens=6)) for s in (60, 61)]
    others.append(("weather " * 120, replace(params, seed=62, max_tokens=20)))  # a much longer neighbour
    batched.generate_requests([target])  # the decoder is made on first use
    batched._batched.trace_logits = True
    try:
        alone = batched.generate_requests([target])[0]
        calls = [
            [*others[:2], target, *others[2:]],  # lane 2 from the first step
            [*others, target],  # waits for a lane to free: joins mid-way, beside half-finished neighbours
            [others[4], target],  # two lanes busy, two decoding dummies
        ]
        for call in calls:
            got = next(c for (prompt, p), c in zip(call, batched.generate_requests(call), strict=True) if p == params)
            assert (got.text, got.extra["logits_sha1"]) == (alone.text, alone.extra["logits_sha1"])
        # generate(prompt, n) is the same requests with seeds seed + i
        assert texts(batched.generate(PROMPT, 2, params)) == [
            alone.text,
            batched.generate_requests([(PROMPT, replace(params, seed=8))])[0].text,
        ]
    finally:
        batched._batched.trace_logits = False
    assert alone.text  # and it is a real completion


@pytest.mark.slow
@needs_model
def test_batched_resumed_dispatch_gives_the_same_texts(batched: LlamaCppTeacher) -> None:
    """A run killed after some calls resends only the missing requests, in other company: same texts."""
    grammar = 'root ::= [a-z ]+ "[1 " [a-z]+ " ]"'
    bracket = "will it rain in [1 boston ]\nweather for [1 austin ]\nis it cold in [1 oslo ]\n"
    jobs = [
        Job(i, prompt, GenerationParams(max_tokens=12, temperature=0.9, seed=100 + i, grammar=g), f"k{i}", 40)
        for i, (prompt, g) in enumerate(
            [(PROMPT, None), (PROMPT, None), (bracket, grammar), (OTHER_PROMPT, None), (bracket, grammar)] * 2
        )
    ]

    def dispatch(subset: list[Job], into: dict[str, str]) -> None:
        def done(job: Job, outcome: Outcome) -> None:
            assert outcome.completion is not None, outcome.message
            into[job.key] = outcome.completion.text

        Dispatcher(batched, EngineSettings(), on_done=done).run(subset)

    uninterrupted: dict[str, str] = {}
    dispatch(jobs, uninterrupted)
    resumed: dict[str, str] = {}
    dispatch(jobs[3:6], resumed)  # what the first run committed before the kill
    dispatch([job for job in jobs if job.key not in resumed], resumed)  # the restart sends the rest
    assert resumed == uninterrupted


def test_tvd_run_batches_the_embedded_teacher_by_default(monkeypatch) -> None:
    import tvd.jobs.teacher as jobs_teacher
    from tvd.config import TeacherConfig

    built: list[tuple[str, dict]] = []
    monkeypatch.setattr(jobs_teacher, "make_teacher", lambda backend, **options: built.append((backend, options)))
    jobs_teacher.build_teacher(TeacherConfig(options={"n_threads": 1}))
    jobs_teacher.build_teacher(TeacherConfig(options={"batch_width": 1}))  # how to keep a pre-batching cache
    jobs_teacher.build_teacher(TeacherConfig(backend="openai", options={"base_url": "http://127.0.0.1:1/v1"}))
    monkeypatch.setattr(jobs_teacher.os, "cpu_count", lambda: 1)
    jobs_teacher.build_teacher(TeacherConfig())  # no more threads than cores
    assert built == [
        ("llamacpp", {"n_threads": 1, "batch_width": jobs_teacher.LLAMACPP_BATCH_WIDTH}),
        ("llamacpp", {"batch_width": 1, "n_threads": jobs_teacher.LLAMACPP_THREADS}),
        ("openai", {"base_url": "http://127.0.0.1:1/v1"}),
        ("llamacpp", {"batch_width": jobs_teacher.LLAMACPP_BATCH_WIDTH, "n_threads": 1}),
    ]
    assert jobs_teacher.LLAMACPP_BATCH_WIDTH > 1
