"""Bar charts as inline SVG text, for the HTML reports.

Written by hand rather than with a plotting library: a report must open offline from one file, and a chart
here is a few rectangles and labels, so hand-written SVG is a few kilobytes per chart, crisp at any zoom,
styled by the page's CSS, its text searchable and selectable, and it needs no dependency (matplotlib would add
tens of megabytes to the install and about a second of import time to every ``tvd run``; Vega-Lite would embed
hundreds of kilobytes of JavaScript in every report).

:func:`bar_chart` draws horizontal bars in groups (one row per bar, a group's bars together under its label),
each with an optional standard-error whisker (+-1 SE) and its value written at the end; values may be negative
(the zero line is drawn).  Every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

#: colours of the reports, also used by the page's CSS
PALETTE = {
    "kept": "#2e7d32",
    "revalued": "#1565c0",
    "filtered": "#ef8f00",
    "rejected": "#c62828",
    "failed": "#616161",
    "baseline": "#9e9e9e",
    "augmented": "#1565c0",
}
SERIES_COLOURS = ("#1565c0", "#ef8f00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#9e9e9e", "#ad1457")


@dataclass
class Bar:
    """One bar: its ``series`` (legend name), ``value``, standard error ``se`` (a whisker when given), ``colour``
    (default: the chart's colour of the series) and ``text`` (the value as written; default from the chart's
    formatter)."""

    series: str
    value: float
    se: float | None = None
    colour: str | None = None
    text: str | None = None


@dataclass
class BarGroup:
    """Bars drawn together under one ``label`` (a metric, a reason, a method)."""

    label: str
    bars: list[Bar] = field(default_factory=list)


def nice_step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) that cuts ``span`` into about ``ticks`` parts."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters in the middle (labels often differ at their ends)."""
    if len(text) <= limit:
        return text
    head = max(1, (limit - 1) * 2 // 5)
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def bar_chart(
    groups: Sequence[BarGroup],
    *,
    colours: dict[str, str] | None = None,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    width: int = 720,
    label_width: int = 230,
    bar_height: int = 15,
    domain: tuple[float, float] | None = None,
    legend: bool = True,
    title: str | None = None,
) -> str:
    """Horizontal bars, one row per bar, grouped under their group's label (see the module docstring).

    ``domain``: the value axis (default: from 0 to the data, whiskers included, widened to take negatives);
    ``fmt`` writes values and ticks; ``colours``: series -> colour (others cycle :data:`SERIES_COLOURS`);
    ``legend``: a legend row when there is more than one series."""
    colours = dict(colours or {})
    series = list(dict.fromkeys(bar.series for group in groups for bar in group.bars))
    for k, name in enumerate(s for s in series if s not in colours):
        colours[name] = SERIES_COLOURS[k % len(SERIES_COLOURS)]
    values = [bar.value + sign * (bar.se or 0.0) for group in groups for bar in group.bars for sign in (-1, 1)]
    low, high = domain if domain is not None else (min([0.0, *values]), max([0.0, *values]))
    if high <= low:
        high = low + 1.0
    step = nice_step(high - low)
    if domain is None:
        low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    value_width = 64
    plot_left, plot_width = label_width + 8, max(80, width - label_width - 8 - value_width)
    top = 22 if title else 4
    legend_height = 20 if legend and len(series) > 1 else 0
    gap = 8

    def x(value: float) -> float:
        return plot_left + (min(max(value, low), high) - low) / (high - low) * plot_width

    rows_height = sum(len(g.bars) * (bar_height + 2) + gap for g in groups)
    axis_y = top + legend_height + rows_height
    height = axis_y + 18
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title or "bar chart")}">'
    ]
    if title:
        out.append(f'<text class="chart-title" x="0" y="14">{escape(title)}</text>')
    if legend_height:
        lx = plot_left
        for name in series:
            out.append(f'<rect x="{lx}" y="{top + 3}" width="11" height="11" fill="{colours[name]}"/>')
            out.append(f'<text x="{lx + 15}" y="{top + 13}">{escape(name)}</text>')
            lx += 24 + 7 * len(name)
    # grid and ticks
    tick = math.ceil(low / step) * step
    while tick <= high + step * 1e-9:
        tx = x(tick)
        out.append(f'<line class="grid" x1="{tx:.1f}" y1="{top + legend_height}" x2="{tx:.1f}" y2="{axis_y}"/>')
        out.append(f'<text class="tick" x="{tx:.1f}" y="{axis_y + 13}" text-anchor="middle">{escape(fmt(tick))}</text>')
        tick += step
    y = top + legend_height + gap / 2
    for group in groups:
        group_height = len(group.bars) * (bar_height + 2)
        label_y = y + group_height / 2 + 4
        out.append(
            f'<text class="label" x="{label_width}" y="{label_y:.1f}" text-anchor="end">'
            f"<title>{escape(group.label)}</title>{escape(_short(group.label, label_width // 7))}</text>"
        )
        for bar in group.bars:
            colour = bar.colour or colours[bar.series]
            x0, x1 = sorted((x(0.0), x(bar.value)))
            text = bar.text if bar.text is not None else fmt(bar.value)
            tip = f"{group.label} / {bar.series}: {text}" + (f" ± {fmt(bar.se)}" if bar.se else "")
            out.append(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, 1):.1f}" height="{bar_height}" '
                f'fill="{colour}"><title>{escape(tip)}</title></rect>'
            )
            end = x(bar.value)
            if bar.se:
                lo_x, hi_x, mid = x(bar.value - bar.se), x(bar.value + bar.se), y + bar_height / 2
                out.append(
                    f'<path class="whisker" d="M{lo_x:.1f},{mid:.1f}H{hi_x:.1f}M{lo_x:.1f},{mid - 4:.1f}'
                    f'V{mid + 4:.1f}M{hi_x:.1f},{mid - 4:.1f}V{mid + 4:.1f}"/>'
                )
                end = max(end, hi_x) if bar.value >= 0 else min(end, lo_x)
            if bar.value >= 0:
                out.append(f'<text class="value" x="{end + 4:.1f}" y="{y + bar_height - 3:.1f}">{escape(text)}</text>')
            else:
                out.append(
                    f'<text class="value" x="{end - 4:.1f}" y="{y + bar_height - 3:.1f}" text-anchor="end">'
                    f"{escape(text)}</text>"
                )
            y += bar_height + 2
        y += gap
    if low < 0 < high:
        zx = x(0.0)
        out.append(f'<line class="zero" x1="{zx:.1f}" y1="{top + legend_height}" x2="{zx:.1f}" y2="{axis_y}"/>')
    out.append(f'<line class="axis" x1="{plot_left}" y1="{axis_y}" x2="{plot_left + plot_width}" y2="{axis_y}"/>')
    out.append("</svg>")
    return "".join(out)
