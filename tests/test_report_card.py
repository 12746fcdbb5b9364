"""Dataset cards: the README.md of a Hugging Face datasets folder, with a run's provenance when there is one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from factories import THREE_INTENTS
from report_cases import make_run
from tvd.cli.main import main
from tvd.formats import read_dataset, write_dataset
from tvd.formats.hf import CARD_FILE, dataset_card
from tvd.report.card import provenance_of_file, run_provenance


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("card"))


def test_the_provenance_of_a_run_says_teacher_settings_filters_sizes_and_metrics(run_dir: Path) -> None:
    provenance = run_provenance(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    assert provenance["teacher"] == {"backend": "scripted", "fingerprint": "scripted:scripted"}
    assert provenance["generation"]["requests"] == 10 and provenance["filters"] == ["exact", "seed", "template"]
    assert provenance["filter_counts"] == run["filter_counts"] and provenance["data"]["seeds"] == 3
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    assert provenance["metrics"]["augmented"]["slot F1"] == metrics["augmented"]["slots"]["f1"]
    assert provenance_of_file(run_dir / "generated.jsonl")["source_file"] == "generated.jsonl"
    assert provenance_of_file(run_dir / "metrics.json") is None


def test_converting_a_run_file_to_hf_writes_a_card_with_its_provenance(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = CliRunner().invoke(main, ["convert", str(run_dir / "generated.jsonl"), str(out), "--to", "hf"])
    assert result.exit_code == 0, result.output
    assert "provenance of run 'toy'" in result.output
    card = (out / CARD_FILE).read_text(encoding="utf-8")
    assert card.startswith("---\nlicense: null")  # left for the user, and the card says so
    assert "scripted:scripted" in card and "template_duplicate" in card and "seed data: 3 utterances" in card
    assert "## Metrics of the run" in card and "| slot F1 |" in card
    assert "fill in `license:`" in card
    generated = read_dataset(run_dir / "generated.jsonl").utterances
    assert len(read_dataset(out, "hf").utterances) == len(generated)  # the card does not disturb loading
    assert f"| GetWeather | {len(generated)} |" in card


def test_other_data_gets_a_card_of_its_contents_only(tmp_path: Path) -> None:
    source = tmp_path / "data.jsonl"
    write_dataset(THREE_INTENTS, source, "jsonl")
    result = CliRunner().invoke(main, ["convert", str(source), str(tmp_path / "ds"), "--to", "hf"])
    assert result.exit_code == 0 and "describes the data only" in result.output
    card = (tmp_path / "ds" / CARD_FILE).read_text(encoding="utf-8")
    assert "## How it was made" not in card and "- synthetic" not in card
    assert "| PlayMusic | 4 |" in card and "`city` 6" in card
    assert "Where the utterances come from (`meta.source`): not recorded 12." in card


def test_dataset_card_lists_teachers_from_the_utterances_meta() -> None:
    teacher = [u.replace(meta={"teacher": "llamacpp:model.gguf:1:abc", "source": "linguist"}) for u in THREE_INTENTS]
    card = dataset_card(teacher)
    assert "- `llamacpp:model.gguf:1:abc`: 12 utterances" in card and "- synthetic" in card
    assert "size_categories: n<1K" in card and "language:\n- en\n" in card
