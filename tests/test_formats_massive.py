"""MASSIVE JSONL: [label : value] markup, meta written back, malformed annotations."""

from __future__ import annotations

import json

import pytest

from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError
from tvd.formats import massive, read_dataset, write_dataset

RECORDS = [
    {"id": "1", "locale": "en-US", "partition": "train", "scenario": "alarm", "intent": "alarm_set",
     "utt": "wake me up at nine am on friday",
     "annot_utt": "wake me up at [time : nine am] on [date : friday]", "worker_id": "7"},
    {"id": "2", "locale": "ja-JP", "partition": "test", "scenario": "weather", "intent": "weather_query",
     "utt": "東京の天気は", "annot_utt": "[place_name : 東京]の天気は"},
    {"id": "3", "locale": "en-US", "partition": "train", "scenario": "alarm", "intent": "alarm_set",
     "utt": "set an alarm for 10:30 am", "annot_utt": "set an alarm for [time : 10:30 am]"},
]


def _file(tmp_path, records, name="data.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_reads_slots_language_and_meta(tmp_path):
    result = read_dataset(_file(tmp_path, RECORDS))
    assert result.format == "massive"
    first, second, third = result.utterances
    assert first.slots == [("time", "nine am"), ("date", "friday")]
    assert (first.intent, first.language) == ("alarm_set", "en")
    assert first.meta == {"id": "1", "locale": "en-US", "partition": "train", "scenario": "alarm",
                          "massive_extra": {"worker_id": "7"}}
    assert (second.text, second.language, second.slots) == ("東京の天気は", "ja", [("place_name", "東京")])
    assert third.slots == [("time", "10:30 am")]  # the label ends at the first colon


def test_round_trip_writes_the_same_records(tmp_path):
    utterances = read_dataset(_file(tmp_path, RECORDS)).utterances
    out = tmp_path / "out.jsonl"
    write_dataset(utterances, out, "massive")
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written == RECORDS
    assert read_dataset(out).utterances == utterances


def test_round_trip_without_massive_meta(tmp_path):
    utterances = [
        Utterance("大阪に行く", "travel_query", (Span(0, 2, "place_name"),), language="ja"),
        Utterance("play jazz", "PlayMusic", (Span(5, 9, "genre"),)),
    ]
    out = tmp_path / "out.jsonl"
    massive.write(utterances, out)
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first == {"id": "1", "locale": "ja", "scenario": "travel", "intent": "travel_query",
                     "utt": "大阪に行く", "annot_utt": "[place_name : 大阪]に行く"}
    assert read_dataset(out, "massive").utterances == utterances


@pytest.mark.parametrize(
    ("annot", "code", "words"),
    [
        ("wake me at [time : nine", "E105", "unbalanced '['"),
        ("wake me at time : nine]", "E105", "unbalanced ']'"),
        ("wake me at [time nine]", "E105", "missing ':'"),
        ("wake me at [time : [nine]]", "E105", "unbalanced"),
        ("wake me at [time : ten]", "E106", "utt"),
    ],
)
def test_malformed_annotation_names_file_and_line(tmp_path, annot, code, words):
    bad = {"intent": "alarm_set", "locale": "en-US", "utt": "wake me at nine", "annot_utt": annot}
    path = _file(tmp_path, [RECORDS[0], bad])
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.file, info.value.line) == (code, str(path), 2)
    assert words in info.value.message


def test_skip_mode_and_unknown_label(tmp_path):
    bad = {"intent": "alarm_set", "utt": "x", "annot_utt": "[x"}
    path = _file(tmp_path, [bad, RECORDS[0], {"utt": "no annotation"}, RECORDS[1]])
    result = read_dataset(path, "massive", skip_errors=True, labels={"time", "date"})
    assert [u.meta["id"] for u in result.utterances] == ["1"]
    assert [(p.code, p.line) for p in result.problems] == [("E105", 1), ("E109", 3), ("E107", 4)]


def test_writer_refuses_missing_intent_and_brackets_in_text(tmp_path):
    for utterance, reason in [
        (Utterance("wake me", None), "no intent"),
        (Utterance("press [enter] now", "x"), "'['"),
        (Utterance("at nine", "x", (Span(3, 7, "a:b"),)), "':'"),
    ]:
        with pytest.raises(TvdError) as info:
            massive.write([utterance], tmp_path / "out.jsonl")
        assert info.value.code == "E110" and reason in info.value.message
    assert not (tmp_path / "out.jsonl").exists()


def test_lone_surrogate_and_invalid_utf8_are_e112_per_line(tmp_path):
    path = tmp_path / "data.jsonl"
    good = json.dumps(RECORDS[0]).encode()
    surrogate = b'{"intent": "a_b", "utt": "x\\udc80", "annot_utt": "x\\udc80"}'
    path.write_bytes(good + b"\n" + surrogate + b"\n" + good.replace(b"nine", b"n\xc3ne") + b"\n")
    with pytest.raises(TvdError) as info:
        read_dataset(path, "massive")
    assert (info.value.code, info.value.line) == ("E112", 2) and "U+DC80" in info.value.message
    result = read_dataset(path, "massive", skip_errors=True)
    assert len(result.utterances) == 1 and [(p.code, p.line) for p in result.problems] == [("E112", 2), ("E112", 3)]


@pytest.mark.parametrize("field", [{"intent": 5}, {"intent": ""}, {"utt": 3}, {"locale": 1}])
def test_fields_are_not_coerced_to_strings(tmp_path, field):
    path = _file(tmp_path, [{**RECORDS[2], **field}])
    with pytest.raises(TvdError) as info:
        read_dataset(path, "massive")
    assert (info.value.code, info.value.line) == ("E109", 1)


def test_writer_refuses_a_language_the_locale_would_cut(tmp_path):
    with pytest.raises(TvdError) as info:
        massive.write([Utterance("hi", "greet", language="pt-BR")], tmp_path / "out.jsonl")
    assert info.value.code == "E110" and "pt-BR" in info.value.message
    assert not (tmp_path / "out.jsonl").exists()
