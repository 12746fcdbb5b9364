"""Provenance of a run's data for dataset cards: what the run directory says about how its utterances were made.

:func:`run_provenance` gathers, from a run directory's ``run.json`` and ``metrics.json``
(:func:`~tvd.report.run_files.read_run_dir`), the teacher and its model fingerprint, the prompt settings, the
filters in chain order with their removal counts, the data sizes, the engine's stats and the students' headline
metrics, as the plain mapping :func:`tvd.formats.hf.dataset_card` writes out.  :func:`provenance_of_file` does
so for a data file inside a run directory (``tvd convert runs/x/generated.jsonl out/ --to hf``) and gives None
for any other file, so converting unrelated data gets a card with its contents only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tvd.errors import TvdError
from tvd.report.run_data import report_data
from tvd.report.run_files import LINGUIST, RunFiles, read_run_dir

#: the run files whose utterances a card may describe
DATA_FILES = ("generated.jsonl", "revalued.jsonl", "filtered.jsonl", "seeds.jsonl")


def _headline(comparison: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{student: {metric: value}} of the report's comparison rows."""
    table: dict[str, dict[str, float]] = {}
    for row in comparison:
        for student, (value, _) in row["values"].items():
            table.setdefault(student, {})[row["metric"]] = value
    return table


def run_provenance(run_dir: str | Path) -> dict[str, Any]:
    """The provenance of a LINGUIST run directory (see the module docstring); E470 / E471 as the report has."""
    return _provenance(read_run_dir(run_dir))


def _provenance(files: RunFiles) -> dict[str, Any]:
    run = files.run
    provenance: dict[str, Any] = {"run": files.name, "name": files.name}
    for key in ("intent", "teacher", "generation", "filters", "revalue", "data"):
        if key in run:
            provenance[key] = run[key]
    provenance.setdefault("intent", files.metrics.get("intent"))
    provenance["filter_counts"] = files.filter_counts
    if files.stats:
        provenance["stats"] = files.stats
    if files.metrics.get("metrics"):
        provenance["metrics"] = _headline(report_data(files).comparison)
    return {k: v for k, v in provenance.items() if v is not None}


def provenance_of_file(path: str | Path) -> dict[str, Any] | None:
    """:func:`run_provenance` of the run directory holding the data file ``path`` (named in its
    ``source_file``), or None when ``path`` is not one of a LINGUIST run's data files."""
    path = Path(path)
    if path.name not in DATA_FILES or not path.is_file():
        return None
    try:
        files = read_run_dir(path.parent)
        if files.kind != LINGUIST:
            return None
        provenance = _provenance(files)
    except TvdError:  # not a run directory, or a damaged one: the card describes the data alone
        return None
    return {**provenance, "source_file": path.name}


def describe(provenance: Mapping[str, Any] | None) -> str:
    """One line for the command line: which run a card's provenance came from."""
    if not provenance:
        return "no run found beside the source: the card describes the data only"
    return f"card with the provenance of run {provenance.get('run')!r} ({provenance.get('source_file')})"
