"""The files of a run directory, read and checked for the HTML report and dataset cards.

``tvd run`` / ``tvd generate`` write ``generated.jsonl`` (kept utterances), ``revalued.jsonl``, ``rejects.jsonl``,
``filtered.jsonl`` (removed utterances with their ``reason``), ``failures.jsonl``, ``run.json`` (teacher, settings,
filter counts, stats), ``prompts.jsonl`` (each request's prompt and include block), ``seeds.jsonl`` and, after
training, ``metrics.json`` and ``predictions/<student>.jsonl``.  ``tvd clasp`` writes ``generated.jsonl`` (PIZZA
JSON lines: ``train.SRC``, ``train.TOP``), ``rejects.jsonl``, ``failures.jsonl`` and ``summary.json``.

:func:`read_run_dir` reads whichever of these are present (runs written before ``run.json`` existed still give a
report, with less in it): a directory holding none of them is E470, a file that is not what its writer writes
(a line that is not a JSON object, an utterance record with a bad slot, a summary that is not an object) is E471
naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvd.data.utterance import RecordError, SpanError, Utterance
from tvd.errors import E_BAD_RUN_FILE, E_NOT_A_RUN_DIR, TvdError
from tvd.formats.base import Record, json_object_lines

#: the files whose presence makes a folder a run directory
RUN_MARKERS = ("generated.jsonl", "rejects.jsonl", "filtered.jsonl", "metrics.json", "run.json", "summary.json")

LINGUIST = "linguist"
CLASP = "clasp"


@dataclass
class RunFiles:
    """What a run directory holds.  ``kind`` is ``linguist`` (``tvd run`` / ``tvd generate``) or ``clasp``.

    LINGUIST utterance files are read as :class:`~tvd.data.utterance.Utterance` (``filtered`` as pairs with their
    reason); rejects, failures, prompts and CLASP rows stay the dicts their writers wrote.  ``run``, ``metrics``
    and ``summary`` are the JSON objects of ``run.json``, ``metrics.json`` and ``summary.json`` (empty when
    absent); ``predictions`` maps a student name to its prediction records.  ``present``: the file names found.
    ``stale_metrics``: ``metrics.json`` is older than ``run.json``, i.e. ``tvd generate`` ran again after the last
    training, so the students' figures are not of this data."""

    path: Path
    kind: str
    present: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    generated: list[Utterance] = field(default_factory=list)
    revalued: list[Utterance] = field(default_factory=list)
    filtered: list[tuple[Utterance, str]] = field(default_factory=list)
    seeds: list[Utterance] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    prompts: dict[str, dict[str, Any]] = field(default_factory=dict)
    clasp_rows: list[dict[str, Any]] = field(default_factory=list)
    predictions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stale_metrics: bool = False

    @property
    def name(self) -> str:
        """The run's name: ``run.json``'s, else the directory's."""
        return str(self.run.get("name") or self.path.resolve().name)

    @property
    def stats(self) -> dict[str, Any]:
        """The engine's generation stats (``run.json``, else ``metrics.json``'s ``generation``, else CLASP's
        ``summary.json`` ``stats``); empty when none was written."""
        for source in (self.run.get("stats"), self.metrics.get("generation"), self.summary.get("stats")):
            if isinstance(source, dict):
                return source
        return {}

    @property
    def filter_counts(self) -> dict[str, int]:
        """Removals per filter reason in chain order (every reason of the filters that ran, 0 included)."""
        for source in (self.run.get("filter_counts"), self.metrics.get("filters")):
            if isinstance(source, dict):
                return {str(k): int(v) for k, v in source.items()}
        counts: dict[str, int] = {}
        for _, reason in self.filtered:
            counts[reason] = counts.get(reason, 0) + 1
        return counts


def bad_file(path: Path, message: str, line: int | None = None) -> TvdError:
    """E471 for a run file that is not what its writer writes."""
    return TvdError(
        E_BAD_RUN_FILE,
        message,
        file=path,
        line=line,
        fix="re-run the job that wrote the run directory (a cached run re-writes its files without calling the "
        "teacher), or remove the damaged file",
    )


def _objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of every non-blank line of a JSON-lines run file; E471 at the first bad line."""
    if not path.is_file():
        return
    for item in json_object_lines(path, not_object="a line holds a JSON {type}, not an object", fix=""):
        if isinstance(item, Record):
            error = item.error
            raise bad_file(path, error.message if error is not None else "unreadable line", item.line)
        number, _, value = item
        yield number, value


def _utterance(path: Path, number: int, value: dict[str, Any]) -> Utterance:
    try:
        return Utterance.from_dict(value)
    except (RecordError, SpanError) as exc:
        raise bad_file(path, f"not an utterance record: {exc}", number) from exc


def _utterances(path: Path) -> list[Utterance]:
    return [_utterance(path, number, value) for number, value in _objects(path)]


def _with_field(path: Path, name: str) -> list[dict[str, Any]]:
    """The objects of ``path``; each must hold a string ``name`` (a reject's or failure's ``reason``...)."""
    rows = []
    for number, value in _objects(path):
        if not isinstance(value.get(name), str):
            raise bad_file(path, f"the line has no string field {name!r}", number)
        rows.append(value)
    return rows


def _json_object(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_file(path, f"not readable JSON ({exc})", getattr(exc, "lineno", None)) from exc
    if not isinstance(value, dict):
        raise bad_file(path, f"holds a JSON {type(value).__name__}, not an object")
    return value


def _filtered(path: Path) -> list[tuple[Utterance, str]]:
    pairs = []
    for number, value in _objects(path):
        reason = value.get("reason")
        if not isinstance(reason, str):
            raise bad_file(path, "a filtered utterance has no string field 'reason'", number)
        pairs.append((_utterance(path, number, value), reason))
    return pairs


def _predictions(directory: Path) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.jsonl")):
        rows = []
        for number, value in _objects(path):
            gold, predicted = value.get("gold"), value.get("predicted")
            if not (isinstance(value.get("text"), str) and isinstance(gold, dict) and isinstance(predicted, dict)):
                raise bad_file(path, "a prediction line needs 'text', 'gold' and 'predicted'", number)
            rows.append(value)
        found[path.stem] = rows
    return found


def _is_clasp(directory: Path, summary: dict[str, Any]) -> bool:
    if "strategy" in summary:
        return True
    generated = directory / "generated.jsonl"
    if not generated.is_file():
        return False
    first = next(_objects(generated), None)
    return first is not None and "train.SRC" in first[1]


def read_run_dir(directory: str | Path) -> RunFiles:
    """The files of the run ``directory`` (see the module docstring); E470 when it holds none, E471 for a bad one."""
    directory = Path(directory)
    present = sorted(name for name in RUN_MARKERS if (directory / name).is_file()) if directory.is_dir() else []
    if not present:
        raise TvdError(
            E_NOT_A_RUN_DIR,
            f"not a run directory: it holds none of {', '.join(RUN_MARKERS)}",
            file=directory,
            fix="give the directory `tvd run`, `tvd generate` or `tvd clasp` wrote (its -o/--out, e.g. runs/<name>)",
        )
    others = ["failures.jsonl", "revalued.jsonl", "prompts.jsonl", "seeds.jsonl", "predictions"]
    present += [name for name in others if (directory / name).exists()]
    summary = _json_object(directory / "summary.json")
    files = RunFiles(path=directory, kind=CLASP if _is_clasp(directory, summary) else LINGUIST, present=present)
    files.summary = summary
    files.run = _json_object(directory / "run.json")
    files.metrics = _json_object(directory / "metrics.json")
    files.rejects = _with_field(directory / "rejects.jsonl", "reason")
    files.failures = [
        {**row, "reason": row.get("reason") or "unknown"} for _, row in _objects(directory / "failures.jsonl")
    ]
    if files.kind == CLASP:
        for number, value in _objects(directory / "generated.jsonl"):
            if not (isinstance(value.get("train.SRC"), str) and isinstance(value.get("train.TOP"), str)):
                raise bad_file(directory / "generated.jsonl", "a CLASP line needs 'train.SRC' and 'train.TOP'", number)
            files.clasp_rows.append(value)
        return files
    files.generated = _utterances(directory / "generated.jsonl")
    files.revalued = _utterances(directory / "revalued.jsonl")
    files.filtered = _filtered(directory / "filtered.jsonl")
    files.seeds = _utterances(directory / "seeds.jsonl")
    files.prompts = {row["request_id"]: row for row in _with_field(directory / "prompts.jsonl", "request_id")}
    files.predictions = _predictions(directory / "predictions")
    metrics, run = directory / "metrics.json", directory / "run.json"
    files.stale_metrics = metrics.is_file() and run.is_file() and metrics.stat().st_mtime < run.stat().st_mtime
    return files
