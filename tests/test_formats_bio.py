"""SNIPS/ATIS BIO directories: reading real-looking lines, round trip, errors, atomic replacement."""

from __future__ import annotations

import pytest

from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError
from tvd.formats import bio, read_dataset, write_dataset


def _write(directory, seq_in: str, seq_out: str, label: str):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "seq.in").write_text(seq_in, encoding="utf-8")
    (directory / "seq.out").write_text(seq_out, encoding="utf-8")
    (directory / "label").write_text(label, encoding="utf-8")
    return directory


def test_reads_snips_lines_with_trailing_and_double_spaces(tmp_path):
    # SNIPS excerpts (CC0): trailing spaces, and a double space between tokens.
    directory = _write(
        tmp_path / "snips",
        "add step to me to the 50 clásicos playlist \ni need a forecast for jetmore  massachusetts\n",
        "O B-entity_name I-entity_name I-entity_name O O B-playlist I-playlist O \nO O O O O B-city B-state\n",
        "AddToPlaylist\nGetWeather\n",
    )
    result = read_dataset(directory)
    assert result.format == "bio"
    first, second = result.utterances
    assert first.text == "add step to me to the 50 clásicos playlist"
    assert first.slots == [("entity_name", "step to me"), ("playlist", "50 clásicos")]
    assert second.text == "i need a forecast for jetmore massachusetts"
    assert second.slots == [("city", "jetmore"), ("state", "massachusetts")]
    assert (second.intent, second.language) == ("GetWeather", "en")


def test_round_trip_with_atis_joint_intent(tmp_path):
    utterances = [
        Utterance("show flights from boston to denver", "atis_flight#atis_airfare",
                  (Span(18, 24, "fromloc.city_name"), Span(28, 34, "toloc.city_name"))),
        Utterance("what is the weather", "GetWeather"),
        Utterance("東京 の 天気", "GetWeather", (Span(0, 2, "city"),), language="ja"),
    ]
    write_dataset(utterances, tmp_path / "out", "bio")
    assert (tmp_path / "out" / "label").read_text().splitlines()[0] == "atis_flight#atis_airfare"
    assert (tmp_path / "out" / "seq.out").read_text().splitlines()[0] == "O O O B-fromloc.city_name O B-toloc.city_name"
    assert read_dataset(tmp_path / "out", language="ja").utterances[2] == utterances[2]
    assert read_dataset(tmp_path / "out").utterances[:2] == utterances[:2]


def test_tag_count_mismatch_names_seq_out_and_line(tmp_path):
    directory = _write(tmp_path / "d", "fly to dallas\nfly to rome\n", "O O B-city\nO B-city\n", "a\nb\n")
    with pytest.raises(TvdError) as info:
        read_dataset(directory, "bio")
    error = info.value
    assert error.code == "E104" and error.line == 2 and error.file == str(directory / "seq.out")
    assert "3 tokens" in error.message and "2 tags" in error.message
    assert f"{directory / 'seq.out'}:2" in str(error)


def test_bad_tag_names_line(tmp_path):
    directory = _write(tmp_path / "d", "fly to dallas\n", "O O X-city\n", "a\n")
    with pytest.raises(TvdError) as info:
        read_dataset(directory)
    assert (info.value.code, info.value.line) == ("E104", 1) and "'X-city'" in info.value.message


def test_line_count_mismatch_and_skip_mode(tmp_path):
    directory = _write(
        tmp_path / "d",
        "fly to dallas\nfly to rome\nfly home\n",
        "O O B-city\nO O\nO O\n",
        "book\nbook\n",
    )
    with pytest.raises(TvdError) as info:
        read_dataset(directory)
    assert (info.value.code, info.value.line) == ("E104", 2)
    result = read_dataset(directory, skip_errors=True)
    assert [u.text for u in result.utterances] == ["fly to dallas"]
    assert [(p.code, p.file, p.line) for p in result.problems] == [
        ("E104", str(directory / "seq.out"), 2),
        ("E108", str(directory / "label"), 3),
    ]
    assert "label has 2 lines" in result.problems[1].message


def test_unknown_label_and_missing_files(tmp_path):
    directory = _write(tmp_path / "d", "fly to dallas\n", "O O B-town\n", "book\n")
    with pytest.raises(TvdError) as info:
        read_dataset(directory, labels=["city"])
    assert (info.value.code, info.value.line) == ("E107", 1)
    (directory / "label").unlink()
    with pytest.raises(TvdError) as info:
        read_dataset(directory, "bio")
    assert info.value.code == "E103" and "label" in info.value.message


def test_writer_refuses_what_bio_cannot_express(tmp_path):
    off_tokens = Utterance("fly to dallas", "book", (Span(7, 10, "city"),), tokens=((0, 3), (4, 6), (7, 13)))
    no_spaces = Utterance("東京の天気", "GetWeather", (Span(0, 2, "city"),), language="ja")
    cases = [
        (off_tokens, "token boundaries"),
        (Utterance("fly to dallas", None), "intent"),
        (no_spaces, "single spaces"),
    ]
    for utterance, reason in cases:
        with pytest.raises(TvdError) as info:
            write_dataset([Utterance("ok", "x"), utterance], tmp_path / "out", "bio")
        assert info.value.code == "E110" and "utterance 2" in info.value.message and reason in info.value.message
    assert list(tmp_path.iterdir()) == []
    bio.write([no_spaces], tmp_path / "respaced", respace=True)
    back = read_dataset(tmp_path / "respaced", language="ja").utterances[0]
    assert (back.text, back.slots) == ("東京 の天気", [("city", "東京")])


def test_replaces_existing_bio_directory_but_not_other_directories(tmp_path):
    target = tmp_path / "out"
    write_dataset([Utterance("one", "a")], target, "bio")
    write_dataset([Utterance("two", "b")], target, "bio")
    assert [u.text for u in read_dataset(target).utterances] == ["two"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary leftovers
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(TvdError) as info:
        write_dataset([Utterance("two", "b")], other, "bio")
    assert info.value.code == "E111" and (other / "keep.txt").read_text() == "mine"


def test_invalid_utf8_line_is_e112_for_its_utterance_only(tmp_path):
    directory = _write(tmp_path / "d", "fly to dallas\nfly to rome\nfly home\n", "O O B-city\nO O B-city\nO O\n",
                       "book\nbook\nbook\n")
    (directory / "seq.out").write_bytes(b"O O B-city\nO O B-c\xffity\nO O\n")
    with pytest.raises(TvdError) as info:
        read_dataset(directory)
    assert (info.value.code, info.value.file, info.value.line) == ("E112", str(directory / "seq.out"), 2)
    result = read_dataset(directory, skip_errors=True)
    assert [u.text for u in result.utterances] == ["fly to dallas", "fly home"]
    (problem,) = result.problems
    assert (problem.code, problem.line) == ("E112", 2) and "B-c\ufffdity" in problem.raw


@pytest.mark.parametrize(
    ("utterance", "reason"),
    [
        (Utterance("fly to new york", "book", (Span(7, 15, "city name"),)), "whitespace"),
        (Utterance("fly to rome", "book", (Span(7, 11, "city\tname"),)), "whitespace"),
        (Utterance("\ufefffly home", "book"), "U+FEFF"),
        (Utterance("caf\ud800", "book"), "U+D800"),
    ],
)
def test_writer_refuses_what_it_could_not_read_back(tmp_path, utterance, reason):
    with pytest.raises(TvdError) as info:
        write_dataset([utterance], tmp_path / "out", "bio")
    assert info.value.code == "E110" and "utterance 1" in info.value.message and reason in info.value.message
    assert not (tmp_path / "out").exists()
