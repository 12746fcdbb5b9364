"""The PIZZA parser student: path-label encoding, tree builder, CRF fit/predict/save/load."""

from __future__ import annotations

import pytest

from pizza_cases import MISS, NEGATED, ORDERED, SHARED_PIZZA, SWAP, write_catalogs
from tvd.clasp.resolve import Catalogs
from tvd.data.parse_tree import Tree
from tvd.errors import TvdError
from tvd.evaluate.parse_metrics import score
from tvd.formats.pizza import read_pizza
from tvd.students.parser_crf import ParserCRF, decode, encode

CASES = [ORDERED, SWAP, NEGATED, MISS]


def test_encoding_marks_paths_with_b_and_i() -> None:
    words, labels = encode(Tree.from_top(NEGATED["dev.TOP"]))
    assert words == NEGATED["dev.SRC"].split()
    assert labels[:4] == ["O", "O", "O", "B-PIZZAORDER|B-NUMBER"]
    assert labels[words.index("without")] == "I-PIZZAORDER"
    assert labels[words.index("olives")] == "I-PIZZAORDER|B-NOT|B-TOPPING"
    assert labels[-2:] == ["I-DRINKORDER|B-DRINKTYPE", "I-DRINKORDER|I-DRINKTYPE"]


def test_b_separates_adjacent_nodes() -> None:
    tree = Tree.from_top("(ORDER (PIZZAORDER (TOPPING ham ) (TOPPING olives ) ) (PIZZAORDER (NUMBER two ) ) )")
    words, labels = encode(tree)
    assert labels == ["B-PIZZAORDER|B-TOPPING", "I-PIZZAORDER|B-TOPPING", "B-PIZZAORDER|B-NUMBER"]
    assert decode(words, labels) == tree


@pytest.mark.parametrize("case", CASES)
def test_encoding_round_trips(case) -> None:
    tree = Tree.from_top(case["dev.TOP"])
    assert decode(*encode(tree)) == tree


def test_decode_accepts_any_label_sequence() -> None:
    tree = decode(["a", "b", "c"], ["I-TOPPING", "O", "I-PIZZAORDER|I-NOT"])
    assert str(tree) == "(ORDER (TOPPING a ) b (PIZZAORDER (NOT c ) ) )"


def test_fit_predict_save_load(tmp_path) -> None:
    catalogs = Catalogs.load(write_catalogs(tmp_path / "catalogs"))
    lexicon = {label: catalogs.values(label) for label in catalogs.entries}
    trees = [Tree.from_top(c["dev.TOP"]) for c in CASES] * 3
    parser = ParserCRF(lexicon, max_iterations=50).fit(trees)
    texts = [c["dev.SRC"] for c in CASES]
    predicted = parser.predict(texts)
    assert [" ".join(t.words()) for t in predicted] == texts  # the words are the utterance, in order
    assert predicted[0] == Tree.from_top(ORDERED["dev.TOP"])  # a training example is parsed back
    parser.save(tmp_path / "model")
    again = ParserCRF.load(tmp_path / "model")
    assert again.predict(texts) == predicted
    assert again.predict([""])[0].label == "ORDER"


def test_errors_are_coded(tmp_path) -> None:
    with pytest.raises(TvdError) as info:
        ParserCRF().predict(["a pizza"])
    assert info.value.code == "E621"
    with pytest.raises(TvdError) as info:
        ParserCRF.load(tmp_path)
    assert info.value.code == "E622"


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_PIZZA / "PIZZA_dev.json").is_file(), reason="PIZZA data not present")
def test_dev_trained_parser_beats_the_documented_floor() -> None:
    """348 dev -> test: the from-scratch transformer reached 56.8% unordered EM; the CRF must beat it."""
    catalogs = Catalogs.load(SHARED_PIZZA / "catalogs")
    dev = read_pizza(SHARED_PIZZA / "PIZZA_dev.json")
    test = read_pizza(SHARED_PIZZA / "PIZZA_test.json")
    parser = ParserCRF({label: catalogs.values(label) for label in catalogs.entries}).fit([e.top for e in dev])
    scores = score(parser.predict([e.text for e in test]), [e.exr for e in test], catalogs)
    assert scores.unordered_em > 0.80


def test_word_classes_generalise_from_one_member_to_the_others(tmp_path) -> None:
    """Trained only with "without", the parser reads "avoid" and "no" as negation when they share a class."""
    negated = "(ORDER i want (PIZZAORDER (NUMBER a ) pizza with (TOPPING {} ) without (NOT (TOPPING {} ) ) ) )"
    train = [
        Tree.from_top(negated.format(a, b))
        for a, b in [("ham", "olives"), ("olives", "onions"), ("onions", "ham"), ("tuna", "ham"), ("ham", "tuna")]
    ] + [
        Tree.from_top(f"(ORDER i want (PIZZAORDER (NUMBER a ) pizza with (TOPPING {a} ) and (TOPPING {b} ) ) )")
        for a, b in [("ham", "olives"), ("olives", "onions"), ("tuna", "ham")]
    ]
    lexicon = {"TOPPING": ["ham", "olives", "onions", "tuna", "bacon"], "NUMBER": ["a"]}
    texts = ["i want a pizza with ham avoid bacon", "i want a pizza with tuna no onions"]
    plain = ParserCRF(lexicon, max_iterations=50).fit(train)
    classed = ParserCRF(lexicon, max_iterations=50, word_classes={"negation": ["without", "avoid", "no"]}).fit(train)
    assert all("(NOT" not in str(tree) for tree in plain.predict(texts))  # "avoid" and "no" were never seen
    assert all("(NOT (TOPPING" in str(tree) for tree in classed.predict(texts))
    features = classed.features(["pizza", "with", "ham", "avoid", "bacon"])
    assert features[4]["cue-1"] == "<negation>" and features[3]["word"] == "avoid"
    again = ParserCRF.load(classed.save(tmp_path / "parser"))
    assert again.word_classes == {"negation": ["avoid", "no", "without"]}
    assert again.predict(texts) == classed.predict(texts)
