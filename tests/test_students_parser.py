"""The PIZZA parser student: path-label encoding, tree builder, CRF fit/predict/save/load."""

from __future__ import annotations

import json
import pathlib

import joblib
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


class _Payload:
    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _parser(tmp_path) -> tuple[ParserCRF, list[str]]:
    catalogs = Catalogs.load(write_catalogs(tmp_path / "catalogs"))
    lexicon = {label: catalogs.values(label) for label in catalogs.entries}
    trees = [Tree.from_top(c["dev.TOP"]) for c in CASES] * 3
    return ParserCRF(lexicon, max_iterations=30, word_classes={"negation": ["without", "no"]}).fit(trees), [
        c["dev.SRC"] for c in CASES
    ]


def test_saved_as_crfsuite_and_json_with_sha256_and_checked(tmp_path) -> None:
    parser, texts = _parser(tmp_path)
    directory = parser.save(tmp_path / "model")
    assert sorted(p.name for p in directory.iterdir()) == ["crf.crfsuite", "lexicon.json", "student.json"]
    meta = json.loads((directory / "student.json").read_text())
    assert meta["kind"] == "parser-crf" and meta["format_version"] == 2
    assert set(meta["files"]) == {"crf.crfsuite", "lexicon.json"}
    assert json.loads((directory / "lexicon.json").read_text())["word_classes"] == {"negation": ["no", "without"]}
    again = ParserCRF.load(directory)
    assert again.predict(texts) == parser.predict(texts) and again.lexicon == parser.lexicon
    (directory / "lexicon.json").write_text((directory / "lexicon.json").read_text().replace("no", "yes"))
    with pytest.raises(TvdError) as info:
        ParserCRF.load(directory)
    assert info.value.code == "E407" and "lexicon.json" in info.value.message
    (directory / "lexicon.json").unlink()
    with pytest.raises(TvdError) as info:
        ParserCRF.load(directory)
    assert info.value.code == "E409"


def test_a_format_1_pickle_is_refused_unless_trusted_and_upgrades(tmp_path) -> None:
    marker = tmp_path / "pwned"
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    joblib.dump({"crf": _Payload(marker), "lexicon": {}}, crafted / "model.joblib")
    meta = {"kind": "parser-crf", "format_version": 1, "c1": 0.05, "c2": 0.01, "max_iterations": 5, "root": "ORDER"}
    (crafted / "student.json").write_text(json.dumps(meta))
    with pytest.raises(TvdError) as info:
        ParserCRF.load(crafted)
    assert info.value.code == "E408" and "--trust-pickle" in (info.value.fix or "")
    assert not marker.exists()

    # a genuine format-1 folder (the fitted sklearn-crfsuite CRF pickled, as before) loads with trust
    import sklearn_crfsuite

    parser, texts = _parser(tmp_path)
    trees = [Tree.from_top(c["dev.TOP"]) for c in CASES] * 3
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.05, c2=0.01, max_iterations=30, all_possible_transitions=True)
    crf.fit([parser.features(encode(t)[0]) for t in trees], [encode(t)[1] for t in trees])
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    joblib.dump({"crf": crf, "lexicon": parser.lexicon, "word_classes": parser.word_classes}, legacy / "model.joblib")
    meta = {**parser.metadata(), "format_version": 1}
    (legacy / "student.json").write_text(json.dumps(meta))
    old = ParserCRF.load(legacy, trust_pickle=True)
    expected = [
        decode(text.split(), tags)
        for text, tags in zip(texts, crf.predict([parser.features(t.split()) for t in texts]), strict=True)
    ]
    assert old.predict(texts) == expected
    upgraded = ParserCRF.upgrade(legacy, tmp_path / "upgraded", trust_pickle=True)
    assert not (upgraded / "model.joblib").exists()
    assert ParserCRF.load(upgraded).predict(texts) == expected
