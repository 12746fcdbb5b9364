"""A bounded Hypothesis fuzz of `POST /parse` against a real `tvd serve` on 127.0.0.1, through httpx.

Random JSON values and shapes, random bytes, odd content types, unicode with lone surrogates and escapes, huge
numbers and deep nesting.  The only outcomes allowed: 200 with the documented shape, or a 4xx with a JSON error
body that has a code; never a 5xx, never a body that is not JSON, and no traceback in the server's log.

The budget is small by default (150 requests); ``TVD_FUZZ_EXAMPLES=5000`` raises it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from factories import THREE_INTENTS
from local_processes import free_port, stop, wait_until_ok
from tvd.students import CrfStudent

MAX_CHARS, MAX_BATCH, MAX_BODY = 200, 8, 20_000
EXAMPLES = int(os.environ.get("TVD_FUZZ_EXAMPLES", "150"))

settings.register_profile(
    "tvd-serve-fuzz",
    max_examples=EXAMPLES,
    deadline=None,  # a real server on a shared CPU: latency varies
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("tvd-serve-fuzz")  # applied to this file's test only: other fuzz files keep theirs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    """`tvd serve` of a CRF student with small limits, an httpx client for it, and its log file."""
    folder = tmp_path_factory.mktemp("serve-fuzz")
    model_dir = CrfStudent().fit(THREE_INTENTS).save(folder / "model")
    port = free_port()
    log_path = folder / "server.log"
    limits = ["--max-chars", str(MAX_CHARS), "--max-batch", str(MAX_BATCH), "--max-body-bytes", str(MAX_BODY)]
    command = [sys.executable, "-m", "tvd.cli.main", "serve", str(model_dir), "--port", str(port), *limits]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_ok(f"http://127.0.0.1:{port}/health", process, log_path, timeout_s=60)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                yield client, log_path
        finally:
            stop(process)
    log_text = log_path.read_text()
    assert "Traceback" not in log_text, log_text[-3000:]


# -- what is sent -------------------------------------------------------------------------------------

# every code point, lone surrogates included (Hypothesis leaves them out of text() unless asked)
ANY_CHARACTER = st.one_of(st.characters(), st.characters(categories=["Cs"]))
TEXT = st.one_of(
    st.text(ANY_CHARACTER, max_size=30),
    st.sampled_from(["play some jazz", "will it rain in boston tomorrow", "book a table for two", " ", "\t\n"]),
    st.text(st.sampled_from("ab [{\"\\'ü☀\u200b\x00"), max_size=40),
    st.integers(MAX_CHARS - 2, MAX_CHARS + 2).map(lambda n: "x" * n),
)
HUGE_NUMBER = st.one_of(
    st.integers(4290, 5000).map(lambda n: "9" * n),  # around int()'s 4,300-digit limit
    st.sampled_from(["1e999999", "-1e-999999", "NaN", "Infinity", "-Infinity", "-0", "1E400", "0.0000001e-400"]),
)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), TEXT)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=20,
)
# texts the server should answer with 200: any characters but lone surrogates, within the limits
GOOD_TEXT = st.one_of(
    st.text(st.characters(), min_size=1, max_size=MAX_CHARS).filter(str.strip),
    st.lists(st.sampled_from(["play", "jazz", "in", "boston", "a", "table", "for", "two", "rain", "Zürich", "🎷"]),
             min_size=1, max_size=12).map(" ".join),
)  # fmt: skip
GOOD = st.one_of(
    st.fixed_dictionaries({"text": GOOD_TEXT}),
    st.fixed_dictionaries({"texts": st.lists(GOOD_TEXT, min_size=1, max_size=MAX_BATCH)}),
)
SHAPED = st.one_of(
    st.fixed_dictionaries({"text": st.one_of(TEXT, JSON_VALUE)}),
    st.fixed_dictionaries({"texts": st.lists(st.one_of(TEXT, TEXT, JSON_VALUE), max_size=MAX_BATCH + 2)}),
    st.fixed_dictionaries({"text": TEXT, "texts": st.lists(TEXT, max_size=2)}),
    st.fixed_dictionaries({"text": TEXT}, optional={"extra": JSON_VALUE, "": JSON_VALUE}),
    JSON_VALUE,
)


def _json_bytes(value: Any, ensure_ascii: bool) -> bytes:
    # ensure_ascii: lone surrogates as \\ud800 escapes; otherwise written raw (invalid UTF-8, "surrogatepass")
    return json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    depth = draw(st.one_of(st.integers(1, 12), st.integers(1, MAX_BODY // 5), st.integers(1, 120_000)))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'{"texts":[', b"]}")]))
    inner = draw(st.sampled_from([b'"play jazz"', b"1", b""]))
    closed = draw(st.booleans())
    return opener * depth + inner + (closer * depth if closed else b"")


@st.composite
def escaped(draw: st.DrawFn) -> bytes:
    """A text field written by hand, with JSON escapes (surrogates, control characters, bad escapes)."""
    parts = draw(
        st.lists(
            st.one_of(
                st.sampled_from(
                    [
                        "\\ud800",
                        "\\udfff",
                        "\\ud83d\\ude00",
                        "\\u0000",
                        "\\n",
                        '\\"',
                        "\\/",
                        "\\x41",
                        "\\u12",
                        "\\uDC00\\uD800",
                        "\\",
                        "\u2028",
                        "play",
                        " jazz ",
                    ]
                ),
                st.text(ANY_CHARACTER, max_size=5).map(lambda t: json.dumps(t)[1:-1]),
            ),
            max_size=8,
        )
    )
    field = draw(st.sampled_from(['{{"text": "{}"}}', '{{"texts": ["{}", "ok"]}}', '["{}"]']))
    return field.format("".join(parts)).encode("utf-8", "surrogatepass")


@st.composite
def body(draw: st.DrawFn) -> bytes:
    kinds = ["good", "good", "good", "shaped", "shaped", "bytes", "deep", "number", "escaped", "mutated"]
    kind = draw(st.sampled_from(kinds))
    if kind == "good":
        return _json_bytes(draw(GOOD), draw(st.booleans()))
    if kind == "shaped":
        return _json_bytes(draw(SHAPED), draw(st.booleans()))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "deep":
        return draw(deep())
    if kind == "number":
        where = draw(st.sampled_from(['{{"text": {}}}', '{{"texts": [{}]}}', "{}"]))
        return where.format(draw(HUGE_NUMBER)).encode()
    if kind == "escaped":
        return draw(escaped())
    good = _json_bytes(draw(SHAPED), True)  # a valid body with a few bytes changed, cut or inserted
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(good)))
        good = good[:at] + draw(st.binary(min_size=0, max_size=3)) + good[at + draw(st.integers(0, 2)) :]
    return good


ODD_CONTENT_TYPE = st.one_of(
    st.sampled_from(
        [
            "APPLICATION/JSON",
            "application/json;;;",
            "application/json ;charset=UTF-8",
            "application/json; charset=latin-1",
            "text/plain",
            "text/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "",
        ]
    ),
    # printable ASCII; httpx refuses to send a value with white space at either end
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip),
    st.none(),  # no header at all
)
JSON_CONTENT_TYPE = st.sampled_from(["application/json", "application/json; charset=utf-8"])
# three draws in four send the JSON type, so that most bodies are read
CONTENT_TYPE = st.sampled_from(["json", "json", "json", "odd"]).flatmap(
    lambda kind: JSON_CONTENT_TYPE if kind == "json" else ODD_CONTENT_TYPE
)


# -- what may come back ---------------------------------------------------------------------------------


def _check_result(result: Any) -> None:
    assert set(result) == {"text", "intent", "confidence", "slots"}, result
    assert isinstance(result["text"], str) and isinstance(result["intent"], str)
    assert result["confidence"] is None or 0.0 <= result["confidence"] <= 1.0
    for slot in result["slots"]:
        assert set(slot) == {"start", "end", "label", "value"}
        assert 0 <= slot["start"] < slot["end"] <= len(result["text"])
        assert result["text"][slot["start"] : slot["end"]] == slot["value"]


def check_outcome(response: httpx.Response, sent: bytes) -> None:
    """200 with the documented shape, or a 4xx with a JSON error that has a code; nothing else."""
    assert response.status_code < 500, (response.status_code, response.text[:300], sent[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    payload = response.json()
    if response.status_code == 200:
        if "results" in payload:
            assert set(payload) == {"results"}
            assert 1 <= len(payload["results"]) <= MAX_BATCH
            for result in payload["results"]:
                _check_result(result)
        else:
            _check_result(payload)
        return
    assert response.status_code in {400, 413, 415, 422}, (response.status_code, payload)
    error = payload["error"]
    assert re.fullmatch(r"E4\d\d", error["code"]), error
    assert isinstance(error["message"], str) and error["message"]


@pytest.mark.slow
@FUZZ
@given(sent=body(), content_type=CONTENT_TYPE)
@example(sent=b"[" * 100_000, content_type="application/json")
@example(sent=b'{"text": "\\ud800"}', content_type="application/json")
@example(sent=b'{"texts": ["ok", "\\udfff"]}', content_type="application/json")
@example(sent=b'{"text": ' + b"9" * 5000 + b"}", content_type="application/json")
@example(sent=b'{"text": "play jazz"}', content_type=None)
@example(sent=b'{"text": "play jazz"}', content_type="application/json; charset=utf-8")
def test_parse_answers_every_body_with_200_or_a_coded_4xx(server, sent, content_type):
    client, _ = server
    headers = {} if content_type is None else {"content-type": content_type}
    response = client.post("/parse", content=sent, headers=headers)
    check_outcome(response, sent)
    code = response.json().get("error", {}).get("code", "") if response.status_code != 200 else ""
    event(f"{response.status_code} {code}".strip())  # the spread shows with --hypothesis-show-statistics
