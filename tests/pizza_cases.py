# ruff: noqa: E501
"""Hand-written examples in PIZZA's JSON-lines format and a small hand-written catalogue, for tests.

None of this is taken from the PIZZA dataset: the utterances, parses and catalogue entries were written
for these tests, only following the dataset's file formats (``dev.SRC`` / ``dev.EXR`` / ``dev.TOP`` /
``dev.PCFG_ERR`` lines and ``surface<TAB>name(ARG)`` catalogue lines).
"""

from __future__ import annotations

from pathlib import Path

from factories import shared_data

# toppings in the utterance are in the other order than in the EXR (sibling swap)
SWAP = {
    "dev.SRC": "four small pizzas topped with sausage and mushrooms",
    "dev.EXR": "(ORDER (PIZZAORDER (NUMBER 4 ) (SIZE SMALL ) (TOPPING MUSHROOMS ) (TOPPING SAUSAGE ) ) )",
    "dev.TOP": "(ORDER (PIZZAORDER (NUMBER four ) (SIZE small ) pizzas topped with (TOPPING sausage ) and (TOPPING mushrooms ) ) )",
    "dev.PCFG_ERR": "False",
}
# same order in TOP and EXR, so ordered EM holds too
ORDERED = {
    "dev.SRC": "please get me a medium pizza with bacon and spinach",
    "dev.EXR": "(ORDER (PIZZAORDER (NUMBER 1 ) (SIZE MEDIUM ) (TOPPING BACON ) (TOPPING SPINACH ) ) )",
    "dev.TOP": "(ORDER please get me (PIZZAORDER (NUMBER a ) (SIZE medium ) pizza with (TOPPING bacon ) and (TOPPING spinach ) ) )",
    "dev.PCFG_ERR": "False",
}
# "shrooms" is not in the topping catalogue (gold says MUSHROOMS): a resolution miss
MISS = {
    "dev.SRC": "can i have two large pizzas with shrooms",
    "dev.EXR": "(ORDER (PIZZAORDER (NUMBER 2 ) (SIZE LARGE ) (TOPPING MUSHROOMS ) ) )",
    "dev.TOP": "(ORDER can i have (PIZZAORDER (NUMBER two ) (SIZE large ) pizzas with (TOPPING shrooms ) ) )",
    "dev.PCFG_ERR": "False",
}
# NOT scope, a drink order, and "a" resolved to NUMBER 1
NEGATED = {
    "dev.SRC": "could i get two medium thin crust pizzas without olives and a small ginger ale",
    "dev.EXR": "(ORDER (DRINKORDER (DRINKTYPE GINGER_ALE ) (NUMBER 1 ) (SIZE SMALL ) ) (PIZZAORDER (NOT (TOPPING OLIVES ) ) "
    "(NUMBER 2 ) (SIZE MEDIUM ) (STYLE THIN_CRUST ) ) )",
    "dev.TOP": "(ORDER could i get (PIZZAORDER (NUMBER two ) (SIZE medium ) (STYLE thin crust ) pizzas without (NOT "
    "(TOPPING olives ) ) ) and (DRINKORDER (NUMBER a ) (SIZE small ) (DRINKTYPE ginger ale ) ) )",
    "dev.PCFG_ERR": "False",
}

CATALOGS = {
    "topping.txt": [
        "sausage\ttopping(SAUSAGE)",
        "mushroom\ttopping(MUSHROOMS)",
        "mushrooms\ttopping(MUSHROOMS)",
        "bacon\ttopping(BACON)",
        "spinach\ttopping(SPINACH)",
        "olives\ttopping(OLIVES)",
        "green peppers\ttopping(PEPPERS)",
        "pineapple\ttopping(PINEAPPLE)",
    ],
    "number.txt": ["a\tnumber(1)", "one\tnumber(1)", "two\tnumber(2)", "four\tnumber(4)", "six\tnumber(6)"],
    "size.txt": ["small\tsize(SMALL)", "medium\tsize(MEDIUM)", "large\tsize(LARGE)"],
    "style.txt": ["thin crust\tstyle(THIN_CRUST)", "deep dish\tstyle(DEEP_DISH)"],
    "drinks.txt": [
        "ginger ale\tdrinkType(GINGER_ALE)",
        "lemonade\tdrinkType(LEMONADE)",
        "lemonades\tdrinkType(LEMONADE)",
    ],
    "drink_volume.txt": ["3 liter\tvolume(3,LITER)"],
    "container.txt": ["bottles\tcontainerType(BOTTLE)"],
    "quant_qualifier.txt": ["light\tquantity(LIGHT)"],
}

SHARED_PIZZA = shared_data("pizza")


def write_catalogs(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in CATALOGS.items():
        (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory
