"""Validation of (utterance, parse) pairs written by a teacher.

A TOP output is accepted when it is a balanced tree (:meth:`Tree.from_top`), rooted in the expected label,
uses only known labels, has words only where they belong (a slot node holds only words; an intermediate
node's words are connecting words), and every slot value is non-empty (it is then in the utterance by
construction, since TOP's words are the utterance).  Against a requested semantics-only tree (RS / TS) the
output must also express exactly that tree (sibling order ignored), values verbatim when ``check_values``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tvd.data.parse_tree import Tree
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


class Rejection(Exception):
    """A rejected output: ``reason`` is a short stable code counted in summaries."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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
    * ``duplicate_slot``: an order with two NUMBER, SIZE or DRINKTYPE nodes.

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

    walk(tree)


def check_output(
    text: str,
    *,
    expected: Tree | None = None,
    root: str = "ORDER",
    finish_reason: str | None = None,
    language: str = "en",
) -> Checked:
    """Parse and validate one teacher output (a TOP string).  ``expected``: the semantics-only tree the
    output must express (RS / TS)."""
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
    if expected is not None and not tree.semantics_only().unordered_equal(expected):
        words = " ".join(tree.words())
        missing = [v for _, v in expected.slot_values() if f" {v} " not in f" {words} "]
        if missing:
            raise Rejection("value_missing", f"value(s) {missing} not in the utterance")
        raise Rejection("parse_changed", "the output's parse differs from the requested one")
    return Checked(tree)
