"""Run configuration: defaults, path resolution and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tvd.config import load_config
from tvd.errors import TvdError

REPO = Path(__file__).resolve().parents[1]


def test_shipped_example_config_loads_with_paths_next_to_it():
    config = load_config(REPO / "examples" / "new-intent" / "config.yaml")
    assert config.data.base == REPO / "examples" / "new-intent" / "base.jsonl"
    assert config.data.seed.is_file() and config.data.test.is_file()
    assert config.teacher.backend == "llamacpp"
    assert config.generation.constrained is True
    assert config.run_dir == Path("runs/new-intent")


def test_defaults_and_run_dir(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {base: b.jsonl, seed: s.jsonl}\n")
    config = load_config(path)
    assert config.data.base == tmp_path / "b.jsonl"
    assert config.data.test is None
    assert config.generation.examples_per_prompt == 10
    assert config.filters == ["exact", "seed", "plausible", "unlabelled", "near_duplicate", "base_conflict"]
    assert config.revalue == 1
    assert config.run_dir == Path("runs/run")


@pytest.mark.parametrize(
    ("text", "code", "needle"),
    [
        ("data: {base: b, seed: s}\ngeneration: {requests: 0}\n", "E504", "generation.requests"),
        ("data: {base: b, seed: s}\nteachr: {}\n", "E504", "teachr"),
        ("data: {seed: s}\n", "E504", "data.base"),
        ("data: {base: b, seed: s}\nfilters: [nope]\n", "E504", "filters.0"),
        ("data: [unclosed\n", "E502", "not valid YAML"),
        ("- a list\n", "E503", "mapping"),
    ],
)
def test_config_errors_name_file_and_field(tmp_path, text, code, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TvdError) as info:
        load_config(path)
    message = str(info.value)
    assert info.value.code == code
    assert str(path) in message and needle in message


def test_missing_config_file(tmp_path):
    with pytest.raises(TvdError, match="E501"):
        load_config(tmp_path / "nope.yaml")


def test_filters_are_any_registered_name(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data: {base: b, seed: s}\nfilters: [exact, language]\n", encoding="utf-8")
    assert load_config(path).filters == ["exact", "language"]


@pytest.mark.parametrize(
    ("block", "code", "needles"),
    [
        ("student: {kind: crf, params: {c3: 0.1}}", "E406", ["`student`", "c3"]),
        ("student: {kind: crf, params: {max_iterations: many}}", "E406", ["`student`", "max_iterations"]),
        ("student: {kind: crff}", "E403", ["`student`", "crff", "crf"]),
        ("filters: [exact, exact]", "E560", ["`filters`", "twice"]),
    ],
)
def test_student_and_filters_are_checked_when_the_config_loads(tmp_path, block, code, needles):
    path = tmp_path / "c.yaml"
    path.write_text(f"data: {{base: b, seed: s}}\n{block}\n")
    with pytest.raises(TvdError) as info:
        load_config(path)
    assert info.value.code == code and info.value.file == str(path)
    assert all(needle in str(info.value) for needle in needles), str(info.value)


def test_valid_student_parameters_load(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {base: b, seed: s}\nstudent: {kind: encoder, params: {epochs: 2, lr: 0.001}}\n")
    assert load_config(path).student.params == {"epochs": 2, "lr": 0.001}


def test_run_levers_defaults_revalue_one_seed_weight_three_validation_five_folds(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {base: b.jsonl, seed: s.jsonl}\n")
    config = load_config(path)
    assert config.filter_options == {} and config.revalue == 1 and config.seed_weight == 3
    assert (config.validation.folds, config.validation.base_per_intent, config.validation.seed) == (5, 100, 0)


def test_run_levers_load(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "data: {base: b, seed: s}\nrevalue: 3\nseed_weight: 2\nvalidation: {folds: 0, base_per_intent: null, seed: 7}\n"
    )
    config = load_config(path)
    assert config.revalue == 3 and config.seed_weight == 2
    assert (config.validation.folds, config.validation.base_per_intent, config.validation.seed) == (0, None, 7)
    path.write_text("data: {base: b, seed: s}\nvalidation: {folds: 2}\n")
    assert load_config(path).validation.folds == 2


@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ("revalue: -1", "revalue"),
        ("seed_weight: 0", "seed_weight"),
        ("validation: {folds: 1}", "validation.folds"),
        ("validation: {folds: -2}", "validation.folds"),
        ("validation: {base_per_intent: 0}", "validation.base_per_intent"),
        ("validation: {fold: 3}", "validation.fold"),
        ("filter_options: {exact: 3}", "filter_options.exact"),
    ],
)
def test_bad_run_levers_are_config_errors(tmp_path, block, needle):
    path = tmp_path / "c.yaml"
    path.write_text(f"data: {{base: b, seed: s}}\n{block}\n")
    with pytest.raises(TvdError) as info:
        load_config(path)
    assert info.value.code == "E504" and needle in str(info.value), str(info.value)


def test_filter_options_are_checked_when_the_config_loads(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {base: b, seed: s}\nfilters: [exact, intent]\nfilter_options: {intent: {margin: 0.5}}\n")
    assert load_config(path).filter_options == {"intent": {"margin": 0.5}}  # intent needs no reference to check
    for block in (
        "filters: [exact]\nfilter_options: {intent: {margin: 0.5}}",  # options for a filter not listed
        "filters: [intent]\nfilter_options: {intent: {margn: 0.5}}",  # an option the filter does not take
    ):
        path.write_text(f"data: {{base: b, seed: s}}\n{block}\n")
        with pytest.raises(TvdError) as info:
            load_config(path)
        assert info.value.code == "E562" and info.value.file == str(path) and "`filters`" in str(info.value)
