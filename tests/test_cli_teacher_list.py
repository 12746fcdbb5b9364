"""`tvd teacher list` and its old spelling `tvd teachers` (a hidden alias): one line per registered backend."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tvd.cli.main import main
from tvd.teachers.registry import TEACHERS, teacher_backends


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_teacher_list_prints_every_backend_with_its_description(runner: CliRunner) -> None:
    result = runner.invoke(main, ["teacher", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == sorted(TEACHERS.names())
    assert lines == [f"{name:12s} {description}" for name, description in teacher_backends()]
    assert any(line.startswith("llamacpp     embedded GGUF model") for line in lines)


def test_teachers_is_a_hidden_alias_printing_the_same(runner: CliRunner) -> None:
    alias = runner.invoke(main, ["teachers"])
    assert alias.exit_code == 0 and alias.output == runner.invoke(main, ["teacher", "list"]).output
    top = runner.invoke(main, ["--help"]).output
    assert "  teachers " not in top and "  teacher " in top
    assert "  list " in runner.invoke(main, ["teacher", "--help"]).output
