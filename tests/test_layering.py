"""Imports inside ``tvd`` point one way along the data flow: data -> formats -> teachers -> engine -> linguist |
clasp -> filters -> students -> evaluate -> report -> (config, jobs) -> serve | cli.

The engine knows no task: LINGUIST and CLASP come after it and plug into it (``tvd.engine.task.Task``).

A module may import from its own package and from packages in earlier layers, never from a later layer (that
would make, say, the student depend on the teacher).  A new top-level module must be given a layer here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tvd"

# Packages (or top-level modules) of tvd, earliest first; those in one tuple share a layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "registry", "__init__", "__main__"),
    ("data",),
    ("formats",),
    ("teachers",),
    ("engine",),
    ("linguist", "clasp"),
    ("tuning",),
    ("filters",),
    ("students",),
    ("evaluate",),
    ("report",),
    ("config",),
    ("jobs",),
    ("serve", "cli"),
)
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _top_level(path: Path) -> str:
    relative = path.relative_to(SRC)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, tvd top-level package) for every ``tvd`` import in the file, including imports inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "tvd" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


SOURCES = sorted(SRC.rglob("*.py"))


def test_every_package_has_a_layer() -> None:
    missing = sorted({_top_level(path) for path in SOURCES} - set(LAYER_OF))
    assert not missing, f"give these tvd packages a layer in tests/test_layering.py: {missing}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(SRC)))
def test_imports_point_down_the_chain(path: Path) -> None:
    own = _top_level(path)
    if own not in LAYER_OF:
        pytest.skip("reported by test_every_package_has_a_layer")
    upward = [
        f"line {line}: tvd.{package}"
        for line, package in _imported_packages(path)
        if package in LAYER_OF and LAYER_OF[package] > LAYER_OF[own]
    ]
    assert not upward, f"{path.relative_to(SRC)} imports later layers: {upward}"


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text("def f():\n    from tvd.students import make_student\n", encoding="utf-8")
    assert _imported_packages(module) == [(2, "students")]
