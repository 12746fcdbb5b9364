"""The error catalogue: every code defined once in ``tvd.errors``, in its range, and no literal code elsewhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import tvd.errors as errors
from tvd.errors import CODES, NAMES, RANGES, TvdError

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "src" / "tvd" / "errors.py"
CODE = re.compile(r"E\d{3}")
MENTION = re.compile(r"\bE\d{3}\b")
# a lint suppression comment names lint rules (E501 is also a ruff rule), not error codes
NOQA = re.compile(r"#\s*(ruff:\s*)?noqa\b[^\n]*")


def scanned_files() -> list[Path]:
    """The Python files that must take their codes from the catalogue: ``src/tvd`` and ``bench/``."""
    files = sorted((ROOT / "src" / "tvd").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
    return [path for path in files if path != CATALOGUE]


def problems_in(path: Path) -> list[str]:
    """What breaks the catalogue rule in ``path``: a code written as a string literal (outside docstrings'
    prose), a module-level ``E_...`` assignment (a second definition), or a code mentioned that is not in
    :data:`tvd.errors.CODES`."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.fullmatch(node.value.strip()):
            found.append(f"{path}:{node.lineno}: literal code {node.value!r}; import its constant from tvd.errors")
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name) and target.id.startswith("E_"):
                found.append(f"{path}:{node.lineno}: {target.id} defined outside tvd.errors")
    for number, line in enumerate(source.splitlines(), 1):
        for code in MENTION.findall(NOQA.sub("", line)):
            if code not in CODES:
                found.append(f"{path}:{number}: {code} is not in the catalogue (tvd.errors)")
    return found


def test_every_code_is_well_formed_unique_and_named_once() -> None:
    constants = {name: value for name, value in vars(errors).items() if name.startswith("E_")}
    assert constants, "no E_ constants in tvd.errors"
    assert all(isinstance(value, str) and CODE.fullmatch(value) for value in constants.values()), constants
    assert len(set(constants.values())) == len(constants), "two constants share a code"
    assert set(constants.values()) == set(CODES), "CODES and the constants differ"
    assert {value: name for name, value in constants.items()} == NAMES


def test_every_code_falls_in_a_documented_range() -> None:
    for code in CODES:
        assert code[1] in RANGES, f"{code} is outside the documented ranges {sorted(RANGES)}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"E(\d)xx", readme))
    assert set(RANGES) <= documented, f"ranges missing from the README: {sorted(set(RANGES) - documented)}"
    docs = errors.__doc__ or ""
    for digit in RANGES:
        assert f"E{digit}xx" in docs, f"range E{digit}xx is not described in tvd.errors"


def test_every_meaning_is_one_nonempty_line() -> None:
    for code, meaning in CODES.items():
        assert meaning.strip() and "\n" not in meaning, code
        assert errors.meaning(code) == meaning


def test_codes_stay_in_the_order_of_their_numbers() -> None:
    """The catalogue reads top to bottom by number, so a free number and its neighbours are easy to find."""
    assert list(CODES) == sorted(CODES)


def test_a_code_cannot_be_defined_twice_or_outside_the_ranges() -> None:
    taken = next(iter(CODES))
    with pytest.raises(ValueError, match="defined twice"):
        errors._define(taken, "something else")
    with pytest.raises(ValueError):
        errors._define("E901", "no such range")
    with pytest.raises(ValueError):
        errors._define("X101", "not a code")
    assert taken in CODES and "E901" not in CODES


def test_no_code_is_written_outside_the_catalogue() -> None:
    files = scanned_files()
    assert len(files) > 20  # the scan sees the package and the benchmarks
    found = [problem for path in files for problem in problems_in(path)]
    assert not found, "\n".join(found)


def test_the_scan_flags_literals_local_definitions_and_unknown_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        '"""Raises E101 (fine: in the catalogue)."""\n'
        "from tvd.errors import TvdError\n"
        'E_LOCAL = "E101"\n'
        'raise TvdError("E501", "config file not found")\n'
        "# see E998 for the details\n"
        "x = 1  # noqa: E731\n",
        encoding="utf-8",
    )
    found = problems_in(bad)
    assert any("E_LOCAL defined outside" in p for p in found)
    assert any("literal code 'E101'" in p and ":3:" in p for p in found)
    assert any("literal code 'E501'" in p and ":4:" in p for p in found)
    assert any("E998 is not in the catalogue" in p for p in found)
    assert not any("E731" in p for p in found)
    assert len(found) == 4, found
    good = tmp_path / "good.py"
    good.write_text(
        "from tvd.errors import E_CONFIG_NOT_FOUND, TvdError\n"
        'raise TvdError(E_CONFIG_NOT_FOUND, "config file not found")  # E501\n',
        encoding="utf-8",
    )
    assert problems_in(good) == []


def test_errors_carry_catalogue_codes() -> None:
    error = TvdError(errors.E_CONFIG_NOT_FOUND, "config file not found: x.yaml", file="x.yaml", fix="give a path")
    assert error.code == "E501" and str(error).startswith("[E501] x.yaml: ")
