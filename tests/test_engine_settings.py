"""The teacher block of a run config: engine settings, defaults that suit the embedded teacher, and the
example configs in examples/teachers/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tvd.config import TeacherConfig, load_config
from tvd.engine.accounting import Price
from tvd.engine.dispatch import EngineSettings
from tvd.errors import TvdError
from tvd.jobs.teacher import engine_settings
from tvd.teachers.openai_http import OpenAITeacher
from tvd.teachers.registry import make_teacher

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "teachers"


def test_defaults_keep_the_embedded_teacher_one_call_at_a_time_free_and_unlimited():
    settings = engine_settings(TeacherConfig())
    assert settings == EngineSettings()
    assert settings.concurrency == 1 and not settings.adaptive_concurrency
    assert settings.requests_per_minute is None and settings.tokens_per_minute is None
    assert settings.price.is_free
    assert TeacherConfig().backend_options() == {}


def test_teacher_block_becomes_engine_settings_and_backend_options():
    block = TeacherConfig.model_validate(
        {
            "backend": "openai",
            "options": {"base_url": "http://127.0.0.1:9/v1", "model": "m"},
            "concurrency": 4,
            "adaptive_concurrency": True,
            "max_concurrency": 16,
            "requests_per_minute": 100,
            "tokens_per_minute": 5000,
            "max_retries": 2,
            "backoff_s": 0.5,
            "max_backoff_s": 8,
            "timeout_s": 12,
            "price": {"input_per_million": 0.5, "output_per_million": 1.5},
        }
    )
    assert engine_settings(block) == EngineSettings(
        concurrency=4,
        max_concurrency=16,
        adaptive_concurrency=True,
        requests_per_minute=100,
        tokens_per_minute=5000,
        max_retries=2,
        backoff_s=0.5,
        max_backoff_s=8,
        price=Price(0.5, 1.5),
    )
    assert block.backend_options() == {"base_url": "http://127.0.0.1:9/v1", "model": "m", "timeout_s": 12}
    teacher = make_teacher(block.backend, **block.backend_options())
    assert isinstance(teacher, OpenAITeacher) and teacher.timeout_s == 12


@pytest.mark.parametrize("field", ["concurrency: 0", "max_retries: -1", "price: {input_per_million: -1}", "rpm: 3"])
def test_bad_teacher_fields_are_config_errors(tmp_path, field):
    config = tmp_path / "config.yaml"
    config.write_text(f"data: {{base: b.jsonl, seed: s.jsonl}}\nteacher:\n  backend: openai\n  {field}\n")
    with pytest.raises(TvdError, match="E504") as info:
        load_config(config)
    assert "teacher." in str(info.value)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_teacher_configs_load_and_point_at_the_example_data(path):
    config = load_config(path)
    assert config.data.base.is_file() and config.data.seed.is_file() and config.data.test.is_file()
    assert config.teacher.backend in {"llamacpp", "openai", "transformers", "sagemaker", "bedrock"}
    engine_settings(config.teacher)  # valid engine settings


def test_each_own_example_exists_and_openai_ones_build_a_teacher(monkeypatch):
    names = {p.name for p in EXAMPLES.glob("*.yaml")}
    assert {"llamacpp.yaml", "openai.yaml", "llamacpp-server.yaml"} <= names
    assert load_config(EXAMPLES / "llamacpp.yaml").teacher.backend == "llamacpp"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-example")
    hosted = load_config(EXAMPLES / "openai.yaml").teacher
    teacher = make_teacher(hosted.backend, **hosted.backend_options())  # builds without sending anything
    assert isinstance(teacher, OpenAITeacher) and teacher.mode == "chat" and not teacher.grammar_field
    assert hosted.price is not None and hosted.price.input_per_million > 0
    local = load_config(EXAMPLES / "llamacpp-server.yaml").teacher
    server_teacher = make_teacher(local.backend, **local.backend_options())
    assert isinstance(server_teacher, OpenAITeacher) and server_teacher.grammar_field
    assert server_teacher.base_url.startswith("http://127.0.0.1")
