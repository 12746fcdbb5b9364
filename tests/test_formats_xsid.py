"""xSID CoNLL: tag column wins over '# slots:', kept tokenisation, round trip, malformed blocks."""

from __future__ import annotations

import pytest

from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError
from tvd.formats import read_dataset, write_dataset, xsid

EN = """# text = show all reminders
# intent = reminder/show_reminders
# slots: 5:8:reminder/reference,9:18:reminder/noun
1\tshow\treminder/show_reminders\tO
2\tall\treminder/show_reminders\tB-reference
3\treminders\treminder/show_reminders\tO

# text = Do I need a sweater?
# intent = weather/find
# slots: 12:19:weather/attribute
1\tDo\tweather/find\tO
2\tI\tweather/find\tO
3\tneed\tweather/find\tO
4\ta\tweather/find\tO
5\tsweater\tweather/find\tB-weather/attribute
6\t?\tweather/find\tO

"""

JA = """# id = 1
# text-en = show all reminders
# text = すべて の リマインダー を 表示
# intent = reminder/show_reminders
1\tすべて\treminder/show_reminders\tB-reference
2\tの\treminder/show_reminders\tO
3\tリマインダー\treminder/show_reminders\tO
4\tを\treminder/show_reminders\tO
5\t表\treminder/show_reminders\tO
6\t示\treminder/show_reminders\tO
"""


def test_reads_english_with_tag_column_authoritative(tmp_path):
    path = tmp_path / "en.test.conll"
    path.write_text(EN, encoding="utf-8")
    first, second = read_dataset(path).utterances
    assert first.slots == [("reference", "all")]  # not the '# slots:' comment's reminder/noun
    assert (first.intent, first.language, first.tokens) == ("reminder/show_reminders", "en", None)
    assert second.slots == [("weather/attribute", "sweater")]
    assert second.to_bio()[0][-2:] == ["sweater", "?"]


def test_reads_japanese_keeping_tokenisation_and_meta(tmp_path):
    path = tmp_path / "ja.test.conll"
    path.write_text(JA, encoding="utf-8")
    (utterance,) = read_dataset(path).utterances
    assert utterance.language == "ja"  # from the file name
    assert utterance.text == "すべて の リマインダー を 表示"
    assert utterance.to_bio()[0] == ["すべて", "の", "リマインダー", "を", "表", "示"]
    assert utterance.meta == {"id": "1", "text-en": "show all reminders"}
    assert read_dataset(path, language="xx").utterances[0].language == "xx"


def test_write_reproduces_the_file_and_round_trips(tmp_path):
    source = tmp_path / "ja.test.conll"
    source.write_text(JA, encoding="utf-8")
    utterances = read_dataset(source).utterances
    out = tmp_path / "ja.out.conll"
    write_dataset(utterances, out, "xsid")
    assert out.read_text(encoding="utf-8") == JA.replace(
        "# intent = reminder/show_reminders\n", "# intent = reminder/show_reminders\n# slots: 0:3:reference\n"
    )
    assert read_dataset(out).utterances == utterances


def test_round_trip_constructed_utterances_including_japanese_without_spaces(tmp_path):
    utterances = [
        Utterance("東京の天気を教えて", "weather/find", (Span(0, 2, "location"),), language="ja"),
        Utterance("remind me at 4pm!", "reminder/set_reminder", (Span(13, 16, "datetime"),), language="ja"),
    ]
    path = tmp_path / "mixed.conll"
    write_dataset(utterances, path, "xsid")
    assert "# slots: 0:2:location" in path.read_text(encoding="utf-8")
    assert read_dataset(path, language="ja").utterances == utterances


def test_tokens_not_in_text_is_malformed_with_text_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text(EN.replace("# text = Do I need a sweater?", "# text = Do I need a jumper?"), encoding="utf-8")
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.line, info.value.file) == ("E106", 8, str(path))
    assert "sweater" in info.value.message


def test_bad_tag_index_and_skip_mode(tmp_path):
    text = EN.replace("2\tall\treminder/show_reminders\tB-reference", "2\tall\treminder/show_reminders\treference")
    text = text.replace("3\tneed", "9\tneed")
    path = tmp_path / "bad.conll"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.line) == ("E104", 5)
    result = read_dataset(path, skip_errors=True)
    assert result.utterances == []
    assert [(p.code, p.line) for p in result.problems] == [("E104", 5), ("E109", 13)]
    assert result.problems[1].raw.startswith("# text = Do I need")


def test_unknown_label_and_intent_disagreement(tmp_path):
    path = tmp_path / "en.conll"
    path.write_text(EN, encoding="utf-8")
    with pytest.raises(TvdError) as info:
        read_dataset(path, labels={"reference"})
    assert (info.value.code, info.value.line) == ("E107", 8)
    path.write_text(EN.replace("6\t?\tweather/find", "6\t?\tweather/other"), encoding="utf-8")
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.line) == ("E109", 16)


def test_writer_needs_an_intent(tmp_path):
    with pytest.raises(TvdError) as info:
        xsid.write([Utterance("hello", None)], tmp_path / "x.conll")
    assert info.value.code == "E110" and "utterance 1" in info.value.message
    assert not (tmp_path / "x.conll").exists()


def test_invalid_utf8_line_is_e112_for_its_block_only(tmp_path):
    path = tmp_path / "en.conll"
    path.write_bytes(EN.encode().replace(b"2\tall\t", b"2\ta\xffll\t"))
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.line) == ("E112", 5) and "UTF-8" in info.value.message
    result = read_dataset(path, skip_errors=True)
    assert [u.text for u in result.utterances] == ["Do I need a sweater?"]
    assert [(p.code, p.line) for p in result.problems] == [("E112", 5)]


def test_writer_refuses_labels_the_tag_column_would_change(tmp_path):
    for label in ("city ", "ci\tty"):
        with pytest.raises(TvdError) as info:
            xsid.write([Utterance("fly to rome", "book", (Span(7, 11, label),))], tmp_path / "out.conll")
        assert info.value.code == "E110" and "utterance 1" in info.value.message
    assert not (tmp_path / "out.conll").exists()


def test_writer_refuses_tokens_it_could_not_find_in_the_text_again(tmp_path):
    with pytest.raises(TvdError) as info:
        xsid.write([Utterance("ab cd", "go", tokens=((0, 1), (3, 5)))], tmp_path / "out.conll")
    assert info.value.code == "E110" and "'b '" in info.value.message
    assert not (tmp_path / "out.conll").exists()
