"""Rasa 3 YAML NLU: both entity forms, YAML line numbers in errors, round trip."""

from __future__ import annotations

import pytest

from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError
from tvd.formats import rasa, read_dataset, write_dataset

NLU = """version: "3.1"

nlu:
- intent: book_flight
  examples: |
    - fly to [dallas](city) on [friday]{"entity": "date", "role": "departure"}
    - fly from [NYC](city:new york city)

    - show flights
- synonym: new york city
  examples: |
    - NYC
- intent: greet
  examples:
  - text: |
      hi [there](who)
    metadata:
      sentiment: neutral
"""


def _file(tmp_path, text, name="nlu.yml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_both_entity_forms_and_example_lists(tmp_path):
    result = read_dataset(_file(tmp_path, NLU))
    assert result.format == "rasa"
    texts = [(u.intent, u.text, u.slots) for u in result.utterances]
    assert texts == [
        ("book_flight", "fly to dallas on friday", [("city", "dallas"), ("date", "friday")]),
        ("book_flight", "fly from NYC", [("city", "NYC")]),
        ("book_flight", "show flights", []),
        ("greet", "hi there", [("who", "there")]),
    ]
    assert result.utterances[0].meta["rasa_entities"] == [{"start": 17, "end": 23, "role": "departure"}]
    assert result.utterances[1].meta["rasa_entities"] == [{"start": 9, "end": 12, "value": "new york city"}]


def test_round_trip_keeps_roles_and_synonyms(tmp_path):
    utterances = read_dataset(_file(tmp_path, NLU)).utterances
    out = tmp_path / "out.yaml"
    write_dataset(utterances, out, "rasa")
    text = out.read_text(encoding="utf-8")
    assert text.startswith('version: "3.1"\n')
    assert "    - fly to [dallas](city) on [friday]{\"entity\": \"date\", \"role\": \"departure\"}\n" in text
    back = read_dataset(out).utterances
    assert back == utterances and [u.meta for u in back] == [u.meta for u in utterances]


def test_round_trip_japanese_and_awkward_intents(tmp_path):
    utterances = [
        Utterance("東京の天気", "null", (Span(0, 2, "city"),), language="ja"),
        Utterance("大阪は晴れ?", "yes", (Span(0, 2, "city"),), language="ja"),
        Utterance("name it [x]", "#tag: odd"),
    ]
    with pytest.raises(TvdError) as info:
        write_dataset(utterances, tmp_path / "out.yml", "rasa")
    assert info.value.code == "E110" and "utterance 3" in info.value.message
    write_dataset([*utterances[:2], Utterance("plain one", "#tag: odd", (Span(0, 5, "a label"),))],
                  tmp_path / "out.yml", "rasa")
    back = read_dataset(tmp_path / "out.yml", language="ja").utterances
    assert back[:2] == utterances[:2]
    assert (back[2].intent, back[2].slots) == ("#tag: odd", [("a label", "plain")])


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("    - fly to [dallas(city)", "unbalanced"),
        ("    - fly to [dallas]", "without (label)"),
        ("    - fly to [dallas]{\"entity\": }", "not valid JSON"),
        ("    - fly to [dallas]{\"role\": \"x\"}", "\"entity\""),
        ("    fly to dallas", "'- '"),
    ],
)
def test_malformed_example_names_its_yaml_line(tmp_path, line, words):
    text = NLU.replace("    - show flights", line)
    path = _file(tmp_path, text)
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert info.value.code == "E105" and info.value.file == str(path)
    assert info.value.line == 9 and f"{path}:9" in str(info.value)
    assert words in info.value.message


def test_skip_mode_unknown_label_and_list_example_line(tmp_path):
    text = NLU.replace("    - show flights", "    - [broken").replace("hi [there](who)", "hi [there(who)")
    result = read_dataset(_file(tmp_path, text), skip_errors=True, labels={"city"})
    assert [u.text for u in result.utterances] == ["fly from NYC"]
    assert [(p.code, p.line) for p in result.problems] == [("E107", 6), ("E105", 9), ("E105", 16)]


def test_whole_file_errors(tmp_path):
    with pytest.raises(TvdError) as info:
        read_dataset(_file(tmp_path, "nlu:\n- intent: [a\n"), "rasa")
    assert info.value.code == "E103" and info.value.line is not None
    with pytest.raises(TvdError) as info:
        read_dataset(_file(tmp_path, "version: '3.1'\nrules: []\n"), "rasa")
    assert info.value.code == "E103" and "nlu" in info.value.message


def test_writer_needs_an_intent(tmp_path):
    with pytest.raises(TvdError) as info:
        rasa.write([Utterance("hello", None)], tmp_path / "x.yml")
    assert info.value.code == "E110" and "no intent" in info.value.message


def test_invalid_utf8_is_a_whole_file_e103_naming_the_line(tmp_path):
    path = tmp_path / "nlu.yml"
    path.write_bytes(NLU.encode().replace(b"show flights", b"show fl\xe9ghts"))
    for skip in (False, True):
        with pytest.raises(TvdError) as info:
            read_dataset(path, skip_errors=skip)
        assert (info.value.code, info.value.line) == ("E103", 9) and "UTF-8" in info.value.message


def test_surrogate_escape_is_e112_and_duplicate_keys_are_refused(tmp_path):
    path = _file(tmp_path, 'version: "3.1"\nnlu:\n- intent: greet\n  examples:\n  - text: "hi \\ud800"\n'
                 "  - text: hello\n")
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.line) == ("E112", 5)
    assert [u.text for u in read_dataset(path, skip_errors=True).utterances] == ["hello"]
    twice = _file(tmp_path, 'nlu:\n- intent: a\n  examples: |\n    - x\nnlu:\n- intent: b\n  examples: |\n    - y\n',
                  "twice.yml")
    with pytest.raises(TvdError) as info:
        read_dataset(twice)
    assert (info.value.code, info.value.line) == ("E103", 5) and "'nlu'" in info.value.message


def test_entity_json_tvd_will_not_read_is_e105(tmp_path):
    path = _file(tmp_path, 'nlu:\n- intent: a\n  examples: |\n    - to [x]{"entity": "c", "n": ' + "9" * 5000 + "}\n")
    with pytest.raises(TvdError) as info:
        read_dataset(path)
    assert (info.value.code, info.value.line) == ("E105", 4)


def test_other_entity_keys_are_kept_and_written_back(tmp_path):
    path = _file(tmp_path, 'nlu:\n- intent: a\n  examples: |\n    - to [x]{"entity": "c", "confidence": 0.5}\n')
    (utterance,) = read_dataset(path).utterances
    assert utterance.meta["rasa_entities"] == [{"start": 3, "end": 4, "confidence": 0.5}]
    write_dataset([utterance], tmp_path / "out.yml")
    assert '[x]{"entity": "c", "confidence": 0.5}' in (tmp_path / "out.yml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "utterance",
    [Utterance("hi", " greet"), Utterance("hi\u2028there", "greet"), Utterance("hi", "gr\u2028eet"),
     Utterance("to rome", "go", (Span(3, 7, "ci\u2029ty"),)), Utterance("caf\ud800", "x")],
)
def test_writer_refuses_what_yaml_would_change(tmp_path, utterance):
    with pytest.raises(TvdError) as info:
        rasa.write([utterance], tmp_path / "x.yml")
    assert info.value.code == "E110" and "utterance 1" in info.value.message
    assert not (tmp_path / "x.yml").exists()


def test_no_utterances_round_trip(tmp_path):
    rasa.write([], tmp_path / "x.yml")
    assert read_dataset(tmp_path / "x.yml").utterances == []
