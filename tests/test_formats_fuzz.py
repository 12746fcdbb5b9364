"""Fuzzing every dataset reader, and the writers' round trip, with Hypothesis.

Each registered format (:data:`tvd.formats.FORMATS`) and the PIZZA reader get three kinds of input written to
a temporary file or folder: random bytes, random JSON lines (random values and records shaped like the
format's own), and a valid example file of the format with byte, line and character mutations (deletions,
duplications, bracket / colon / tab / newline insertions, surrogate escapes, invalid UTF-8, a BOM...).  The
only outcomes allowed are a list of valid, UTF-8-encodable utterances with spans inside their text, or one
:class:`TvdError`; skip-and-report mode must return a result (whole-file formats may still raise E103) whose
problems strict mode raises first.  What a reader returns must also survive being written back in its own
format (read again equal, or E110).  A fourth property writes random utterances in every format: it must read
back the same (what the format keeps) or refuse with E110, writing nothing.

Budget: ``TVD_FUZZ_EXAMPLES`` examples per property (default 100, derandomized so CI is reproducible, about
15 s for the file and at most a second or so a property; set the variable to run longer, with fresh random
inputs), no deadline.  ``--hypothesis-show-statistics`` counts the outcomes (error codes, writes refused).
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from pizza_cases import NEGATED, SWAP
from tvd.data.utterance import Span, Utterance, encoding_problem
from tvd.errors import CODES, E_CANNOT_WRITE, E_UNREADABLE, TvdError
from tvd.formats import FORMATS, ReadResult, get_format, read_dataset, write_dataset
from tvd.formats.pizza import PizzaExample, read_pizza

EXAMPLES = int(os.environ.get("TVD_FUZZ_EXAMPLES", "100"))
settings.register_profile(
    "tvd-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="TVD_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
FUZZ = settings(settings.get_profile("tvd-fuzz"))

READERS = (*FORMATS, "pizza")
"""Every reader fuzzed: the registered formats and PIZZA's (outside the registry: trees, not slots)."""
FILE_NAMES = {"jsonl": "data.jsonl", "bio": "bio_dir", "xsid": "data.conll", "massive": "massive.jsonl",
              "rasa": "nlu.yml", "hf": "hf_dir", "linguist": "gen.txt", "pizza": "pizza.json"}
WHOLE_FILE = {"rasa", "hf"}
"""Formats read as a whole: a byte that is not UTF-8 (rasa) or damaged Arrow data (hf) is E103 in both modes."""

SAMPLE = [
    Utterance("what is the weather in new york on friday", "GetWeather", (Span(23, 31, "city"), Span(35, 41, "date"))),
    Utterance("book a table for two in paris", "BookRestaurant", (Span(17, 20, "party_size"), Span(24, 29, "city"))),
    Utterance("東京の天気を教えて", "GetWeather", (Span(0, 2, "city"),), language="ja"),
    Utterance("今日 の 天気", "GetWeather", (Span(0, 2, "date"),), language="ja",
              tokens=((0, 1), (1, 2), (3, 4), (5, 7))),
    Utterance("hello there", "Greet", meta={"id": "7"}),
]
EXTRA_TEXT = {
    "jsonl": '{"text": "fly to rome", "intent": "book", "slots": [{"start": 7, "end": 11, "label": "city", '
             '"role": "to"}], "source": "web", "meta": {"id": 3}}\n',
    "massive": '{"id": "9", "locale": "en-US", "intent": "alarm_set", "utt": "set an alarm for 10:30 am", '
               '"annot_utt": "set an alarm for [time : 10:30 am]", "worker_id": "4"}\n',
    "rasa": '- intent: greet\n  examples:\n  - text: |\n      hi [there](who)\n- synonym: nyc\n  examples: |\n'
            '    - NYC\n- intent: fly\n  examples: |\n    - to [NYC](city:new york) on [friday]{"entity": "date", '
            '"role": "departure"}\n',
    "linguist": "# intent: BookRestaurant\nbook a table in [1 paris ]\n# language: de\n# intent:\n"
                "GetWeather\twetter in [1 berlin ]\n",
    "xsid": "\n# id = 3\n# text-en = Add a reminder\n# text = 今日 の 午後\n# intent = reminder/set\n"
            "# slots: 0:2:datetime\n1\t今\treminder/set\tB-datetime\n2\t日\treminder/set\tI-datetime\n"
            "3\tの\treminder/set\tO\n4\t午後\treminder/set\tB-datetime\n",
}

def event(name: str) -> None:
    """Count an outcome in ``--hypothesis-show-statistics`` (outside a property, nothing)."""
    if currently_in_test_context():
        hypothesis_event(name)


# -- checks ---------------------------------------------------------------------------------------------------


def _check_error(error: TvdError) -> None:
    assert error.code in CODES, error
    assert error.file is not None, f"error without a file: {error}"
    str(error).encode("utf-8")  # printable: no lone surrogate in the message


def _check_utterance(utterance: object) -> None:
    assert isinstance(utterance, Utterance)
    assert encoding_problem(utterance) is None, encoding_problem(utterance)
    assert isinstance(utterance.text, str) and isinstance(utterance.language, str) and utterance.language
    assert utterance.intent is None or isinstance(utterance.intent, str)
    for span in utterance.spans:
        assert isinstance(span.start, int) and isinstance(span.end, int) and not isinstance(span.start, bool)
        assert 0 <= span.start < span.end <= len(utterance.text) and isinstance(span.label, str) and span.label
    previous = 0
    for start, end in utterance.tokens or ():
        assert previous <= start < end <= len(utterance.text)
        previous = end
    json.dumps(utterance.to_dict(), ensure_ascii=False).encode("utf-8")


def _outcome(read: Callable[[], Any]) -> Any:
    """What ``read`` returned, or the TvdError it raised; any other exception fails the test (and shrinks)."""
    try:
        return read()
    except TvdError as error:
        _check_error(error)
        return error


def _view(fmt: str, utterance: Utterance) -> tuple[Any, ...]:
    """What ``fmt`` keeps of an utterance (bio / xsid / rasa do not store the language; rasa, bio and linguist
    no source tokenisation)."""
    core: tuple[Any, ...] = (utterance.text, utterance.intent, utterance.spans)
    if fmt in ("jsonl", "massive", "hf", "linguist"):
        core += (utterance.language,)
    if fmt in ("jsonl", "hf", "xsid", "bio"):
        core += (tuple(utterance.token_offsets()),)
    if fmt == "jsonl":
        core += (json.dumps(dict(utterance.meta), sort_keys=True),)
    return core


def _check_round_trip(fmt: str, utterances: list[Utterance], folder: Path) -> None:
    """Writing ``utterances`` in ``fmt`` reads back the same (as far as ``fmt`` keeps it), or raises E110 and
    writes nothing."""
    path = folder / ("again_" + FILE_NAMES[fmt])
    try:
        write_dataset(utterances, path, fmt)
    except TvdError as error:
        event(f"write: {error.code}")
        assert error.code == E_CANNOT_WRITE, error
        str(error).encode("utf-8")
        assert not path.exists()
        return
    event("write: ok")
    back = read_dataset(path, fmt, language="en")
    assert back.problems == []
    want = [_view(fmt, u if fmt in ("jsonl", "massive", "hf", "linguist") else u.replace(language="en"))
            for u in utterances]
    got = [_view(fmt, u) for u in back.utterances]
    if fmt == "rasa":  # grouped by intent
        want, got = sorted(want, key=repr), sorted(got, key=repr)
    assert got == want


def _check_read(fmt: str, path: Path, folder: Path) -> None:
    """The reader's contract on one input, strict and skip-and-report."""
    if fmt == "pizza":
        result = _outcome(lambda: read_pizza(path))
        if not isinstance(result, TvdError):
            assert isinstance(result, list) and all(isinstance(e, PizzaExample) for e in result)
            for example in result:
                for part in (example.text, example.top, example.exr):
                    if part is not None:
                        str(part).encode("utf-8")
        return
    strict = _outcome(lambda: read_dataset(path, fmt))
    skip = _outcome(lambda: read_dataset(path, fmt, skip_errors=True))
    event(f"strict: {strict.code if isinstance(strict, TvdError) else 'ok'}")
    if isinstance(skip, ReadResult):
        event(f"skip: {'some' if skip.utterances else 'no'} utterances")
    if isinstance(skip, TvdError):
        assert fmt in WHOLE_FILE and skip.code == E_UNREADABLE, f"{fmt} raised in skip mode: {skip}"
        assert isinstance(strict, TvdError) and strict.code == skip.code
        return
    assert isinstance(skip, ReadResult)
    for utterance in skip.utterances:
        _check_utterance(utterance)
    for problem in skip.problems:
        assert problem.code in CODES and problem.file and isinstance(problem.line, int)
        problem.raw.encode("utf-8")
        problem.message.encode("utf-8")
    if skip.problems:
        assert isinstance(strict, TvdError), "strict mode read what skip mode reported as malformed"
        assert (strict.code, strict.line) == (skip.problems[0].code, skip.problems[0].line or None)
    else:
        assert isinstance(strict, ReadResult) and strict.utterances == skip.utterances
        _check_round_trip(fmt, strict.utterances, folder)


# -- inputs ---------------------------------------------------------------------------------------------------


def _write_input(fmt: str, folder: Path, data: bytes | tuple[bytes, bytes, bytes]) -> Path:
    path = folder / FILE_NAMES[fmt]
    if fmt == "bio":
        path.mkdir()
        parts = data if isinstance(data, tuple) else (data, data, data)
        for name, part in zip(("seq.in", "seq.out", "label"), parts, strict=True):
            (path / name).write_bytes(part)
    else:
        assert isinstance(data, bytes)
        path.write_bytes(data)
    return path


def _example_bytes(fmt: str) -> dict[str, bytes]:
    """A valid example of ``fmt``: file name (``""`` for a single file) -> its bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        if fmt == "pizza":
            return {"": "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in (SWAP, NEGATED)).encode()}
        path = Path(tmp) / FILE_NAMES[fmt]
        utterances = SAMPLE if fmt != "bio" else [u for u in SAMPLE if u.language == "en"]
        get_format(fmt).write(utterances, path)
        if path.is_dir():
            return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}
        return {"": path.read_bytes() + EXTRA_TEXT.get(fmt, "").encode()}


EXAMPLE_BYTES = {fmt: _example_bytes(fmt) for fmt in READERS}

INSERTS = [b"[", b"]", b"(", b")", b"{", b"}", b":", b" : ", b"\t", b"\n", b"\r\n", b"\r", b" ", b"  ", b"#", b"# ",
           b"-", b"- ", b"=", b",", b'"', b"'", b"\\", b"\\ud800", b"\\udc80", b'"\\ud800"', b"\\u0000", b"\xff",
           b"\xc3", b"\xe6\x9d", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\xc2\x85", b"\xe2\x80\xa8", b"\x00", b"\x1c",
           "é".encode(), "東京".encode(), b"B-", b"I-", b"O", b"[1 ", b" ]", b"[9 x ]", b"](", b"]{", b"null", b"true",
           b"-1", b"1e999", b"NaN", b"[[[[", b"1" * 5000, b"*a", b"&a ", b"!!python/object ", b"%YAML 1.1\n", b"---\n",
           b"|\n", b"\xfe\xff"]


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` after 1-6 byte- and line-level mutations."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "insert", "flip", "line_delete", "line_dup",
                                   "line_swap", "text"]))
        n = len(data)
        at = draw(st.integers(0, n))
        if op == "delete" and n:
            data[at : at + draw(st.integers(1, 16))] = b""
        elif op == "duplicate" and n:
            size = draw(st.integers(1, 32))
            data[at:at] = data[at : at + size]
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(INSERTS) | st.binary(min_size=1, max_size=4))
        elif op == "flip" and n:
            data[min(at, n - 1)] = draw(st.integers(0, 255))
        elif op.startswith("line_"):
            lines = bytes(data).split(b"\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if op == "line_delete":
                del lines[i]
            elif op == "line_dup":
                lines.insert(i, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
        elif op == "text":
            piece = draw(TEXT)
            data[at:at] = piece.encode("utf-8", errors="surrogatepass")
    return bytes(data)


TEXT = st.text(max_size=12) | st.text(
    alphabet=st.sampled_from(["a", " ", "[", "]", ":", "(", ")", "{", "}", "\t", "\n", "#", "=", ",", "\ud800",
                              "\udc80", "\ufeff", "\x85", "\u2028", "東", "é", "\\", '"', "1", "-"]),
    max_size=12,
)
"""Short strings, some made of the characters the formats' syntax uses, lone surrogates included."""

JSON_SCALAR = st.none() | st.booleans() | st.integers(-3, 60) | st.integers() | st.floats(allow_nan=False) | TEXT
JSON_VALUE = st.recursive(JSON_SCALAR, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)
OFFSET = st.integers(-2, 45) | st.floats(-1, 45, allow_nan=False) | st.booleans() | st.sampled_from(["3", None])
SLOT = st.fixed_dictionaries({"start": OFFSET, "end": OFFSET, "label": TEXT | JSON_SCALAR},
                             optional={"value": TEXT | JSON_SCALAR, "role": JSON_VALUE})
LABELLED = st.sampled_from(["city", "date", "x"])
RECORDS: dict[str, st.SearchStrategy[Any]] = {
    "jsonl": st.fixed_dictionaries(
        {"text": st.sampled_from(["fly to dallas on friday", "東京の天気", ""]) | TEXT | JSON_SCALAR},
        optional={"intent": TEXT | JSON_SCALAR, "language": TEXT | JSON_SCALAR, "slots": st.lists(SLOT, max_size=3)
                  | JSON_VALUE, "tokens": st.lists(st.lists(OFFSET, max_size=3), max_size=4) | JSON_VALUE,
                  "meta": JSON_VALUE, "extra": JSON_VALUE, "jsonl_extra": JSON_VALUE}),
    "massive": st.fixed_dictionaries(
        {"annot_utt": st.sampled_from(["wake me at [time : nine]", "[a : b] [c:d]", "x ] [", "[ : ]"]) | TEXT
         | JSON_SCALAR},
        optional={"utt": TEXT | JSON_SCALAR, "intent": TEXT | JSON_SCALAR, "locale": st.sampled_from(
            ["en-US", "ja_JP", "-", ""]) | JSON_SCALAR, "id": JSON_VALUE, "partition": JSON_VALUE}),
    "pizza": st.fixed_dictionaries(
        {"dev.SRC": TEXT | JSON_SCALAR},
        optional={"dev.TOP": st.sampled_from(["(ORDER (PIZZAORDER (NUMBER a ) pizza ) )", "(A", "( )", ") (",
                                              "(A b ) (C d )"]) | TEXT | JSON_SCALAR,
                  "dev.EXR": st.sampled_from(["(ORDER (PIZZAORDER (NUMBER 1 ) ) )", "volume(1,LITER)"]) | TEXT
                  | JSON_SCALAR}),
}


def _json_line(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", errors="surrogatepass")


@st.composite
def json_lines(draw: st.DrawFn, fmt: str) -> bytes:
    """1-4 lines, each a random JSON value or a record shaped like ``fmt``'s, escaped or raw (raw lone surrogates
    become invalid UTF-8)."""
    shaped = RECORDS.get(fmt)
    values = draw(st.lists(JSON_VALUE if shaped is None else shaped | JSON_VALUE, min_size=1, max_size=4))
    return b"\n".join(_json_line(v, draw(st.booleans())) for v in values) + b"\n"


def _read_case(fmt: str, data: bytes | tuple[bytes, bytes, bytes], name: str = "") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if fmt == "hf":
            path = folder / FILE_NAMES[fmt]
            path.mkdir()
            for file_name, content in EXAMPLE_BYTES["hf"].items():
                assert isinstance(data, bytes)
                (path / file_name).write_bytes(data if file_name == name else content)
        else:
            path = _write_input(fmt, folder, data)
        _check_read(fmt, path, folder)


@pytest.mark.parametrize("fmt", READERS)
def test_example_files_are_valid(fmt: str) -> None:
    """The mutations start from files that read cleanly (else the fuzz would only test error paths)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if fmt == "hf":
            path = folder / FILE_NAMES[fmt]
            path.mkdir()
            for name, content in EXAMPLE_BYTES[fmt].items():
                (path / name).write_bytes(content)
        elif fmt == "bio":
            files = EXAMPLE_BYTES[fmt]
            path = _write_input(fmt, folder, (files["seq.in"], files["seq.out"], files["label"]))
        else:
            path = _write_input(fmt, folder, EXAMPLE_BYTES[fmt][""])
        if fmt == "pizza":
            assert len(read_pizza(path)) == 2
            return
        result = read_dataset(path, fmt)
        assert result.problems == [] and len(result.utterances) >= 3
        _check_read(fmt, path, folder)


# -- properties -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", READERS)
@FUZZ
@given(data=st.data())
def test_random_bytes(fmt: str, data: st.DataObject) -> None:
    raw = data.draw(st.binary(max_size=300))
    if fmt == "bio":
        _read_case(fmt, (raw, data.draw(st.binary(max_size=100)), data.draw(st.binary(max_size=60))))
    elif fmt == "hf":
        _read_case(fmt, raw, data.draw(st.sampled_from(sorted(EXAMPLE_BYTES["hf"]))))
    else:
        _read_case(fmt, raw)


@pytest.mark.parametrize("fmt", READERS)
@FUZZ
@given(data=st.data())
def test_random_json_lines(fmt: str, data: st.DataObject) -> None:
    lines = data.draw(json_lines(fmt))
    if fmt == "bio":
        _read_case(fmt, (lines, data.draw(json_lines(fmt)), data.draw(json_lines(fmt))))
    elif fmt == "hf":
        json_files = sorted(name for name in EXAMPLE_BYTES["hf"] if name.endswith(".json"))
        _read_case(fmt, lines, data.draw(st.sampled_from(json_files)))
    else:
        _read_case(fmt, lines)


@pytest.mark.parametrize("fmt", READERS)
@FUZZ
@given(data=st.data())
def test_mutated_example_files(fmt: str, data: st.DataObject) -> None:
    files = EXAMPLE_BYTES[fmt]
    if fmt == "bio":
        parts = tuple(data.draw(mutated(files[name])) if data.draw(st.booleans()) else files[name]
                      for name in ("seq.in", "seq.out", "label"))
        _read_case(fmt, parts)  # type: ignore[arg-type]
    elif fmt == "hf":
        name = data.draw(st.sampled_from(sorted(files)))
        _read_case(fmt, data.draw(mutated(files[name])), name)
    else:
        _read_case(fmt, data.draw(mutated(files[""])))


# -- the writers: write -> read gives the same utterances, or E110 ----------------------------------------------

LABEL = st.sampled_from(["city", "date", "fromloc.city_name", "都市"]) | TEXT.filter(bool)
LANGUAGE = st.sampled_from(["en", "en", "ja", "de", "pt-BR", "en_US", "", " en", "x\ny"])
UTTERANCE_TEXT = st.sampled_from(["fly to new york on friday", "東京の天気", "hi", "a  b", " a b ", "x\ty",
                                  "[1 x ] y", "a: b", "# not a comment", "- dash"]) | TEXT


def _cut(start: int, end: int, cuts: set[int]) -> list[tuple[int, int]]:
    bounds = [start, *sorted(c for c in cuts if start < c < end), end]
    return list(itertools.pairwise(bounds))


@st.composite
def utterances(draw: st.DrawFn) -> Utterance:
    """A valid :class:`Utterance` with awkward text, labels, intents, languages, tokens and meta."""
    text = draw(UTTERANCE_TEXT)
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=6))))
    spans = []
    for start, end in zip(cuts[::2], cuts[1::2], strict=False):
        value = text[start:end]
        start += len(value) - len(value.lstrip())
        end -= len(value) - len(value.rstrip())
        if start < end and draw(st.booleans()):
            spans.append(Span(start, end, draw(LABEL)))
    tokens = None
    kind = draw(st.integers(0, 5))
    if kind == 0:  # a source tokenisation: whitespace tokens cut further at random points
        cuts = set(draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=4)))
        tokens = tuple((start, end) for s, e in Utterance(text).token_offsets()
                       for start, end in _cut(s, e, cuts)) or None
    elif kind == 1:  # any ordered ranges: they may leave text outside every token
        bounds = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=8))))
        tokens = tuple(zip(bounds[::2], bounds[1::2], strict=False)) or None
    meta = draw(st.none() | st.dictionaries(st.sampled_from(["id", "source", "jsonl_extra", "jsonl_slot_extra",
                                                             "rasa_entities", "locale"]), JSON_VALUE, max_size=3))
    intent = draw(st.sampled_from(["GetWeather", "atis_flight#atis_airfare", "book_flight"]) | st.none() | TEXT)
    return Utterance(text, intent, tuple(spans), draw(LANGUAGE), tokens, meta or {})


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(batch=st.lists(utterances(), max_size=4))
def test_write_read_round_trip(fmt: str, batch: list[Utterance]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _check_round_trip(fmt, batch, Path(tmp))
