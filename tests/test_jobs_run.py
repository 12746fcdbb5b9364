"""The main job end to end on a scripted teacher: files written, nothing lost, resumable, comparison made."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from factories import bio
from tvd.config import load_config
from tvd.errors import TvdError
from tvd.formats import write_dataset
from tvd.jobs.run import generate_data, load_run_data, train_and_compare
from tvd.teachers.scripted import ScriptedTeacher

CITIES = ["dallas", "boston", "austin", "denver", "paris", "rome", "oslo", "lima", "cairo", "kyoto"]


def _teacher_answer(prompt: str, seed: int) -> str:
    """Fills the include block like a good teacher would; one completion in five is malformed."""
    include = re.search(r"<include> (.*) </include>", prompt).group(1)
    k = seed // 1000 + seed % 1000  # request index + sample index
    if k % 5 == 4:
        return "weather in [1 broken"
    parts = []
    for number, value in re.findall(r"\[(\d+) ([^\]]+?) \]", include):
        parts.append(f"[{number} {CITIES[k % len(CITIES)] if value == '*' else value} ]")
    templates = ["what is the weather in {}", "forecast for {} please", "will it be sunny in {}", "weather {}"]
    return templates[k % len(templates)].format(" ".join(parts))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    base = [
        bio("play some jazz", "O O B-genre", "PlayMusic"),
        bio("play music by adele", "O O O B-artist", "PlayMusic"),
        bio("put on rock music", "O O B-genre O", "PlayMusic"),
        bio("play the beatles", "O B-artist I-artist", "PlayMusic"),
        bio("book a table in paris", "O O O O B-city", "BookRestaurant"),
        bio("reserve a restaurant in rome for two", "O O O O B-city O B-party_size_number", "BookRestaurant"),
        bio("book a table for four in oslo", "O O O O B-party_size_number O B-city", "BookRestaurant"),
    ]
    seeds = [
        bio("weather in boston", "O O B-city", "GetWeather"),
        bio("what is the forecast for denver", "O O O O O B-city", "GetWeather"),
    ]
    test = [
        bio("weather in lima", "O O B-city", "GetWeather"),
        bio("what is the weather in cairo", "O O O O O B-city", "GetWeather"),
        bio("play jazz", "O B-genre", "PlayMusic"),
        bio("book a table in kyoto", "O O O O B-city", "BookRestaurant"),
    ]
    for name, data in (("base", base), ("seed", seeds), ("test", test)):
        write_dataset(data, tmp_path / f"{name}.jsonl", "jsonl")
    (tmp_path / "config.yaml").write_text(
        f"name: t\noutput_dir: {tmp_path / 'run'}\n"
        "data: {base: base.jsonl, seed: seed.jsonl, test: test.jsonl}\n"
        "generation: {requests: 8, samples_per_request: 2, examples_per_prompt: 2}\n"
        "filters: [exact, seed]\n"
    )
    return tmp_path


def test_run_writes_every_output_and_accounts_for_every_completion(project):
    config = load_config(project / "config.yaml")
    data = load_run_data(config, log=lambda *_: None)
    assert data.intent == "GetWeather"
    teacher = ScriptedTeacher(_teacher_answer)
    generated = generate_data(config, data, teacher=teacher, progress=False, log=lambda *_: None)
    run = project / "run"
    lines = {
        name: (run / name).read_text().splitlines() for name in ("generated.jsonl", "rejects.jsonl", "filtered.jsonl")
    }
    stats = generated.stats
    assert stats.samples == 16 == stats.accepted + sum(stats.rejected.values())
    assert len(lines["rejects.jsonl"]) == sum(stats.rejected.values()) > 0
    assert json.loads(lines["rejects.jsonl"][0])["reason"] == "unbalanced_bracket"
    assert len(lines["generated.jsonl"]) + len(lines["filtered.jsonl"]) == stats.accepted
    assert len(lines["generated.jsonl"]) == len(generated.kept) > 0
    assert all(json.loads(line)["intent"] == "GetWeather" for line in lines["generated.jsonl"])

    comparison = train_and_compare(config, data, generated, log=lambda *_: None)
    assert set(comparison.metrics) == {"baseline", "augmented"}
    summary = json.loads((run / "metrics.json").read_text())
    assert summary == json.loads(json.dumps(comparison.summary))
    assert summary["n_generated"] == len(generated.kept)
    # the default revalue: 1 re-fills each kept utterance once (fewer where the catalogue has no new value)
    assert summary["n_revalued"] == len(generated.revalued) == len((run / "revalued.jsonl").read_text().splitlines())
    assert 0 < len(generated.revalued) <= len(generated.kept)
    assert summary["seed_weight"] == 3 and summary["baseline_reused"] is False  # the default: seeds 3 times
    added = len(generated.kept) + len(generated.revalued) + 2 * len(data.seeds)
    assert summary["train_sizes"]["augmented"] == summary["train_sizes"]["baseline"] + added
    assert (run / "students" / "baseline" / "student.json").is_file()
    assert (run / "students" / "augmented" / "student.json").is_file()

    # a second run is served from the cache: the teacher is not called again
    again = generate_data(config, data, teacher=teacher, progress=False, log=lambda *_: None)
    assert teacher.calls == 16 and again.stats.cached == 16


def test_seed_file_with_mixed_intents_needs_intent(project):
    write_dataset(
        [bio("weather in boston", "O O B-city", "GetWeather"), bio("play jazz", "O B-genre", "PlayMusic")],
        project / "seed.jsonl",
        "jsonl",
    )
    config = load_config(project / "config.yaml")
    with pytest.raises(TvdError, match="E511"):
        load_run_data(config, log=lambda *_: None)
    config.intent = "GetWeather"
    with pytest.raises(TvdError, match="E512"):
        load_run_data(config, log=lambda *_: None)


def test_malformed_input_line_stops_or_is_skipped_and_reported(project):
    with (project / "base.jsonl").open("a") as handle:
        handle.write('{"text": "broken", "slots": [{"start": 0, "end": 99, "label": "x"}]}\n')
    config = load_config(project / "config.yaml")
    with pytest.raises(TvdError) as info:
        load_run_data(config, log=lambda *_: None)
    assert "base.jsonl:8" in str(info.value)
    config.data.skip_errors = True
    data = load_run_data(config, log=lambda *_: None)
    assert len(data.base) == 7
    problems = (project / "run" / "input_problems.jsonl").read_text().splitlines()
    assert len(problems) == 1 and json.loads(problems[0])["line"] == 8


@pytest.mark.slow
def test_generation_on_the_embedded_teacher(project):
    """The real default teacher (Gemma 3 270M through llama.cpp), grammar-constrained: every completion
    parses, and a re-run reproduces the same data from the cache."""
    config = load_config(project / "config.yaml")
    config.generation.requests = 3
    data = load_run_data(config, log=lambda *_: None)
    generated = generate_data(config, data, progress=False, log=lambda *_: None)
    stats = generated.stats
    assert stats.samples == 6 and stats.sent == 6
    assert stats.accepted + sum(stats.rejected.values()) == 6
    assert stats.accepted >= 4  # the grammar leaves only truncation as a way to fail
    for line in (project / "run" / "generated.jsonl").read_text().splitlines():
        record = json.loads(line)
        assert record["intent"] == "GetWeather" and {s["label"] for s in record["slots"]} <= {"city"}
    first = (project / "run" / "generated.jsonl").read_text()
    again = generate_data(config, data, progress=False, log=lambda *_: None)
    assert again.stats.cached == 6 and (project / "run" / "generated.jsonl").read_text() == first


def _cli_run(config: Path):
    from click.testing import CliRunner

    from tvd.cli.main import main

    return CliRunner().invoke(main, ["run", str(config), "--no-progress"])


def test_a_bad_student_parameter_stops_tvd_run_before_the_teacher_is_called(tmp_path: Path) -> None:
    from fault_server import FaultServer, write_project

    with FaultServer(max_seconds=30) as server:
        teacher = {"backend": "openai", "options": {"base_url": server.url, "model": "test-model"}}
        config = write_project(tmp_path, teacher, {"requests": 2, "samples_per_request": 1})
        raw = json.loads(config.read_text())
        config.write_text(json.dumps({**raw, "student": {"kind": "crf", "params": {"max_iteration": 5}}}))
        result = _cli_run(config)
        assert server.total == 0  # nothing sent, nothing paid
    assert result.exit_code == 1 and "[E406]" in result.stderr and str(config) in result.stderr
    assert "max_iteration" in result.stderr and "Traceback" not in result.output + result.stderr
    assert not (tmp_path / "run").exists()


def test_generate_data_checks_a_config_changed_in_code_before_building_the_teacher(project: Path) -> None:
    config = load_config(project / "config.yaml")
    data = load_run_data(config, log=lambda *_: None)
    config.student.params = {"no_such_parameter": 1}
    teacher = ScriptedTeacher(_teacher_answer)
    with pytest.raises(TvdError, match="E406"):
        generate_data(config, data, teacher=teacher, progress=False, log=lambda *_: None)
    assert teacher.calls == 0 and not (project / "run" / "cache.sqlite").exists()


def test_an_empty_test_file_is_an_error_before_generation(tmp_path: Path) -> None:
    from fault_server import FaultServer, write_project

    with FaultServer(max_seconds=30) as server:
        teacher = {"backend": "openai", "options": {"base_url": server.url, "model": "test-model"}}
        config = write_project(tmp_path, teacher, {"requests": 2, "samples_per_request": 1})
        (tmp_path / "test.jsonl").write_text("")
        result = _cli_run(config)
        assert server.total == 0
    assert result.exit_code == 1 and "[E113]" in result.stderr and str(tmp_path / "test.jsonl") in result.stderr
    assert not (tmp_path / "run" / "cache.sqlite").exists()


def test_a_test_file_of_only_skipped_records_is_empty_too_and_no_test_file_is_allowed(project: Path) -> None:
    (project / "test.jsonl").write_text('{"text": "broken", "slots": [{"start": 0, "end": 99, "label": "x"}]}\n')
    config = load_config(project / "config.yaml")
    config.data.skip_errors = True
    with pytest.raises(TvdError) as info:
        load_run_data(config, log=lambda *_: None)
    assert info.value.code == "E113" and "skipped" in info.value.message
    config.data.test = None  # no test set configured: allowed (the run trains but does not evaluate)
    assert load_run_data(config, log=lambda *_: None).test == []


# -- re-valued data, seed weight, seed cross-validation, the filters' reference student --------------------


class _CountingStudents:
    """Stands in for ``make_student`` in :mod:`tvd.jobs.run`: real students, each fit recorded with its training
    size and how many teacher calls had been made by then."""

    def __init__(self, teacher: ScriptedTeacher) -> None:
        self.teacher = teacher
        self.fits: list[tuple[int, int]] = []

    def __call__(self, kind: str, **params):
        from tvd.students import make_student

        student = make_student(kind, **params)
        fit, fits, teacher = student.fit, self.fits, self.teacher

        def counted(train):
            fits.append((len(train), teacher.calls))
            return fit(train)

        student.fit = counted  # type: ignore[method-assign]
        return student


def test_revalued_data_and_seed_weight_go_into_the_augmented_student_and_metrics(project: Path) -> None:
    with (project / "config.yaml").open("a") as handle:
        handle.write("revalue: 2\nseed_weight: 3\nvalidation: {folds: 2}\n")
    config = load_config(project / "config.yaml")
    data = load_run_data(config, log=lambda *_: None)
    lines: list[str] = []
    generated = generate_data(config, data, teacher=ScriptedTeacher(_teacher_answer), progress=False, log=lines.append)
    run = project / "run"
    revalued = [json.loads(line) for line in (run / "revalued.jsonl").read_text().splitlines()]
    assert len(revalued) == len(generated.revalued) > 0
    assert len((run / "generated.jsonl").read_text().splitlines()) == len(generated.kept)  # the teacher's only
    assert all(r["meta"]["source"] == "revalue" for r in revalued)
    kept_texts = {u.text for u in generated.kept}
    assert all(r["meta"]["revalued_from"] in kept_texts and r["text"] not in kept_texts for r in revalued)
    assert len(generated.revalued) <= 2 * len(generated.kept)
    assert any(line.startswith(f"re-valued: {len(revalued)} variant(s)") for line in lines)

    comparison = train_and_compare(config, data, generated, log=lines.append)
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["n_revalued"] == len(revalued) and summary["revalue"] == 2 and summary["seed_weight"] == 3
    sizes = summary["train_sizes"]
    assert sizes["baseline"] == len(data.base) + len(data.seeds)
    assert sizes["augmented"] == len(data.base) + 3 * len(data.seeds) + len(generated.kept) + len(revalued)
    validation = summary["seed_validation"]
    assert validation == json.loads(json.dumps(comparison.seed_validation.to_dict()))
    assert validation["folds"] == 2 and len(validation["fold_results"]) == 2 and validation["seed_weight"] == 3
    assert validation["n_generated"] == len(generated.kept) + len(revalued)
    assert validation["recommended"] in {"augmented", "baseline"}
    assert validation["verdict"] in {"augmented", "baseline", "uncertain"}
    assert any(line.startswith("seed cross-validation fold 2/2") for line in lines)


def test_more_folds_than_seeds_are_cut_to_one_per_seed_and_zero_folds_is_off(project: Path) -> None:
    config = load_config(project / "config.yaml")  # validation.folds defaults to 5; the project has 2 seeds
    assert config.validation.folds == 5
    data = load_run_data(config, log=lambda *_: None)
    teacher = ScriptedTeacher(_teacher_answer)
    generated = generate_data(config, data, teacher=teacher, progress=False, log=lambda *_: None)
    lines: list[str] = []
    comparison = train_and_compare(config, data, generated, log=lines.append)
    assert comparison.seed_validation is not None and comparison.seed_validation.folds == 2
    assert "seed cross-validation: 5 folds asked for 2 seeds; using 2" in lines
    config.validation.folds = 0
    off = train_and_compare(config, data, generated, log=lambda *_: None)
    assert off.seed_validation is None
    assert json.loads((project / "run" / "metrics.json").read_text())["seed_validation"] is None


def test_a_filter_that_needs_a_reference_gets_the_baseline_trained_once_before_generation(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tvd.jobs.run as run_job

    with (project / "config.yaml").open("a") as handle:
        handle.write("validation: {folds: 0}\n")
    config = load_config(project / "config.yaml")
    config.filters = ["exact", "seed", "intent"]
    config.check()
    data = load_run_data(config, log=lambda *_: None)
    teacher = ScriptedTeacher(_teacher_answer)
    students = _CountingStudents(teacher)
    monkeypatch.setattr(run_job, "make_student", students)
    given: list[object] = []
    augment = run_job.linguist_job.augment

    def spy(*args, **kwargs):
        given.append(kwargs.get("reference"))
        return augment(*args, **kwargs)

    monkeypatch.setattr(run_job.linguist_job, "augment", spy)
    lines: list[str] = []
    generated = generate_data(config, data, teacher=teacher, progress=False, log=lines.append)
    baseline_size = len(data.base) + len(data.seeds)
    assert students.fits == [(baseline_size, 0)]  # trained once, before the teacher was asked anything
    assert generated.reference is not None and given == [generated.reference.student]
    assert any("needs a reference student" in line for line in lines)

    comparison = train_and_compare(config, data, generated, log=lines.append)
    added = len(generated.kept) + len(generated.revalued) + 2 * len(data.seeds)  # seeds 3 times by default
    assert students.fits == [(baseline_size, 0), (baseline_size + added, teacher.calls)]
    assert set(comparison.metrics) == {"baseline", "augmented"}
    assert comparison.summary["baseline_reused"] is True
    assert (project / "run" / "students" / "baseline" / "student.json").is_file()


def test_generation_alone_trains_no_student_unless_a_filter_needs_one(project: Path, monkeypatch) -> None:
    import tvd.jobs.run as run_job

    config = load_config(project / "config.yaml")
    data = load_run_data(config, log=lambda *_: None)
    teacher = ScriptedTeacher(_teacher_answer)
    students = _CountingStudents(teacher)
    monkeypatch.setattr(run_job, "make_student", students)
    lines: list[str] = []
    assert generate_data(config, data, teacher=teacher, progress=False, log=lines.append).reference is None
    assert students.fits == [] and not any("reference" in line for line in lines)


def _cli(*args: str):
    from click.testing import CliRunner

    from tvd.cli.main import main

    return CliRunner().invoke(main, list(args))


def test_tvd_run_without_a_test_set_prints_and_stores_the_seed_estimate(tmp_path: Path) -> None:
    from fault_server import FaultServer, write_project

    with FaultServer(max_seconds=60) as server:
        teacher = {"backend": "openai", "options": {"base_url": server.url, "model": "test-model"}}
        config = write_project(tmp_path, teacher, {"requests": 4, "samples_per_request": 2})
        raw = json.loads(config.read_text())
        del raw["data"]["test"]
        config.write_text(json.dumps({**raw, "validation": {"folds": 3}}))
        result = _cli("run", str(config), "--no-progress")
        assert result.exit_code == 0, result.output + result.stderr
        assert "seed cross-validation (3 folds, no test set needed): slot F1 " in result.output
        assert "-> recommended: " in result.output and "optimistic" in result.output
        summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert summary["metrics"] == {} and summary["seed_validation"]["folds"] == 3

        result = _cli("run", str(config), "--no-progress", "--no-validation")
        assert result.exit_code == 0, result.output + result.stderr
        assert "seed cross-validation" not in result.output
        assert json.loads((tmp_path / "run" / "metrics.json").read_text())["seed_validation"] is None


def _german_teacher(prompt: str, seed: int) -> str:
    """Translates a seed ("English: ... / German:" prompt) into German, English once; writes German LINGUIST lines."""
    if prompt.endswith("German:"):
        source = prompt.rsplit("English: ", 1)[1].split("\n", 1)[0]
        if source.startswith("what is"):
            return " what is the forecast for [1 denver ] today"  # still English: the language filter's
        return " wie wird das Wetter heute in " + source.split("in ", 1)[1] + " sein"
    include = re.search(r"<include> (.*) </include>", prompt).group(1)
    slots = " ".join(
        f"[{n} {CITIES[seed % len(CITIES)] if v == '*' else v} ]"
        for n, v in re.findall(r"\[(\d+) ([^\]]+?) \]", include)
    )
    return f"wie ist das Wetter morgen früh in {slots} bitte sag es mir"


def test_a_run_in_another_language_translates_the_seeds_and_keeps_every_record(project: Path) -> None:
    config = load_config(project / "config.yaml")
    config = config.model_copy(update={"generation": config.generation.model_copy(update={"language": "de"})})
    data = load_run_data(config, log=lambda *_: None)
    generated = generate_data(
        config, data, teacher=ScriptedTeacher(_german_teacher), progress=False, log=lambda *_: None
    )
    run = project / "run"
    kept = [json.loads(line) for line in (run / "generated.jsonl").read_text().splitlines()]
    filtered = [json.loads(line) for line in (run / "filtered.jsonl").read_text().splitlines()]
    assert [u["meta"]["source"] for u in kept][:1] == ["translation"]  # the German translation, first
    assert kept and all(u["language"] == "de" for u in kept)
    assert any(u["meta"]["source"] == "linguist" for u in kept)
    # the English "translation" was removed by the language check, with its reason, not silently
    assert any(r["reason"] == "wrong_language" and "forecast" in r["text"] for r in filtered)
    assert len(generated.kept) == len(kept)
