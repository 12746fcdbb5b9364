"""LINGUIST numbered-bracket files: headers, round trip, unknown slot numbers and other errors."""

from __future__ import annotations

import pytest

from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError
from tvd.formats import linguist, read_dataset, write_dataset

TEXT = """# labels: [1=city], [2=day_of_week]
# a free comment
GetWeather\twhat is the weather in [1 dallas ] on [2 saturday ]?
# intent: BookRestaurant
book a table in [1 paris ]

# labels: [1=restaurant_type]
# language: ja
# intent:
BookRestaurant\t[1 寿司 ]屋を予約して
"""


def _file(tmp_path, text, name="gen.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_headers_and_redefinitions(tmp_path):
    result = read_dataset(_file(tmp_path, TEXT))
    assert result.format == "linguist"
    got = [(u.intent, u.text, u.slots, u.language) for u in result.utterances]
    assert got == [
        ("GetWeather", "what is the weather in dallas on saturday?", [("city", "dallas"), ("day_of_week", "saturday")],
         "en"),
        ("BookRestaurant", "book a table in paris", [("city", "paris")], "en"),
        ("BookRestaurant", "寿司屋を予約して", [("restaurant_type", "寿司")], "ja"),
    ]


def test_round_trip_mixed_languages(tmp_path):
    utterances = [
        Utterance("what is the weather in dallas on saturday?", "GetWeather",
                  (Span(23, 29, "city"), Span(33, 41, "day_of_week"))),
        Utterance("東京の天気は", "GetWeather", (Span(0, 2, "city"),), language="ja"),
        Utterance("hello", "Greet"),
        Utterance("大阪", "GetWeather", (Span(0, 2, "city"),), language="ja"),
    ]
    path = tmp_path / "out.linguist"
    write_dataset(utterances, path, "linguist")
    assert path.read_text(encoding="utf-8").splitlines()[:4] == [
        "# labels: [1=city], [2=day_of_week]",
        "# language: en",
        "GetWeather\twhat is the weather in [1 dallas ] on [2 saturday ]?",
        "# language: ja",
    ]
    assert read_dataset(path).utterances == utterances


@pytest.mark.parametrize(
    ("line", "code", "words"),
    [
        ("GetWeather\tweather in [3 dallas ]", "E107", "slot number 3"),
        ("GetWeather\tweather in [1 dallas", "E105", "unbalanced"),
        ("GetWeather\tweather in [1 ]", "E105", "empty_value"),
        ("weather in dallas", "E109", "no intent"),
        ("# labels: [1=city] [2", "E105", "label map"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, code, words):
    path = _file(tmp_path, f"# labels: [1=city]\nGetWeather\tok [1 rome ]\n\n{line}\nGetWeather\tok\n")
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.file, info.value.line) == (code, str(path), 4)
    assert words in info.value.message and f"{path}:4" in str(info.value)


def test_label_map_required_and_skip_mode(tmp_path):
    path = _file(tmp_path, "GetWeather\tweather\n# labels: [1=city]\nX\tin [2 rome ]\nX\tin [1 rome ]\nX\t[1 oslo ]\n")
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.line) == ("E109", 1) and "# labels:" in info.value.message
    result = read_dataset(path, skip_errors=True, labels={"town"})
    assert result.utterances == []
    assert [(p.code, p.line) for p in result.problems] == [("E109", 1), ("E107", 3), ("E107", 4), ("E107", 5)]
    assert result.problems[1].raw == "X\tin [2 rome ]"


def test_writer_refuses_what_brackets_cannot_express(tmp_path):
    for utterance, reason in [
        (Utterance("press [enter]", "x"), "'['"),
        (Utterance("two  spaces", "x"), "whitespace"),
        (Utterance("hello", None), "intent"),
        (Utterance("in rome", "x", (Span(3, 7, "a=b"),)), "label"),
    ]:
        with pytest.raises(TvdError) as info:
            linguist.write([Utterance("fine", "x"), utterance], tmp_path / "out.txt")
        assert info.value.code == "E110" and "utterance 2" in info.value.message and reason in info.value.message
    assert not (tmp_path / "out.txt").exists()


def test_label_map_codec():
    assert linguist.parse_label_map("[1=city], [2=day of week]") == {1: "city", 2: "day of week"}
    assert linguist.render_label_map({"city": 1, "day of week": 2}) == "[1=city], [2=day of week]"
    with pytest.raises(linguist.LabelMapError):
        linguist.parse_label_map("[1=city], [1=town]")


def test_invalid_utf8_header_makes_the_lines_that_need_it_e112(tmp_path):
    path = tmp_path / "gen.txt"
    path.write_bytes(b"# labels: [1=c\xffity]\nX\tto [1 rome ]\nX\tto oslo\n# labels: [1=city]\nX\tto [1 paris ]\n"
                     b"caf\xe9\n")
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.line) == ("E112", 1)
    result = read_dataset(path, skip_errors=True)
    assert [u.text for u in result.utterances] == ["to paris"]
    assert [(p.code, p.line) for p in result.problems] == [("E112", 1), ("E112", 2), ("E112", 3), ("E112", 6)]
    assert "line 1" in result.problems[1].message and "\ufffd" in result.problems[3].raw


def test_writer_refuses_labels_and_languages_the_headers_cannot_hold(tmp_path):
    for utterance in (Utterance("to rome", "go", (Span(3, 7, "ci\nty"),)), Utterance("hi", "go", language=""),
                      Utterance("hi", "go", language="en\n")):
        with pytest.raises(TvdError) as info:
            linguist.write([utterance], tmp_path / "gen.txt")
        assert info.value.code == "E110" and "utterance 1" in info.value.message
    assert not (tmp_path / "gen.txt").exists()
