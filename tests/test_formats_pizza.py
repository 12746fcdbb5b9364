"""PIZZA JSON lines reader / writer."""

from __future__ import annotations

import json

import pytest

from pizza_cases import NEGATED, SWAP
from tvd.clasp.resolve import CATALOG_FILES, Catalogs
from tvd.errors import TvdError
from tvd.formats.pizza import PizzaExample, read_pizza, write_pizza


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
        ("{not json", "not valid JSON"),
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


def test_bad_bytes_and_lone_surrogates_are_e112_naming_the_line(tmp_path) -> None:
    path = tmp_path / "bad.json"
    good = json.dumps(SWAP).encode()
    path.write_bytes(good + b"\n" + good.replace(b"four", b"f\xf6ur") + b"\n")
    with pytest.raises(TvdError) as info:
        read_pizza(path)
    assert (info.value.code, info.value.line) == ("E112", 2)
    path.write_text(json.dumps(SWAP) + "\n" + json.dumps({**SWAP, "dev.SRC": "f\ud800ur"}) + "\n", encoding="utf-8")
    with pytest.raises(TvdError) as info:
        read_pizza(path)
    assert (info.value.code, info.value.line) == ("E112", 2) and "U+D800" in info.value.message


@pytest.mark.parametrize(
    ("record", "problem"),
    [({"dev.SRC": 4, "dev.TOP": "(ORDER a )"}, "must be a string"),
     ({"dev.SRC": "a", "dev.EXR": None}, "must be a string"),
     ({"dev.SRC": "a", "dev.TOP": "(A " * 200 + "a" + " )" * 200}, "deeper than")],
)
def test_fields_are_not_coerced_and_trees_not_too_deep(tmp_path, record, problem) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(TvdError) as info:
        read_pizza(path)
    assert info.value.code == "E602" and info.value.line == 1 and problem in info.value.message


def test_writer_refuses_lone_surrogates(tmp_path) -> None:
    example = read_pizza_line(tmp_path)
    with pytest.raises(TvdError) as info:
        write_pizza(tmp_path / "out.json", [PizzaExample("f\udc80ur", example.top, example.exr)])
    assert info.value.code == "E110" and not (tmp_path / "out.json").exists()


def test_catalogue_line_that_is_not_utf8_is_e112(tmp_path) -> None:
    catalogs = tmp_path / "catalogs"
    catalogs.mkdir()
    for name in CATALOG_FILES.values():
        (catalogs / name).write_text("one\tnumber(1)\n", encoding="utf-8")
    (catalogs / "topping.txt").write_bytes(b"olives\ttopping(OLIVES)\nj\xe4lape\xf1os\ttopping(JALAPENOS)\n")
    with pytest.raises(TvdError) as info:
        Catalogs.load(catalogs)
    assert (info.value.code, info.value.file, info.value.line) == ("E112", str(catalogs / "topping.txt"), 2)


def read_pizza_line(tmp_path) -> PizzaExample:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(SWAP) + "\n", encoding="utf-8")
    return read_pizza(path)[0]
