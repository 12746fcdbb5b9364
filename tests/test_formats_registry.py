"""The format registry: names, detection, read/write/convert, and the any-format-to-any-format matrix."""

from __future__ import annotations

import itertools
import json

import pytest

from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError
from tvd.formats import FORMATS, Record, convert, detect_format, get_format, read_dataset, write_dataset
from tvd.formats.base import collect

PATHS = {
    "jsonl": "data.jsonl",
    "bio": "bio_dir",
    "xsid": "data.conll",
    "massive": "massive.jsonl",
    "rasa": "nlu.yml",
    "hf": "hf_dir",
    "linguist": "gen.txt",
}

ENGLISH = [
    Utterance("what is the weather in new york on friday", "GetWeather",
              (Span(23, 31, "city"), Span(35, 41, "date"))),
    Utterance("book a table for two in paris", "BookRestaurant", (Span(17, 20, "party_size"), Span(24, 29, "city"))),
    Utterance("hello there", "Greet"),
]
# Japanese without spaces: every format but bio can carry it (bio's text is its tokens joined by spaces).
JAPANESE = [
    Utterance("東京の天気を教えて", "GetWeather", (Span(0, 2, "city"),), language="ja"),
    Utterance("金曜日に大阪で二人", "BookRestaurant", (Span(0, 3, "date"), Span(4, 6, "city")), language="ja"),
]
JAPANESE_FORMATS = [name for name in FORMATS if name != "bio"]


def _view(utterances):
    """What every format can express: text, intent and slot values (order-free: Rasa groups by intent)."""
    return sorted((u.text, u.intent, tuple(u.slots)) for u in utterances)


def test_format_names():
    assert set(FORMATS) == {"jsonl", "bio", "xsid", "massive", "rasa", "hf", "linguist"}
    assert set(PATHS) == set(FORMATS)
    with pytest.raises(TvdError) as info:
        get_format("csv")
    assert info.value.code == "E102" and "linguist" in info.value.fix


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_and_detection(tmp_path, fmt):
    path = tmp_path / PATHS[fmt]
    write_dataset(ENGLISH, path, fmt)
    assert detect_format(path) == fmt
    result = read_dataset(path)
    assert result.format == fmt and result.problems == []
    assert sorted(result.utterances, key=lambda u: u.text) == sorted(ENGLISH, key=lambda u: u.text)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # atomic: no temporary leftovers


@pytest.mark.parametrize("fmt", JAPANESE_FORMATS)
def test_round_trip_japanese_without_spaces(tmp_path, fmt):
    path = tmp_path / PATHS[fmt]
    write_dataset(JAPANESE, path, fmt)
    back = read_dataset(path, language="ja").utterances
    assert sorted(back, key=lambda u: u.text) == sorted(JAPANESE, key=lambda u: u.text)


@pytest.mark.parametrize(("first", "second"), list(itertools.permutations(FORMATS, 2)))
def test_conversion_matrix(tmp_path, first, second):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_dataset(ENGLISH, a / PATHS[first], first)
    convert(a / PATHS[first], b / PATHS[second], first, second)
    result = convert(b / PATHS[second], c / PATHS[first], second, first)
    assert _view(result.utterances) == _view(ENGLISH)
    assert _view(read_dataset(c / PATHS[first], first).utterances) == _view(ENGLISH)
    if first != "bio" and second != "bio":
        write_dataset(JAPANESE, a / PATHS[first], first)
        convert(a / PATHS[first], b / PATHS[second], first, second, language="ja")
        back = read_dataset(b / PATHS[second], second, language="ja").utterances
        assert _view(back) == _view(JAPANESE)


def test_detection_by_content_and_unknown_paths(tmp_path):
    native = tmp_path / "x.json"
    native.write_text(json.dumps({"text": "hi"}) + "\n")
    massive = tmp_path / "y.json"
    massive.write_text(json.dumps({"utt": "hi", "annot_utt": "hi", "intent": "greet"}) + "\n")
    assert (detect_format(native), detect_format(massive)) == ("jsonl", "massive")
    odd = tmp_path / "data.csv"
    odd.write_text("a,b\n")
    for path in (odd, tmp_path):
        with pytest.raises(TvdError) as info:
            detect_format(path)
        assert info.value.code == "E102" and "--from" in info.value.fix and "rasa" in info.value.fix
    with pytest.raises(TvdError) as info:
        read_dataset(tmp_path / "missing.jsonl")
    assert info.value.code == "E101" and "missing.jsonl" in str(info.value)
    with pytest.raises(TvdError) as info:
        read_dataset(tmp_path / "missing", "bio")
    assert info.value.code == "E101"


def test_convert_skips_and_reports(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("# labels: [1=city]\nX\tto [1 rome ]\nX\tto [2 oslo ]\nX\tto [1 paris\n", encoding="utf-8")
    with pytest.raises(TvdError) as info:
        convert(src, tmp_path / "out.jsonl")
    assert (info.value.code, info.value.line) == ("E107", 3)
    assert not (tmp_path / "out.jsonl").exists()
    result = convert(src, tmp_path / "out.jsonl", skip_errors=True)
    assert [(p.code, p.line) for p in result.problems] == [("E107", 3), ("E105", 4)]
    assert [u.text for u in read_dataset(tmp_path / "out.jsonl").utterances] == ["to rome"]


def test_failed_write_leaves_existing_file_untouched(tmp_path):
    path = tmp_path / "nlu.yml"
    write_dataset(ENGLISH, path)  # format from the extension
    before = path.read_text()
    with pytest.raises(TvdError) as info:
        write_dataset([*ENGLISH, Utterance("no intent here")], path, "rasa")
    assert info.value.code == "E110" and "utterance 4" in info.value.message
    assert path.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["nlu.yml"]


def test_collect_refuses_any_reader_utterance_utf8_cannot_encode():
    records = [Record("f.txt", 1, "ok", Utterance("fine")), Record("f.txt", 2, "x", Utterance("x", "i\udc80")),
               Record("f.txt", 3, "y", Utterance("y", meta={"k": ["\ud800"]})),
               Record("f.txt", 4, "z\udcff", error=TvdError("E109", "bad z\udcff", file="f.txt", line=4))]
    with pytest.raises(TvdError) as info:
        collect(records)
    assert (info.value.code, info.value.file, info.value.line) == ("E112", "f.txt", 2)
    assert "intent" in info.value.message and "U+DC80" in info.value.message
    result = collect(records, skip_errors=True)
    assert [u.text for u in result.utterances] == ["fine"]
    assert [(p.code, p.line) for p in result.problems] == [("E112", 2), ("E112", 3), ("E109", 4)]
    assert (result.problems[2].raw, result.problems[2].message) == ("z\\udcff", "bad z\\udcff")  # printable


def test_detection_passes_over_lines_that_are_not_utf8_or_json(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'\xff\xfe{"annot_utt"\n{broken\n' + json.dumps({"utt": "hi", "annot_utt": "hi"}).encode() + b"\n")
    assert detect_format(path) == "massive"


def test_cli_convert_lists_skipped_invalid_utf8_lines(tmp_path):
    from click.testing import CliRunner

    from tvd.cli.main import main

    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"text": "one", "intent": "a"}\n{"text": "tw\xf6", "intent": "a"}\n{"text": "x", "intent": 3}\n')
    result = CliRunner().invoke(main, ["convert", "--skip-errors", str(src), str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    assert f"skipped [E112] {src}:2: line is not valid UTF-8" in result.output and "tw\ufffd" in result.output
    assert f"skipped [E109] {src}:3:" in result.output and "(2 malformed record(s) skipped)" in result.output
    result = CliRunner().invoke(main, ["convert", str(src), str(tmp_path / "strict.jsonl")])
    assert result.exit_code == 1 and f"[E112] {src}:2:" in result.output and "Traceback" not in result.output
