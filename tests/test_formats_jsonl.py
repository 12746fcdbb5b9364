"""Native JSONL: round trip, malformed lines, skip-and-report."""

from __future__ import annotations

import json

import pytest

from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError
from tvd.formats import jsonl, read_dataset, write_dataset

UTTERANCES = [
    Utterance("what is the weather in dallas", "GetWeather", (Span(23, 29, "city"),), meta={"id": "7"}),
    Utterance("東京の天気", "GetWeather", (Span(0, 2, "city"),), language="ja"),
    Utterance("今日 の 天気", "GetWeather", (Span(0, 2, "date"),), language="ja",
              tokens=((0, 1), (1, 2), (3, 4), (5, 7))),
    Utterance("hello there", None),
]


def test_round_trip_keeps_everything(tmp_path):
    path = tmp_path / "data.jsonl"
    write_dataset(UTTERANCES, path, "jsonl")
    result = read_dataset(path)
    assert result.format == "jsonl"
    assert result.utterances == UTTERANCES
    assert [u.meta for u in result.utterances] == [u.meta for u in UTTERANCES]
    assert result.utterances[2].tokens == ((0, 1), (1, 2), (3, 4), (5, 7))
    assert "東京" in path.read_text(encoding="utf-8")  # not \u-escaped


def _lines(tmp_path, *records: object) -> str:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return str(path)


def test_span_outside_text_names_file_and_line(tmp_path):
    path = _lines(
        tmp_path,
        {"text": "fly to dallas", "slots": [{"start": 7, "end": 13, "label": "city"}]},
        {"text": "fly to rome", "slots": [{"start": 7, "end": 30, "label": "city"}]},
    )
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert info.value.code == "E106"
    assert info.value.file == path and info.value.line == 2
    assert f"{path}:2" in str(info.value) and "outside" in str(info.value) and "fix:" in str(info.value)


def test_skip_mode_reports_problems_and_keeps_good_records(tmp_path):
    path = _lines(
        tmp_path,
        {"text": "fly to dallas", "intent": "book", "slots": [{"start": 7, "end": 13, "label": "city"}]},
        "{not json",
        "",
        {"text": "fly to rome", "slots": [{"start": 7, "end": 11, "label": "city", "value": "paris"}]},
        ["a list"],
        {"text": "fly to oslo", "language": "nb"},
    )
    result = read_dataset(path, skip_errors=True, language="de")
    assert [u.text for u in result.utterances] == ["fly to dallas", "fly to oslo"]
    assert [u.language for u in result.utterances] == ["de", "nb"]  # language fills records without one
    assert [(p.code, p.line) for p in result.problems] == [("E109", 2), ("E106", 4), ("E109", 5)]
    assert result.problems[0].raw == "{not json" and result.problems[0].file == path


def test_unknown_label_is_malformed_when_labels_given(tmp_path):
    path = _lines(tmp_path, {"text": "fly to dallas", "slots": [{"start": 7, "end": 13, "label": "town"}]})
    with pytest.raises(TvdError) as info:
        read_dataset(path, labels={"city"})
    assert (info.value.code, info.value.line) == ("E107", 1) and "town" in info.value.message
    assert read_dataset(path, labels={"town"}).utterances[0].slots == [("town", "dallas")]


def test_writer_refuses_meta_that_is_not_json_and_writes_nothing(tmp_path):
    path = tmp_path / "out.jsonl"
    with pytest.raises(TvdError) as info:
        jsonl.write([UTTERANCES[0], Utterance("x", meta={"obj": object()})], path)
    assert info.value.code == "E110" and "utterance 2" in info.value.message
    assert not path.exists() and list(tmp_path.iterdir()) == []
