"""PIZZA's parse metrics, as the dataset's authors compute them.

A prediction is a TOP tree (or its string); it is reduced to its semantics-only tree, its entities resolved
through the catalogues and default ``(NUMBER 1 )`` added (:meth:`tvd.clasp.resolve.Catalogs.resolve`), then
compared with the gold EXR tree:

* ``unordered_em``: equal up to sibling order (the authors' ``is_semantics_only_unordered_exact_match_post_ER``,
  PIZZA's headline metric);
* ``em``: equal including sibling order (the linear strings are identical).

A prediction that does not parse counts as a miss for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tvd.clasp.resolve import Catalogs
from tvd.data.parse_tree import Tree
from tvd.errors import E_PARSE_MISALIGNED, TvdError


@dataclass(frozen=True)
class ParseScores:
    n: int
    em: float
    unordered_em: float

    def to_dict(self) -> dict[str, float | int]:
        return {"n": self.n, "em": round(self.em, 4), "unordered_em": round(self.unordered_em, 4)}


def match(prediction: Tree | str, gold_exr: Tree, catalogs: Catalogs) -> tuple[bool, bool]:
    """``(exact, unordered)`` for one TOP prediction against one gold EXR tree."""
    if isinstance(prediction, str):
        try:
            prediction = Tree.from_top(prediction)
        except TvdError:
            return False, False
    resolved = catalogs.resolve(prediction)
    return resolved == gold_exr, resolved.unordered_equal(gold_exr)


def score(predictions: Sequence[Tree | str], gold: Sequence[Tree], catalogs: Catalogs) -> ParseScores:
    """EM and unordered EM (fractions) of TOP predictions against gold EXR trees."""
    if len(predictions) != len(gold):
        raise TvdError(
            E_PARSE_MISALIGNED, f"{len(predictions)} predictions for {len(gold)} gold parses", fix="align the lists"
        )
    exact = unordered = 0
    for prediction, reference in zip(predictions, gold, strict=True):
        e, u = match(prediction, reference, catalogs)
        exact += e
        unordered += u
    n = len(gold)
    return ParseScores(n, exact / n if n else 0.0, unordered / n if n else 0.0)
