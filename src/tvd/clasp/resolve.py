"""PIZZA catalogues and entity resolution: a TOP tree -> an EXR tree comparable to the gold EXR.

As the dataset's authors define it: take the semantics-only tree, replace each slot node whose label has a
catalogue (``(TOPPING black olives )``) by the catalogue's entry (``topping(OLIVES)`` -> ``(TOPPING OLIVES )``),
or by ``(LABEL <UNKNOWN_ENTITY> )`` when the words are not in it, then give every PIZZAORDER / DRINKORDER
without a NUMBER the default ``(NUMBER 1 )`` (appended last).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tvd.data.parse_tree import Tree
from tvd.errors import E_CATALOGUE, TvdError
from tvd.formats.base import read_lines

UNKNOWN_ENTITY = "<UNKNOWN_ENTITY>"

#: slot label -> catalogue file name (the PIZZA resolver's mapping)
CATALOG_FILES: dict[str, str] = {
    "TOPPING": "topping.txt",
    "NUMBER": "number.txt",
    "SIZE": "size.txt",
    "STYLE": "style.txt",
    "DRINKTYPE": "drinks.txt",
    "VOLUME": "drink_volume.txt",
    "CONTAINERTYPE": "container.txt",
    "QUANTITY": "quant_qualifier.txt",
}
ORDER_LABELS = ("PIZZAORDER", "DRINKORDER")
_ENTRY = re.compile(r"^\s*(\w+)\s*\((.*)\)\s*$")


@dataclass
class Catalogs:
    """``entries[label][surface words] = resolved EXR subtree``."""

    entries: dict[str, dict[str, Tree]] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: str | Path) -> Catalogs:
        directory = Path(directory)
        if not directory.is_dir():
            raise TvdError(
                E_CATALOGUE, f"catalogue folder not found: {directory}", fix="point to PIZZA's catalogs/ folder"
            )
        entries: dict[str, dict[str, Tree]] = {}
        for label, name in CATALOG_FILES.items():
            path = directory / name
            if not path.is_file():
                raise TvdError(E_CATALOGUE, f"catalogue file missing: {path}", fix=f"add {name} to {directory}")
            table: dict[str, Tree] = {}
            for entry in read_lines(path):
                if entry.error is not None:
                    raise entry.error
                number, line = entry.number, entry.text
                if not line.strip():
                    continue
                surface, sep, value = line.partition("\t")
                match = _ENTRY.match(value)
                if not sep or match is None:
                    raise TvdError(
                        E_CATALOGUE,
                        f"bad catalogue line {line!r}",
                        file=path,
                        line=number,
                        fix="write 'surface words<TAB>name(ARG[,ARG])'",
                    )
                args = [a.strip() for a in match.group(2).split(",") if a.strip()]
                table[surface.strip()] = Tree(match.group(1).upper(), tuple(args))
            entries[label] = table
        return cls(entries)

    def values(self, label: str) -> list[str]:
        """Surface forms of ``label`` (empty for a label without catalogue)."""
        return list(self.entries.get(label, {}))

    def resolve_value(self, label: str, words: str) -> Tree | None:
        return self.entries.get(label, {}).get(words)

    def resolve(self, top: Tree) -> Tree:
        """The EXR tree of a TOP tree (semantics-only, entities resolved, default NUMBER added)."""
        return _defaults(self._entities(top.semantics_only()))

    def _entities(self, tree: Tree) -> Tree:
        if tree.is_preterminal():
            if tree.label not in self.entries:
                return tree
            found = self.entries[tree.label].get(" ".join(tree.children))  # type: ignore[arg-type]
            return found if found is not None else Tree(tree.label, (UNKNOWN_ENTITY,))
        return Tree(tree.label, tuple(c if isinstance(c, str) else self._entities(c) for c in tree.children))

    def unknown_values(self, top: Tree) -> list[tuple[str, str]]:
        """Slot values of ``top`` that its label's catalogue does not know."""
        return [
            (label, value)
            for label, value in top.semantics_only().slot_values()
            if label in self.entries and value not in self.entries[label]
        ]


def _defaults(tree: Tree) -> Tree:
    if tree.is_preterminal():
        return tree
    children = tuple(c if isinstance(c, str) else _defaults(c) for c in tree.children)
    if tree.label in ORDER_LABELS and all(not isinstance(c, Tree) or c.label != "NUMBER" for c in children):
        children = (*children, Tree("NUMBER", ("1",)))
    return Tree(tree.label, children)
