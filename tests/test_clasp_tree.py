"""The TOP / EXR tree type (tvd.data.parse_tree) and catalogue resolution (tvd.clasp.resolve)."""

from __future__ import annotations

import pytest

from pizza_cases import MISS, NEGATED, SWAP, write_catalogs
from tvd.clasp.resolve import UNKNOWN_ENTITY, Catalogs
from tvd.data.parse_tree import Tree
from tvd.errors import TvdError


def test_top_round_trip_and_words() -> None:
    tree = Tree.from_top(NEGATED["dev.TOP"])
    assert tree.to_string() == NEGATED["dev.TOP"]
    assert " ".join(tree.words()) == NEGATED["dev.SRC"]
    assert tree.labels() == {
        "ORDER",
        "PIZZAORDER",
        "NUMBER",
        "SIZE",
        "STYLE",
        "NOT",
        "TOPPING",
        "DRINKORDER",
        "DRINKTYPE",
    }


def test_semantics_only_drops_connecting_words() -> None:
    tree = Tree.from_top(SWAP["dev.TOP"]).semantics_only()
    assert str(tree) == "(ORDER (PIZZAORDER (NUMBER four ) (SIZE small ) (TOPPING sausage ) (TOPPING mushrooms ) ) )"
    assert tree.slot_values() == [
        ("NUMBER", "four"),
        ("SIZE", "small"),
        ("TOPPING", "sausage"),
        ("TOPPING", "mushrooms"),
    ]


def test_exr_tokenised_like_the_authors() -> None:
    # commas separate, no spaces needed before ")"
    tree = Tree.from_exr("(ORDER (DRINKORDER (NUMBER 1) (VOLUME 2,LITER)))")
    assert str(tree) == "(ORDER (DRINKORDER (NUMBER 1 ) (VOLUME 2 LITER ) ) )"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("(ORDER (PIZZAORDER (SIZE large ) )", "unclosed"),
        ("(ORDER (SIZE large ) ) )", "unbalanced"),
        ("(ORDER (NOT ) )", "empty node"),
        ("hello (ORDER x )", "outside the tree"),
    ],
)
def test_malformed_trees_are_rejected_with_e601(text: str, problem: str) -> None:
    with pytest.raises(TvdError) as info:
        Tree.from_top(text)
    assert info.value.code == "E601" and problem in info.value.message


def test_unordered_equal_ignores_sibling_order_only() -> None:
    a = Tree.from_exr("(ORDER (PIZZAORDER (TOPPING HAM ) (TOPPING TOMATOES ) ) )")
    b = Tree.from_exr("(ORDER (PIZZAORDER (TOPPING TOMATOES ) (TOPPING HAM ) ) )")
    c = Tree.from_exr("(ORDER (PIZZAORDER (TOPPING TOMATOES ) (TOPPING TOMATOES ) ) )")
    assert a != b and a.unordered_equal(b) and b.unordered_equal(a)
    assert not a.unordered_equal(c) and not c.unordered_equal(a)


def test_resolution_adds_default_number_and_marks_unknown(tmp_path) -> None:
    catalogs = Catalogs.load(write_catalogs(tmp_path / "catalogs"))
    resolved = catalogs.resolve(Tree.from_top("(ORDER (PIZZAORDER (SIZE large ) (TOPPING green peppers ) ) )"))
    assert str(resolved) == "(ORDER (PIZZAORDER (SIZE LARGE ) (TOPPING PEPPERS ) (NUMBER 1 ) ) )"
    missed = catalogs.resolve(Tree.from_top(MISS["dev.TOP"]))
    assert f"(TOPPING {UNKNOWN_ENTITY} )" in str(missed)
    assert catalogs.unknown_values(Tree.from_top(MISS["dev.TOP"])) == [("TOPPING", "shrooms")]
    volume = catalogs.resolve(Tree.from_top("(ORDER (DRINKORDER (VOLUME 3 liter ) (DRINKTYPE lemonades ) ) )"))
    assert str(volume) == "(ORDER (DRINKORDER (VOLUME 3 LITER ) (DRINKTYPE LEMONADE ) (NUMBER 1 ) ) )"


def test_bad_catalogue_line_names_file_and_line(tmp_path) -> None:
    directory = write_catalogs(tmp_path / "catalogs")
    (directory / "size.txt").write_text("small\tsize(SMALL)\nhuge SIZE\n", encoding="utf-8")
    with pytest.raises(TvdError) as info:
        Catalogs.load(directory)
    assert info.value.code == "E605" and info.value.line == 2 and info.value.file.endswith("size.txt")
