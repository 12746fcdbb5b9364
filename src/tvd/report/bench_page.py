"""The benchmark page: ``bench/results/*.json`` plotted on one offline HTML page (``tvd report --bench DIR``).

The benchmarks write different shapes, so the page reads them generically: each file's ``summary`` list of
flat records (else its ``records``) is its table.  A column holding a float in some row is a *score* (a
``<score>_se`` column beside it becomes its error whisker); the text columns that vary between rows (method,
path, setting) name the rows, with varying integer columns (threads, width) added only where the text leaves two
rows one name.  Each file gets one bar chart per score (the first :data:`SCORES_PER_FILE`, ``gap_closed_*`` ones
first), rows in file order, with its command and date; a table longer than :data:`MAX_ROWS` is cut, which the
page says.  A list whose records carry ``method``, ``intent`` and ``gap_closed_*`` scores
(the few-shot benchmark's ``per_intent_shares``) is also shown as a method x intent table of the gap closed,
shaded by sign.  Files that are not JSON objects are listed as skipped, with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from tvd.errors import E_NOT_A_RUN_DIR, TvdError
from tvd.report.html import page
from tvd.report.svg import Bar, BarGroup, bar_chart

SCORES_PER_FILE = 6
MAX_ROWS = 40
TABLE_KEYS = ("summary", "records")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _records(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return value
    return None


def score_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Columns holding a float in some row and only numbers (or nothing) otherwise, ``*_se`` left out."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return [
        key
        for key in keys
        if not key.endswith("_se")
        and any(isinstance(row.get(key), float) for row in rows)
        and all(row.get(key) is None or _is_number(row.get(key)) for row in rows)
    ]


def label_columns(rows: Sequence[Mapping[str, Any]], scores: Sequence[str]) -> list[str]:
    """What names a row: the text (and true/false) columns whose value differs between rows, then, only while
    those leave two rows with one name, the varying integer columns (threads, width) in order."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    texts, numbers = [], []
    for key in keys:
        if key in scores or key.endswith("_se"):
            continue
        values = [row.get(key) for row in rows]
        if not all(v is None or isinstance(v, str | int | float | bool) for v in values):
            continue
        if len({json.dumps(v) for v in values}) > 1:
            (numbers if any(_is_number(v) for v in values) else texts).append(key)
    found = list(texts)
    for key in numbers:
        if len({row_label(row, found) for row in rows}) == len(rows):
            break
        found.append(key)
    return found


def row_label(row: Mapping[str, Any], labels: Sequence[str]) -> str:
    """``method`` values as they are, numbers as ``key=value``, joined by ``·``."""
    parts = []
    for key in labels:
        value = row.get(key)
        if value is None:
            continue
        parts.append(str(value) if isinstance(value, str) else f"{key}={value}")
    return " · ".join(parts) or "(all)"


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _chart(rows: Sequence[Mapping[str, Any]], labels: Sequence[str], score: str) -> str:
    groups = []
    for row in rows:
        value = row.get(score)
        if not _is_number(value):
            continue
        se = row.get(f"{score}_se")
        groups.append(BarGroup(row_label(row, labels), [Bar(score, float(value), float(se) if _is_number(se) else None,
                                                            text=_fmt(float(value)))]))
    if not groups:
        return ""
    return bar_chart(groups, fmt=_fmt, legend=False, title=score, width=600, label_width=330, bar_height=12)


def gap_table(rows: Sequence[Mapping[str, Any]], score: str) -> str:
    """A method x intent table of ``score`` (a share of a gap), cells shaded green above 0 and red below."""
    methods = list(dict.fromkeys(str(r["method"]) for r in rows))
    intents = list(dict.fromkeys(str(r["intent"]) for r in rows))
    cells = {(str(r["method"]), str(r["intent"])): r.get(score) for r in rows}
    head = "<th>method</th>" + "".join(f"<th>{escape(i)}</th>" for i in intents)
    body = []
    for method in methods:
        tds = []
        for intent in intents:
            value = cells.get((method, intent))
            if not _is_number(value):
                tds.append("<td>-</td>")
                continue
            strength = min(abs(value), 1.0) * 0.6 + 0.05
            cls = "pos" if value > 0 else "neg" if value < 0 else ""
            tds.append(f'<td class="{cls}" style="--a:{strength:.2f}">{value:+.2f}</td>')
        body.append(f"<tr><td>{escape(method)}</td>{''.join(tds)}</tr>")
    return f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _skipped(path: Path, anchor: str, why: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(path.name)}</h2><p class="note">skipped: {escape(why)}</p></section>'


def _file_section(path: Path, anchor: str) -> str:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _skipped(path, anchor, str(exc))
    if not isinstance(content, dict):
        return _skipped(path, anchor, "not a JSON object")
    meta = " · ".join(
        escape(str(content[k])) for k in ("command", "date", "written") if isinstance(content.get(k), str)
    )
    parts = [f'<section id="{anchor}"><h2>{escape(path.stem)}</h2><p class="note">{meta}</p>']
    table_key = next((k for k in TABLE_KEYS if _records(content.get(k))), None)
    if table_key is None:
        parts.append('<p class="note">no summary or records list to plot</p></section>')
        return "".join(parts)
    rows = _records(content[table_key]) or []
    shown = rows[:MAX_ROWS]
    scores = sorted(score_columns(shown), key=lambda s: not s.startswith("gap_closed"))  # the headline first
    labels = label_columns(shown, scores)
    charts = [c for c in (_chart(shown, labels, s) for s in scores[:SCORES_PER_FILE]) if c]
    cut = f", the first {MAX_ROWS} of {len(rows)}" if len(rows) > MAX_ROWS else ""
    more = f"; not drawn: {', '.join(scores[SCORES_PER_FILE:])}" if len(scores) > SCORES_PER_FILE else ""
    parts.append(f'<p class="note">its <code>{table_key}</code> ({len(shown)} rows{cut}){escape(more)}</p>')
    parts.append(f'<div class="cols">{"".join(f"<div>{c}</div>" for c in charts)}</div>')
    for key, value in content.items():
        records = _records(value)
        if records and {"method", "intent"} <= set(records[0]):
            for score in [s for s in score_columns(records) if s.startswith("gap_closed")]:
                title = f"{escape(key)}: {escape(score)} per method and intent"
                parts.append(f"<h3>{title}</h3>{gap_table(records, score)}")
    parts.append("</section>")
    return "".join(parts)


def render_bench_report(results: str | Path, *, written: datetime | None = None) -> str:
    """The benchmark page of the ``*.json`` files in ``results`` (see the module docstring); E470 when the folder
    holds none."""
    results = Path(results)
    files = sorted(results.glob("*.json")) if results.is_dir() else []
    if not files:
        raise TvdError(
            E_NOT_A_RUN_DIR,
            "no benchmark results (*.json) in the folder",
            file=results,
            fix="give the folder the benchmarks write, e.g. tvd report --bench bench/results",
        )
    written = written or datetime.now(UTC)
    anchors = [f"f{k}" for k in range(len(files))]
    body = "".join(_file_section(path, anchor) for path, anchor in zip(files, anchors, strict=True))
    nav = [(anchor, path.stem) for path, anchor in zip(files, anchors, strict=True)]
    subtitle = f"{len(files)} result files in {results} · written {written.strftime('%Y-%m-%d %H:%M UTC')}"
    return page("tvd benchmarks", subtitle, nav, body)
