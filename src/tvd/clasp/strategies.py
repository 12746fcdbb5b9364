"""The four CLASP strategies as request planners: RS, TS, GB, TB.

Each planner turns real TOP trees into :class:`ClaspRequest` s (prompt, grammar, what the answer must
express); :class:`~tvd.clasp.task.ClaspTask` sends them through the engine.  Sampling is seeded and never expands
combinations: each request draws its source parse and each slot's new value independently.

* **RS**: source parse, every slot value replaced by a catalogue value of its label; the teacher writes
  the utterance (as a TOP tree) for the new parse.
* **TS**: the slot values are first translated by the teacher (:data:`VALUE_CANDIDATES` requests per distinct
  value without a glossary entry, the most frequent valid answer kept; a glossary entry is used as it is), then
  the target-language utterance is written for the parse with translated values, from the English tree.
* **GB**: a few-shot block of real TOP trees; the teacher writes one more.
* **TB**: (English, target) TOP pairs as shots; the teacher writes the target tree for a new English one, under
  a grammar that keeps the English parse's shape (values and connecting words free).

TS and TB use parallel-text prompts (:func:`~tvd.clasp.prompt.parallel_tree_prompt`) and, in the target
language, words of its letters only (:func:`~tvd.clasp.grammar.text_word`: the Latin script for German) where
the English had no digits.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tvd.clasp.grammar import WORD_ANY, free_grammar, skeleton_grammar, text_word
from tvd.clasp.prompt import both_prompt, parallel_tree_prompt, parallel_value_prompt, utterance_prompt
from tvd.data.parse_tree import Tree
from tvd.errors import E_EMPTY_POOL, E_UNKNOWN_STRATEGY, TvdError
from tvd.registry import Registry


@dataclass(frozen=True)
class ClaspRequest:
    """One request: ``expected`` is the semantics-only tree the answer must express (RS, TS), or None;
    ``kind`` is ``pair`` (a TOP tree answer) or ``value`` (a translated slot value, TS's first step)."""

    request_id: str
    strategy: str
    prompt: str
    grammar: str | None
    expected: Tree | None
    language: str = "en"
    source: str = ""
    kind: str = "pair"


def _check_pool(pool: Sequence[Tree]) -> None:
    if not pool:
        raise TvdError(
            E_EMPTY_POOL,
            "no real parses to start from",
            fix="give at least one TOP tree (e.g. PIZZA_dev.16_shots.json)",
        )


def replace_values(semantics: Tree, catalog: Mapping[str, Sequence[str]], rng: random.Random) -> Tree:
    """``semantics`` with every slot value that has catalogue values replaced by a random one."""
    if semantics.is_preterminal():
        forms = catalog.get(semantics.label)
        return Tree(semantics.label, tuple(rng.choice(forms).split())) if forms else semantics
    return Tree(semantics.label, tuple(replace_values(c, catalog, rng) for c in semantics.subtrees))


def map_values(semantics: Tree, mapping: Mapping[str, str]) -> Tree:
    """``semantics`` with slot values replaced through ``mapping`` (value -> value); others unchanged."""
    if semantics.is_preterminal():
        value = " ".join(semantics.children)  # type: ignore[arg-type]
        return Tree(semantics.label, tuple(mapping.get(value, value).split()))
    return Tree(semantics.label, tuple(map_values(c, mapping) for c in semantics.subtrees))


def plan_rs(
    pool: Sequence[Tree],
    catalog: Mapping[str, Sequence[str]],
    n: int,
    *,
    seed: int = 0,
    shots: int = 4,
    negation_cues: tuple[str, ...] = (),
) -> list[ClaspRequest]:
    """RS requests.  ``negation_cues`` (e.g. :data:`~tvd.clasp.grammar.NEGATION_CUES_EN`): each request draws
    one of them (uniformly, from its own seeded stream) and its grammar makes the words before every NOT end
    with it (:func:`~tvd.clasp.grammar.skeleton_grammar`).  Left to itself a small teacher picks the few cues
    its shots use; drawn, every cue is written about equally often."""
    _check_pool(pool)
    rng = random.Random(seed)
    cue_rng = random.Random(f"{seed}-negation-cues")  # its own stream: sources and values do not depend on cues
    out = []
    for i in range(n):
        source = rng.choice(pool)
        others = [t for t in pool if t is not source]
        examples = [*rng.sample(others, min(shots - 1, len(others))), source]
        target = replace_values(source.semantics_only(), catalog, rng)
        cues = (cue_rng.choice(negation_cues),) if negation_cues else ()
        out.append(
            ClaspRequest(
                f"rs-{i}",
                "rs",
                utterance_prompt(examples, target),
                skeleton_grammar(target, source=source, negation_cues=cues),
                target,
                source=str(source),
            )
        )
    return out


def plan_gb(
    pool: Sequence[Tree], catalog: Mapping[str, Sequence[str]], n: int, *, seed: int = 0, shots: int = 5
) -> list[ClaspRequest]:
    _check_pool(pool)
    rng = random.Random(seed)
    grammar = free_grammar(catalog)
    out = []
    for i in range(n):
        examples = rng.sample(list(pool), min(shots, len(pool)))
        out.append(ClaspRequest(f"gb-{i}", "gb", both_prompt(examples), grammar, None))
    return out


#: TS's first step: requests per slot value (different seeds); the most frequent valid translation is kept
VALUE_CANDIDATES = 3


def value_grammar(value: str, language: str) -> str:
    """A value translation: at most as many words as ``value`` (1-4) after an optional space, then a newline;
    words of letters (:func:`~tvd.clasp.grammar.text_word`) when ``value`` has no digit."""
    more = min(max(len(value.split()), 1), 4) - 1
    word = WORD_ANY if any(c.isdigit() for c in value) else text_word(language)
    words = f'word (" " word){{0,{more}}}' if more else "word"
    return f'root ::= " "? {words} "\\n"\nword ::= {word}\n'


def plan_ts_values(
    pool: Sequence[Tree],
    glossary: Sequence[tuple[str, str]],
    language: str,
    *,
    candidates: int = VALUE_CANDIDATES,
) -> list[ClaspRequest]:
    """TS step 1: ``candidates`` translation requests per distinct slot value of the pool that the glossary
    does not translate (request ids ``ts-value-{value index}-{candidate}``)."""
    _check_pool(pool)
    known = {en for en, _ in glossary}
    values = sorted({v for tree in pool for _, v in tree.semantics_only().slot_values()} - known)
    return [
        ClaspRequest(
            f"ts-value-{i}-{k}",
            "ts",
            parallel_value_prompt(glossary, v, language),
            value_grammar(v, language),
            None,
            language,
            v,
            "value",
        )
        for i, v in enumerate(values)
        for k in range(candidates)
    ]


def choose_translations(accepted: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Per source value, the most frequent accepted translation, case ignored (ties: the one that came first;
    its first spelling)."""
    by_source: dict[str, Counter[str]] = {}
    spelling: dict[tuple[str, str], str] = {}
    for record in accepted:
        key = record["value"].casefold()
        by_source.setdefault(record["source"], Counter())[key] += 1
        spelling.setdefault((record["source"], key), record["value"])
    return {source: spelling[source, counts.most_common(1)[0][0]] for source, counts in by_source.items()}


def plan_ts(
    pool: Sequence[Tree],
    translations: Mapping[str, str],
    pairs: Sequence[tuple[Tree, Tree]],
    language: str,
    *,
    samples: int = 1,
) -> list[ClaspRequest]:
    """TS step 2: for each pool parse (``samples`` times), the target-language tree of the English one, its
    parse pinned with translated values (a value without translation stays as it is)."""
    _check_pool(pool)
    out = []
    word = text_word(language)
    for i, source in enumerate(pool):
        target = map_values(source.semantics_only(), translations)
        prompt = parallel_tree_prompt(pairs, source, language)
        grammar = skeleton_grammar(target, source=source, word=word, leading_space=True)
        for s in range(samples):
            out.append(ClaspRequest(f"ts-{i}-{s}", "ts", prompt, grammar, target, language, str(source)))
    return out


def plan_tb(
    pool: Sequence[Tree], pairs: Sequence[tuple[Tree, Tree]], language: str, *, samples: int = 1
) -> list[ClaspRequest]:
    """TB: translate each pool tree (utterance and parse together) given (English, target) pairs; the grammar
    keeps the English parse's shape, in its order, with free values and connecting words."""
    _check_pool(pool)
    out = []
    word = text_word(language)
    for i, source in enumerate(pool):
        prompt = parallel_tree_prompt(pairs, source, language)
        grammar = skeleton_grammar(
            source.semantics_only(), source=source, word=word, free_values=True, leading_space=True
        )
        for s in range(samples):
            out.append(ClaspRequest(f"tb-{i}-{s}", "tb", prompt, grammar, None, language, str(source)))
    return out


# -- the strategies as interchangeable objects, registered by name in STRATEGIES ----------------------------------


@dataclass(frozen=True)
class ClaspInputs:
    """What a strategy plans from: the real parses (``pool``), catalogue values per label (``catalog``),
    ``count`` (requests for RS / GB, samples per pool parse for TS / TB), the sampling ``seed``, and for TS / TB
    the target ``language``, ``glossary`` (example value translations) and ``pairs`` (English / target trees)."""

    pool: Sequence[Tree]
    catalog: Mapping[str, Sequence[str]]
    count: int
    seed: int = 0
    negation_cues: tuple[str, ...] = ()
    language: str = "en"
    glossary: Sequence[tuple[str, str]] = ()
    pairs: Sequence[tuple[Tree, Tree]] = ()


#: runs a preliminary generation (TS's value translations) and returns its accepted records and stats dict
StepRunner = Callable[[list[ClaspRequest]], tuple[list[dict[str, Any]], dict[str, Any]]]


@dataclass(frozen=True)
class Plan:
    """A strategy's requests, and what its preliminary steps found (written to the job's summary)."""

    requests: list[ClaspRequest]
    steps: dict[str, Any]


class Strategy(Protocol):
    """A CLASP strategy: ``name``, ``cross_lingual`` (writes ``language``, needs ``pairs``) and ``plan``."""

    name: str
    cross_lingual: bool

    def plan(self, inputs: ClaspInputs, run_step: StepRunner) -> Plan: ...


@dataclass(frozen=True)
class ReplaceSlots:
    """RS: real parses with catalogue values; the teacher writes the utterance."""

    name: str = "rs"
    cross_lingual: bool = False

    def plan(self, inputs: ClaspInputs, run_step: StepRunner) -> Plan:
        requests = plan_rs(
            inputs.pool, inputs.catalog, inputs.count, seed=inputs.seed, negation_cues=inputs.negation_cues
        )
        return Plan(requests, {})


@dataclass(frozen=True)
class GenerateBoth:
    """GB: the teacher writes a new utterance and its parse from real shots."""

    name: str = "gb"
    cross_lingual: bool = False

    def plan(self, inputs: ClaspInputs, run_step: StepRunner) -> Plan:
        return Plan(plan_gb(inputs.pool, inputs.catalog, inputs.count, seed=inputs.seed), {})


@dataclass(frozen=True)
class TranslateSlots:
    """TS: the teacher translates the slot values (a preliminary step), then writes target-language utterances."""

    name: str = "ts"
    cross_lingual: bool = True

    def plan(self, inputs: ClaspInputs, run_step: StepRunner) -> Plan:
        accepted, stats = run_step(plan_ts_values(inputs.pool, inputs.glossary, inputs.language))
        pool_values = {v for tree in inputs.pool for _, v in tree.semantics_only().slot_values()}
        given = {en: tgt for en, tgt in inputs.glossary if en in pool_values}
        translations = {**given, **choose_translations(accepted)}
        requests = plan_ts(inputs.pool, translations, inputs.pairs, inputs.language, samples=inputs.count)
        candidates: dict[str, list[str]] = {}
        for record in accepted:
            candidates.setdefault(record["source"], []).append(record["value"])
        step = {"stats": stats, "translations": translations, "from_glossary": sorted(given), "candidates": candidates}
        return Plan(requests, {"value_translation": step})


@dataclass(frozen=True)
class TranslateBoth:
    """TB: the teacher writes the target-language utterance and parse from an English pair."""

    name: str = "tb"
    cross_lingual: bool = True

    def plan(self, inputs: ClaspInputs, run_step: StepRunner) -> Plan:
        return Plan(plan_tb(inputs.pool, inputs.pairs, inputs.language, samples=inputs.count), {})


#: the CLASP strategies by name; a user's package adds one through the entry point group ``tvd.clasp_strategies``
STRATEGIES: Registry[Strategy] = Registry("clasp_strategies", "CLASP strategy", E_UNKNOWN_STRATEGY)
for _strategy in (ReplaceSlots(), TranslateSlots(), GenerateBoth(), TranslateBoth()):
    STRATEGIES.register(_strategy.name, _strategy, description=(type(_strategy).__doc__ or "").split(": ", 1)[-1])


def strategy_names() -> list[str]:
    """The registered strategy names."""
    return STRATEGIES.names()


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``; an unknown name is a coded error listing the known ones."""
    return STRATEGIES.get(name)
