"""Hugging Face datasets: ClassLabel columns, foreign column names, save_to_disk and DatasetDict directories."""

from __future__ import annotations

import pytest

datasets = pytest.importorskip("datasets")

from tvd.data.utterance import Span, Utterance  # noqa: E402
from tvd.errors import TvdError  # noqa: E402
from tvd.formats import hf, read_dataset, write_dataset  # noqa: E402

UTTERANCES = [
    Utterance("fly to new york on friday", "book", (Span(7, 15, "city"), Span(19, 25, "date"))),
    Utterance("東京の天気", "weather", (Span(0, 2, "city"),), language="ja"),
    Utterance("今日 の 天気", "weather", (Span(0, 2, "date"),), language="ja", tokens=((0, 1), (1, 2), (3, 4), (5, 7))),
    Utterance("hello", None),
]


def test_to_hf_dataset_columns_and_features():
    ds = hf.to_hf_dataset(UTTERANCES)
    assert ds.column_names == ["text", "tokens", "tags", "intent", "language"]
    assert ds.features["intent"].names == ["book", "weather"]
    assert ds.features["tags"].feature.names == ["O", "B-city", "I-city", "B-date", "I-date"]
    row = ds[0]
    assert row["tokens"] == ["fly", "to", "new", "york", "on", "friday"]
    assert row["tags"] == [0, 0, 1, 2, 0, 3]
    assert (ds[1]["tokens"], ds[3]["intent"], ds[1]["language"]) == (["東京", "の天気"], -1, "ja")
    assert hf.from_hf_dataset(ds) == UTTERANCES


def test_from_hf_dataset_with_plain_strings_and_other_column_names():
    ds = datasets.Dataset.from_dict(
        {"words": [["play", "some", "jazz"]], "ner_tags": [["O", "O", "B-genre"]], "label": ["PlayMusic"]}
    )
    (utterance,) = hf.from_hf_dataset(ds, language="de")
    assert (utterance.text, utterance.intent, utterance.slots, utterance.language) == (
        "play some jazz", "PlayMusic", [("genre", "jazz")], "de")
    named = datasets.Dataset.from_dict({"toks": [["a", "b"]], "bio": [["B-x", "I-x"]]})
    assert hf.from_hf_dataset(named, tokens_column="toks", tags_column="bio")[0].slots == [("x", "a b")]
    with pytest.raises(TvdError) as info:
        hf.from_hf_dataset(named)
    assert info.value.code == "E103" and "tokens" in info.value.message


def test_save_to_disk_round_trip(tmp_path):
    write_dataset(UTTERANCES, tmp_path / "ds", "hf")
    assert (tmp_path / "ds" / "dataset_info.json").is_file()
    result = read_dataset(tmp_path / "ds")
    assert result.format == "hf" and result.utterances == UTTERANCES
    write_dataset(UTTERANCES[:1], tmp_path / "ds", "hf")  # replaces the old dataset
    assert read_dataset(tmp_path / "ds").utterances == UTTERANCES[:1]


def test_dataset_dict_needs_a_split(tmp_path):
    ds = hf.to_hf_dataset(UTTERANCES)
    datasets.DatasetDict({"train": ds.select([0, 1]), "test": ds.select([2])}).save_to_disk(str(tmp_path / "dd"))
    assert read_dataset(tmp_path / "dd", split="test").utterances == UTTERANCES[2:3]
    with pytest.raises(TvdError) as info:
        read_dataset(tmp_path / "dd")
    assert info.value.code == "E103" and "train" in info.value.fix and "test" in info.value.fix


def test_malformed_rows_and_skip_mode(tmp_path):
    ds = datasets.Dataset.from_dict(
        {
            "tokens": [["fly", "to", "rome"], ["fly", "home"], ["to", "oslo"], ["x"]],
            "tags": [["O", "O", "B-city"], ["O"], ["O", "B-town"], ["Q-x"]],
            "intent": ["book", "book", "book", "book"],
        }
    )
    ds.save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(TvdError) as info:
        read_dataset(tmp_path / "bad")
    assert (info.value.code, info.value.file, info.value.line) == ("E104", str(tmp_path / "bad"), 2)
    result = read_dataset(tmp_path / "bad", skip_errors=True, labels={"city"})
    assert [u.text for u in result.utterances] == ["fly to rome"]
    assert [(p.code, p.line) for p in result.problems] == [("E104", 2), ("E107", 3), ("E104", 4)]


def test_writer_refuses_slots_off_its_tokens(tmp_path):
    off = Utterance("fly to dallas", "book", (Span(7, 10, "city"),), tokens=((0, 3), (4, 6), (7, 13)))
    with pytest.raises(TvdError) as info:
        write_dataset([off], tmp_path / "ds", "hf")
    assert info.value.code == "E110" and info.value.file == str(tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_cells_are_not_coerced_and_tag_ids_stay_in_range(tmp_path):
    ds = datasets.Dataset.from_dict(
        {"tokens": [["a", "b"], ["c"]], "tags": [["O", "O"], ["O"]], "intent": [5, 6]}
    )
    with pytest.raises(TvdError) as info:
        hf.from_hf_dataset(ds)
    assert (info.value.code, info.value.line) == ("E109", 1) and "intent" in info.value.message
    numbers = datasets.Dataset.from_dict({"tokens": [[1, 2]], "tags": [["O", "O"]]})
    with pytest.raises(TvdError) as info:
        hf.from_hf_dataset(numbers)
    assert info.value.code == "E109" and "tokens" in info.value.message
    labelled = hf.to_hf_dataset([Utterance("fly to rome", "book", (Span(7, 11, "city"),))])
    minus_one = labelled.map(lambda row: {"tags": [0, 0, -1]}, features=labelled.features)
    with pytest.raises(TvdError) as info:
        hf.from_hf_dataset(minus_one)  # -1 used to index the last tag name
    assert info.value.code == "E104"


def test_no_utterances_and_no_intents_round_trip(tmp_path):
    for utterances in ([], [Utterance("hello", None)]):
        write_dataset(utterances, tmp_path / "ds", "hf")
        assert read_dataset(tmp_path / "ds").utterances == utterances


def test_damaged_arrow_data_is_e103(tmp_path):
    write_dataset(UTTERANCES, tmp_path / "ds", "hf")
    (arrow,) = (tmp_path / "ds").glob("*.arrow")
    arrow.write_bytes(arrow.read_bytes()[:100])
    with pytest.raises(TvdError) as info:
        read_dataset(tmp_path / "ds", skip_errors=True)
    assert info.value.code == "E103" and info.value.file == str(tmp_path / "ds")


def test_writer_refuses_tokens_it_could_not_find_in_the_text_again(tmp_path):
    with pytest.raises(TvdError) as info:
        write_dataset([Utterance("fly home", "go", tokens=((4, 8),))], tmp_path / "ds", "hf")
    assert info.value.code == "E110" and "'fly '" in info.value.message
    write_dataset([Utterance("fly home?", "go", tokens=((0, 3), (4, 8)))], tmp_path / "ds", "hf")  # tail: kept
    assert read_dataset(tmp_path / "ds").utterances[0].tokens == ((0, 3), (4, 8))
