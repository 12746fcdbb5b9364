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


# -- issue 13: bad bytes, lone surrogates, strict types, unknown fields ------------------------------------------


def test_lone_surrogate_escape_is_e112_naming_file_and_line(tmp_path):
    path = _lines(tmp_path, {"text": "fine", "intent": "x"}, '{"text": "caf\\ud800", "intent": "x"}')
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.file, info.value.line) == ("E112", path, 2)
    assert "U+D800" in info.value.message and "fix:" in str(info.value)
    result = read_dataset(path, skip_errors=True)
    assert [u.text for u in result.utterances] == ["fine"] and [p.code for p in result.problems] == ["E112"]


def test_invalid_utf8_line_is_skipped_and_listed_not_the_whole_file(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"text": "one"}\n{"text": "caf\xe9"}\n{"text": "three"}\n')
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.line) == ("E112", 2) and "UTF-8" in info.value.message
    result = read_dataset(path, skip_errors=True)
    assert [u.text for u in result.utterances] == ["one", "three"]
    (problem,) = result.problems
    assert (problem.code, problem.file, problem.line) == ("E112", str(path), 2)
    assert problem.raw == '{"text": "caf\ufffd"}'  # the bytes shown as replacement characters


@pytest.mark.parametrize(
    ("slot", "code"),
    [
        ({"start": 0, "end": 21.5, "label": "x"}, "E109"),
        ({"start": True, "end": 3, "label": "x"}, "E109"),
        ({"start": "0", "end": 3, "label": "x"}, "E109"),
        ({"start": 0, "end": 3, "label": 7}, "E109"),
        ({"start": 0, "end": 3, "label": ""}, "E109"),
        ({"start": 0, "end": 3, "label": "x", "value": 3}, "E109"),
        ({"start": -1, "end": 3, "label": "x"}, "E106"),
        ({"start": 3, "end": 1, "label": "x"}, "E106"),
    ],
)
def test_offsets_and_labels_are_not_coerced(tmp_path, slot, code):
    path = _lines(tmp_path, {"text": "fly home", "intent": "go", "slots": [slot]})
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.line) == (code, 1)


@pytest.mark.parametrize(
    "record",
    [
        {"text": "hi", "intent": 5},
        {"text": "hi", "language": 1},
        {"text": 3},
        {"text": "hi", "slots": "abc"},
        {"text": "hi", "meta": ["ab"]},
        {"text": "hi", "tokens": [["0", "2"]]},
    ],
)
def test_fields_of_the_wrong_type_are_e109(tmp_path, record):
    with pytest.raises(TvdError) as info:
        read_dataset(_lines(tmp_path, record))
    assert (info.value.code, info.value.line) == ("E109", 1)


def test_nan_and_huge_integers_are_e109_not_a_crash(tmp_path):
    path = _lines(tmp_path, '{"text": "hi", "meta": {"x": NaN}}', '{"text": "hi", "meta": {"x": ' + "1" * 5000 + "}}")
    result = read_dataset(path, skip_errors=True)
    assert [(p.code, p.line) for p in result.problems] == [("E109", 1), ("E109", 2)]


def test_unknown_fields_are_kept_and_written_back_where_they_were(tmp_path):
    record = {"text": "fly to rome", "intent": "book", "language": "en",
              "slots": [{"start": 7, "end": 11, "label": "city", "value": "rome", "role": "to"}],
              "source": "web", "score": 0.5, "meta": {"id": 3}}
    path = _lines(tmp_path, record)
    (utterance,) = read_dataset(path).utterances
    assert utterance.meta == {"id": 3, "jsonl_extra": {"source": "web", "score": 0.5},
                              "jsonl_slot_extra": [{"start": 7, "end": 11, "role": "to"}]}
    out = tmp_path / "out.jsonl"
    write_dataset([utterance], out, "jsonl")
    assert json.loads(out.read_text(encoding="utf-8")) == record
    assert read_dataset(out).utterances[0].meta == utterance.meta


def test_writer_refuses_lone_surrogates_and_an_empty_language(tmp_path):
    for utterance, reason in [(Utterance("caf\udce9", "x"), "U+DCE9"), (Utterance("hi", "x", language=""), "language")]:
        with pytest.raises(TvdError) as info:
            jsonl.write([utterance], tmp_path / "out.jsonl")
        assert info.value.code == "E110" and reason in info.value.message and "utterance 1" in info.value.message
    assert list(tmp_path.iterdir()) == []
