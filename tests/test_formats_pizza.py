"""PIZZA JSON lines reader / writer."""

from __future__ import annotations

import json

import pytest

from pizza_cases import NEGATED, SWAP
from tvd.errors import TvdError
from tvd.formats.pizza import read_pizza, write_pizza


def test_read_write_round_trip(tmp_path) -> None:
    path = tmp_path / "dev.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in (SWAP, NEGATED)), encoding="utf-8")
    examples = read_pizza(path)
    assert [e.text for e in examples] == [SWAP["dev.SRC"], NEGATED["dev.SRC"]]
    assert str(examples[0].top) == SWAP["dev.TOP"] and str(examples[0].exr) == SWAP["dev.EXR"]
    out = tmp_path / "out.json"
    write_pizza(out, examples, split="train")
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first == {"train.SRC": SWAP["dev.SRC"], "train.EXR": SWAP["dev.EXR"], "train.TOP": SWAP["dev.TOP"]}
    assert read_pizza(out) == examples


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"dev.SRC": "a pizza"}), "missing SRC"),
        (json.dumps({"dev.SRC": "a pizza", "dev.TOP": "(ORDER (PIZZAORDER a pizza )"}), "unclosed"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line: str, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(SWAP) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(TvdError) as info:
        read_pizza(path)
    assert info.value.code == "E602" and info.value.line == 2 and problem in info.value.message
