"""Trees for TOP-style and EXR semantic parses (PIZZA, CLASP).

A :class:`Tree` is a label with children, each a :class:`Tree` or a leaf word.  Two linear forms:

* **TOP**: the utterance's words inside the tree, ``(ORDER i want (PIZZAORDER (NUMBER two ) pizzas ) )``;
  every token is a word, ``(LABEL`` or ``)``.
* **EXR** (executable representation): resolved entities only, ``(ORDER (PIZZAORDER (NUMBER 2 ) ) )``;
  tokenised like the PIZZA authors do (any character outside ``[a-zA-Z0-9._-]`` separates tokens).

:meth:`Tree.semantics_only` drops the words that are not slot values (PIZZA's "semantics-only" tree) and
:meth:`Tree.unordered_equal` compares trees ignoring sibling order, both as the dataset's authors define them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tvd.errors import E_MALFORMED_PARSE, TvdError


@dataclass(frozen=True)
class Tree:
    """A labelled node; ``children`` are trees or leaf words, in order."""

    label: str
    children: tuple[Tree | str, ...] = ()

    # -- reading -----------------------------------------------------------------------------------
    @classmethod
    def from_top(cls, text: str) -> Tree:
        """Read a TOP string; raises ``TvdError`` E601 when it is malformed."""
        return _build(text.split(), text)

    @classmethod
    def from_exr(cls, text: str) -> Tree:
        """Read an EXR string (``volume(1,LITER)``-style commas are separators); E601 when malformed."""
        tokens = [t for t in re.split(r"([^a-zA-Z0-9._-])", text) if t and not t.isspace() and t != ","]
        merged: list[str] = []
        for token in tokens:  # "(" followed by a label is one opening token, as in TOP
            if merged and merged[-1] == "(" and token not in "()":
                merged[-1] = "(" + token
            else:
                merged.append(token)
        return _build(merged, text)

    # -- writing -----------------------------------------------------------------------------------
    def to_string(self) -> str:
        """The linear form ``(LABEL child ... )`` (TOP for TOP trees, EXR for EXR trees)."""
        parts = [f"({self.label}"]
        for child in self.children:
            parts.append(child.to_string() if isinstance(child, Tree) else child)
        parts.append(")")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.to_string()

    # -- views -------------------------------------------------------------------------------------
    @property
    def subtrees(self) -> list[Tree]:
        return [c for c in self.children if isinstance(c, Tree)]

    def is_preterminal(self) -> bool:
        """Every child is a word (a slot node such as ``(TOPPING black olives )``)."""
        return all(isinstance(c, str) for c in self.children)

    def words(self) -> list[str]:
        """All leaf words, left to right (for a TOP tree: the utterance)."""
        out: list[str] = []
        for child in self.children:
            out.extend(child.words() if isinstance(child, Tree) else [child])
        return out

    def labels(self) -> set[str]:
        out = {self.label}
        for child in self.subtrees:
            out |= child.labels()
        return out

    def semantics_only(self) -> Tree:
        """Drop non-semantic words: a node keeps its words only when all its children are words."""
        if self.is_preterminal():
            return self
        return Tree(self.label, tuple(c.semantics_only() for c in self.subtrees))

    def slot_values(self) -> list[tuple[str, str]]:
        """``(label, value)`` of every preterminal node, left to right."""
        if self.is_preterminal():
            return [(self.label, " ".join(self.children))]  # type: ignore[arg-type]
        out: list[tuple[str, str]] = []
        for child in self.subtrees:
            out.extend(child.slot_values())
        return out

    def unordered_equal(self, other: Tree | str) -> bool:
        """Equal up to the order of siblings (the PIZZA authors' greedy child matching)."""
        if isinstance(other, str):
            return False
        if self.label != other.label or len(self.children) != len(other.children):
            return False
        used: set[int] = set()
        for mine in self.children:
            for j, theirs in enumerate(other.children):
                if j in used:
                    continue
                if (mine == theirs) if isinstance(mine, str) else mine.unordered_equal(theirs):
                    used.add(j)
                    break
        return len(used) == len(self.children)


MAX_DEPTH = 100
"""The deepest nesting a parse may have (PIZZA's are under 10): :class:`Tree`'s methods recurse, and a line of
thousands of ``(`` must be refused when read, not overflow the stack later."""


def _build(tokens: list[str], source: str) -> Tree:
    """Build a tree from tokens ``(LABEL``, ``)`` and words, checking balance, depth and non-empty nodes."""
    stack: list[tuple[str, list[Tree | str]]] = [("", [])]
    for position, token in enumerate(tokens):
        if token.startswith("("):
            label = token[1:]
            if not label:
                raise _malformed(source, f"'(' without a label at token {position + 1}")
            if len(stack) > MAX_DEPTH:
                raise _malformed(source, f"nested deeper than {MAX_DEPTH} levels at token {position + 1}")
            stack.append((label, []))
        elif token == ")":
            if len(stack) == 1:
                raise _malformed(source, f"unbalanced ')' at token {position + 1}")
            label, children = stack.pop()
            if not children:
                raise _malformed(source, f"empty node ({label} ) at token {position + 1}")
            stack[-1][1].append(Tree(label, tuple(children)))
        else:
            if len(stack) == 1:
                raise _malformed(source, f"word {token!r} outside the tree at token {position + 1}")
            stack[-1][1].append(token)
    if len(stack) > 1:
        raise _malformed(source, f"{len(stack) - 1} unclosed '(' at the end")
    roots = stack[0][1]
    if len(roots) != 1 or not isinstance(roots[0], Tree):
        raise _malformed(source, f"expected one tree, found {len(roots)}")
    return roots[0]


def _malformed(source: str, problem: str) -> TvdError:
    shown = source if len(source) <= 120 else source[:117] + "..."
    return TvdError(
        E_MALFORMED_PARSE,
        f"malformed parse: {problem}: {shown!r}",
        fix="balance the brackets; every node needs a child",
    )
