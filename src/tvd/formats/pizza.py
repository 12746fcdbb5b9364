"""PIZZA JSON lines: ``{"<split>.SRC", "<split>.EXR", "<split>.TOP", "<split>.PCFG_ERR"}`` per line.

Kept apart from the Utterance-based format registry: a PIZZA example is an utterance with a tree, not
intent + slot spans.  :func:`read_pizza` accepts any split prefix (``dev.``, ``test.``, ``train.``) or none;
:func:`write_pizza` writes the same keys with the prefix asked for.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tvd.data.atomic import atomic_write_text
from tvd.data.parse_tree import Tree
from tvd.data.utterance import unencodable
from tvd.errors import E_CANNOT_WRITE, E_PIZZA_FILE, TvdError
from tvd.formats.base import JsonLineError, load_json, read_lines, unencodable_error


@dataclass(frozen=True)
class PizzaExample:
    """One example: the utterance, its TOP tree (may be None for EXR-only data) and its EXR tree."""

    text: str
    top: Tree | None
    exr: Tree | None

    def to_record(self, split: str = "train") -> dict[str, str]:
        prefix = f"{split}." if split else ""
        record = {f"{prefix}SRC": self.text}
        if self.exr is not None:
            record[f"{prefix}EXR"] = self.exr.to_string()
        if self.top is not None:
            record[f"{prefix}TOP"] = self.top.to_string()
        return record


def _field(record: dict[str, object], name: str, path: Path, number: int) -> str | None:
    """The value of ``name`` (or ``<split>.name``); E602 when it is not a string (no ``str()`` of a number)."""
    for key, value in record.items():
        if key == name or key.endswith("." + name):
            if not isinstance(value, str):
                raise TvdError(E_PIZZA_FILE, f"{key} must be a string, got {type(value).__name__}", file=path,
                               line=number, fix=f"write {key} as a JSON string")
            return value
    return None


def read_pizza(path: str | Path) -> list[PizzaExample]:
    """Read PIZZA JSON lines; a malformed line stops with E602 naming file and line.

    Each line is decoded on its own: a line that is not valid UTF-8, or a string with a lone surrogate (a
    JSON ``"\\ud800"`` escape), stops with E112 naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise TvdError(
            E_PIZZA_FILE, f"PIZZA file not found: {path}", fix="check the path (e.g. data/pizza/PIZZA_dev.json)"
        )
    out: list[PizzaExample] = []
    for line in read_lines(path):
        number = line.number
        if line.error is not None:
            raise line.error
        if not line.text.strip():
            continue
        try:
            record = load_json(line.text)
        except JsonLineError as exc:
            raise TvdError(E_PIZZA_FILE, str(exc), file=path, line=number, fix="one JSON object a line") from exc
        if not isinstance(record, dict):
            raise TvdError(E_PIZZA_FILE, "not a JSON object", file=path, line=number, fix="one JSON object a line")
        problem = unencodable(record)
        if problem is not None:
            raise unencodable_error(problem, file=path, line=number)
        src, top, exr = (_field(record, name, path, number) for name in ("SRC", "TOP", "EXR"))
        if src is None or (top is None and exr is None):
            raise TvdError(
                E_PIZZA_FILE,
                "missing SRC, or both TOP and EXR",
                file=path,
                line=number,
                fix="write SRC and TOP and/or EXR",
            )
        try:
            top_tree = Tree.from_top(top) if top is not None else None
            exr_tree = Tree.from_exr(exr) if exr is not None else None
        except TvdError as exc:
            raise TvdError(E_PIZZA_FILE, exc.message, file=path, line=number, fix=exc.fix) from exc
        out.append(PizzaExample(" ".join(src.split()), top_tree, exr_tree))
    return out


def write_pizza(path: str | Path, examples: Iterable[PizzaExample], split: str = "train") -> None:
    """Write PIZZA JSON lines atomically; E110 for an example holding text UTF-8 cannot encode (nothing written)."""
    records = [e.to_record(split) for e in examples]
    for index, record in enumerate(records):
        problem = unencodable(record)
        if problem is not None:
            raise TvdError(E_CANNOT_WRITE, f"PIZZA example {index + 1} holds text UTF-8 cannot encode: {problem}",
                           file=path, fix="replace the lone surrogate (e.g. decode the source with errors='replace')")
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
