"""Validation of (utterance, parse) pairs written by a teacher.

A TOP output is accepted when it is a balanced tree (:meth:`Tree.from_top`), rooted in the expected label,
uses only known labels, has words only where they belong (a slot node holds only words; an intermediate
node's words are connecting words), and every slot value is non-empty (it is then in the utterance by
construction, since TOP's words are the utterance).  Against a requested semantics-only tree (RS / TS) the
output must also express exactly that tree (sibling order ignored), values verbatim when ``check_values``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tvd.data.parse_tree import Tree
from tvd.engine.task import Rejection
from tvd.errors import TvdError

ORDER_LABELS = {"PIZZAORDER", "DRINKORDER"}
GROUP_LABELS = {"NOT", "COMPLEX_TOPPING"}
SLOT_LABELS = {"NUMBER", "SIZE", "STYLE", "TOPPING", "QUANTITY", "DRINKTYPE", "VOLUME", "CONTAINERTYPE"}
KNOWN_LABELS = {"ORDER"} | ORDER_LABELS | GROUP_LABELS | SLOT_LABELS
#: English words that negate what follows: right before a slot outside NOT they contradict the parse
NEGATION_CUES = {
    "no",
    "not",
    "without",
    "hold",
    "avoid",
    "skip",
    "minus",
    "except",
    "don't",
    "dont",
    "nothing",
    "never",
    "none",
    "hate",
    "n't",
    "didn't",
    "doesn't",
}
#: words that may introduce a NOT (the cues above plus phrasal ones: "leave off the", "free")
NOT_CUES = NEGATION_CUES | {"leave", "off", "remove", "out", "free", "less", "want"}
MAX_REPEATS = 3
#: slot labels whose catalogue values must not appear among the connecting words (see :func:`check_unlabelled`);
#: NUMBER, SIZE, QUANTITY, CONTAINERTYPE and VOLUME values are everyday words ("a", "can", "large size")
UNLABELLED_CHECK_LABELS = ("TOPPING", "DRINKTYPE", "STYLE")

__all__ = ["Checked", "Rejection", "check_output", "check_structure", "check_unlabelled", "check_wording"]


@dataclass(frozen=True)
class Checked:
    tree: Tree

    @property
    def text(self) -> str:
        return " ".join(self.tree.words())


def check_structure(tree: Tree, root: str = "ORDER") -> None:
    """Raise :class:`Rejection` unless ``tree`` is a well-formed PIZZA TOP tree."""
    if tree.label != root:
        raise Rejection("wrong_root", f"root is {tree.label}, expected {root}")
    unknown = tree.labels() - KNOWN_LABELS
    if unknown:
        raise Rejection("unknown_label", f"unknown label(s) {sorted(unknown)}")
    if not tree.subtrees:
        raise Rejection("no_order", "the parse has no order")

    def walk(node: Tree) -> None:
        if node.label in SLOT_LABELS:
            if not node.is_preterminal():
                raise Rejection("slot_not_leaf", f"slot {node.label} holds a node")
            if not any(w.strip() for w in node.children):  # type: ignore[union-attr]
                raise Rejection("empty_value", f"slot {node.label} is empty")
            return
        if node.is_preterminal() and node.label != root:
            raise Rejection("words_outside_slot", f"{node.label} holds only words, no slot")
        for child in node.subtrees:
            walk(child)

    walk(tree)


def check_wording(tree: Tree, window: int = 3, language: str = "en") -> None:
    """Round-trip checks that the words say what the parse says (each one a rejection reason):

    * ``repeated_word``: babble, a word :data:`MAX_REPEATS` times in a row;
    * ``negation_outside_not``: a negation cue among the ``window`` connecting words right before a node
      the parse does not negate (``without (TOPPING ham )``);
    * ``not_without_cue``: a NOT node with no negation cue (:data:`NOT_CUES`) inside it or among the
      ``2 * window`` words before it;
    * ``duplicate_slot``: an order with two NUMBER, SIZE or DRINKTYPE nodes;
    * ``negation_without_slot``: a negation cue among the connecting words after a node's last child
      (``(PIZZAORDER (TOPPING ham ) and without yellow pepper )``): the words say something is left out, the
      parse leaves nothing out.

    The negation checks know English cue words only; for another ``language`` they are skipped.
    """
    words = tree.words()
    for i in range(len(words) - MAX_REPEATS + 1):
        if len(set(words[i : i + MAX_REPEATS])) == 1:
            raise Rejection("repeated_word", f"{words[i]!r} repeated {MAX_REPEATS} times")

    def walk(node: Tree) -> None:
        before: list[str] = []
        for child in node.children:
            if isinstance(child, str):
                before.append(child.lower())
                continue
            cues = set(before[-window:]) & NEGATION_CUES if language == "en" else set()
            if child.label == "NOT" and language == "en":
                inside = {w.lower() for w in child.children if isinstance(w, str)}
                if not (set(before[-2 * window :]) | inside) & NOT_CUES:
                    raise Rejection("not_without_cue", "a NOT node without a negation word before or in it")
            elif cues and node.label != "NOT":
                raise Rejection("negation_outside_not", f"{sorted(cues)} before ({child.label} ...) outside NOT")
            if node.label in ORDER_LABELS:
                labels = [c.label for c in node.subtrees]
                for label in ("NUMBER", "SIZE", "DRINKTYPE"):
                    if labels.count(label) > 1:
                        raise Rejection("duplicate_slot", f"{labels.count(label)} {label} nodes in one {node.label}")
            before = []
            walk(child)
        trailing = set(before) & NEGATION_CUES if language == "en" else set()
        if trailing and node.label not in SLOT_LABELS and node.label != "NOT":
            raise Rejection("negation_without_slot", f"{sorted(trailing)} after the last node of {node.label}")

    walk(tree)


def check_unlabelled(tree: Tree, lexicon: Mapping[str, Sequence[str]], labels: Sequence[str]) -> None:
    """``value_outside_slot``: a known value of one of ``labels`` (``lexicon``: label -> surface forms) among the
    connecting words, e.g. ``(TOPPING ham ) and pepper`` with ``pepper`` a TOPPING: the student would learn
    that a topping is not a topping.  Real PIZZA trees almost never do this (2 of 1,705, both a topping repeated
    in a remark after the order: "... i don't like ham on pizza")."""
    known: dict[tuple[str, ...], str] = {}
    for label in labels:
        for value in lexicon.get(label, ()):
            words = tuple(value.lower().split())
            if words:
                known.setdefault(words, label)
    if not known:
        return
    longest = max(len(words) for words in known)

    def runs(node: Tree) -> list[list[str]]:
        out: list[list[str]] = [[]]
        for child in node.children:
            if isinstance(child, str):
                out[-1].append(child.lower())
            else:
                out.append([])
        return out

    def walk(node: Tree) -> None:
        if node.label in SLOT_LABELS:
            return
        for run in runs(node):
            for i in range(len(run)):
                for n in range(1, min(longest, len(run) - i) + 1):
                    label = known.get(tuple(run[i : i + n]))
                    if label is not None:
                        value = " ".join(run[i : i + n])
                        raise Rejection("value_outside_slot", f"{value!r} (a {label}) is outside any slot")
        for child in node.subtrees:
            walk(child)

    walk(tree)


def check_output(
    text: str,
    *,
    expected: Tree | None = None,
    root: str = "ORDER",
    finish_reason: str | None = None,
    language: str = "en",
    lexicon: Mapping[str, Sequence[str]] | None = None,
) -> Checked:
    """Parse and validate one teacher output (a TOP string).  ``expected``: the semantics-only tree the
    output must express (RS / TS).  ``lexicon`` (label -> catalogue values): also reject known values outside
    slots (:func:`check_unlabelled`)."""
    text = text.strip()
    if text.endswith("</utterance>"):
        text = text[: -len("</utterance>")].strip()
    try:
        tree = Tree.from_top(text)
    except TvdError as exc:
        reason = "truncated" if finish_reason == "length" else "malformed"
        raise Rejection(reason, exc.message) from exc
    check_structure(tree, root)
    check_wording(tree, language=language)
    if lexicon:
        check_unlabelled(tree, lexicon, UNLABELLED_CHECK_LABELS)
    if expected is not None and not tree.semantics_only().unordered_equal(expected):
        words = " ".join(tree.words())
        missing = [v for _, v in expected.slot_values() if f" {v} " not in f" {words} "]
        if missing:
            raise Rejection("value_missing", f"value(s) {missing} not in the utterance")
        raise Rejection("parse_changed", "the output's parse differs from the requested one")
    return Checked(tree)
