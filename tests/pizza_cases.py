# ruff: noqa: E501
"""A few hand-checked PIZZA dev examples and a catalogue excerpt (PIZZA is CC BY-NC 4.0), for tests."""

from __future__ import annotations

from pathlib import Path

# dev line 2: toppings in the utterance are in the other order than in the EXR (sibling swap)
SWAP = {
    "dev.SRC": "five medium pizzas with tomatoes and ham",
    "dev.EXR": "(ORDER (PIZZAORDER (NUMBER 5 ) (SIZE MEDIUM ) (TOPPING HAM ) (TOPPING TOMATOES ) ) )",
    "dev.TOP": "(ORDER (PIZZAORDER (NUMBER five ) (SIZE medium ) pizzas with (TOPPING tomatoes ) and (TOPPING ham ) ) )",
    "dev.PCFG_ERR": "False",
}
# dev line 4: same order in TOP and EXR, so ordered EM holds too
ORDERED = {
    "dev.SRC": "i'd like to order a large onion and pepper pizza",
    "dev.EXR": "(ORDER (PIZZAORDER (NUMBER 1 ) (SIZE LARGE ) (TOPPING ONIONS ) (TOPPING PEPPERS ) ) )",
    "dev.TOP": "(ORDER i'd like to order (PIZZAORDER (NUMBER a ) (SIZE large ) (TOPPING onion ) and (TOPPING pepper ) pizza ) )",
    "dev.PCFG_ERR": "False",
}
# dev line 205: "hamburger" is not in the topping catalogue (gold says BEEF): a resolution miss
MISS = {
    "dev.SRC": "id like three medium hamburger pizzas",
    "dev.EXR": "(ORDER (PIZZAORDER (NUMBER 3 ) (SIZE MEDIUM ) (TOPPING BEEF ) ) )",
    "dev.TOP": "(ORDER id like (PIZZAORDER (NUMBER three ) (SIZE medium ) (TOPPING hamburger ) ) pizzas )",
    "dev.PCFG_ERR": "False",
}
# dev line 121: NOT scope, a drink order, and "a" resolved to NUMBER 1
NEGATED = {
    "dev.SRC": "i would like one small combination pizza without onions and a large diet pepsi",
    "dev.EXR": "(ORDER (DRINKORDER (DRINKTYPE DIET_PEPSI ) (NUMBER 1 ) (SIZE LARGE ) ) (PIZZAORDER (NOT (TOPPING ONIONS ) ) "
    "(NUMBER 1 ) (SIZE SMALL ) (STYLE COMBINATION ) ) )",
    "dev.TOP": "(ORDER i would like (PIZZAORDER (NUMBER one ) (SIZE small ) (STYLE combination ) pizza without (NOT "
    "(TOPPING onions ) ) ) and (DRINKORDER (NUMBER a ) (SIZE large ) (DRINKTYPE diet pepsi ) ) )",
    "dev.PCFG_ERR": "False",
}

CATALOGS = {
    "topping.txt": [
        "ham\ttopping(HAM)",
        "tomatoes\ttopping(TOMATOES)",
        "onion\ttopping(ONIONS)",
        "onions\ttopping(ONIONS)",
        "pepper\ttopping(PEPPERS)",
        "peppers\ttopping(PEPPERS)",
        "black olives\ttopping(OLIVES)",
        "cheese\ttopping(CHEESE)",
    ],
    "number.txt": ["a\tnumber(1)", "one\tnumber(1)", "three\tnumber(3)", "five\tnumber(5)", "two\tnumber(2)"],
    "size.txt": ["medium\tsize(MEDIUM)", "large\tsize(LARGE)", "small\tsize(SMALL)"],
    "style.txt": ["thin crust\tstyle(THIN_CRUST)", "combination\tstyle(COMBINATION)"],
    "drinks.txt": ["coke\tdrinkType(COKE)", "cokes\tdrinkType(COKE)", "diet pepsi\tdrinkType(DIET_PEPSI)"],
    "drink_volume.txt": ["2 liter\tvolume(2,LITER)"],
    "container.txt": ["cans\tcontainerType(CAN)"],
    "quant_qualifier.txt": ["extra\tquantity(EXTRA)"],
}

SHARED_PIZZA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pizza"


def write_catalogs(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in CATALOGS.items():
        (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory
