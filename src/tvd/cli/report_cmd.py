"""``tvd report``: the HTML report of a run directory, or the benchmark page of ``bench/results``."""

from __future__ import annotations

from pathlib import Path

import click

from tvd.errors import E_NOT_A_RUN_DIR, TvdError


@click.command(short_help="Write a run's offline HTML report (report.html); --bench DIR: the benchmark page.")
@click.argument("run_dir", metavar="[RUN_DIR]", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), help="Where to write.  [default: DIR/report.html]")
@click.option(
    "--bench",
    "bench_dir",
    type=click.Path(path_type=Path),
    help="Plot the benchmark results (*.json) in this folder instead, e.g. bench/results.",
)
def report(run_dir: Path | None, out: Path | None, bench_dir: Path | None) -> None:
    """Write one self-contained HTML file that opens offline (no server, no network): the run summary and a
    chart of every completion's fate, the students compared with standard-error bars, per-intent and per-slot
    deltas and confusion matrices, and a searchable table of every generated, re-valued, filtered and
    rejected utterance with its slots coloured by label and the prompt it came from.

    \b
    `tvd run` and `tvd generate` write RUN_DIR/report.html themselves (so does `tvd clasp`); this command
    writes it again, e.g. for a run made before reports existed.  --bench DIR plots bench/results/*.json.
    """
    from tvd.data.atomic import atomic_write_text
    from tvd.report.bench_page import render_bench_report
    from tvd.report.html import REPORT_FILE, write_run_report

    if (run_dir is None) == (bench_dir is None):
        raise TvdError(
            E_NOT_A_RUN_DIR,
            "give either RUN_DIR or --bench DIR" if run_dir is None else "give RUN_DIR or --bench DIR, not both",
            fix="tvd report runs/<name>   or   tvd report --bench bench/results",
        )
    if bench_dir is not None:
        path = out or bench_dir / REPORT_FILE
        atomic_write_text(path, render_bench_report(bench_dir))
    else:
        assert run_dir is not None
        path = write_run_report(run_dir, out)
    click.echo(f"wrote {path} ({path.stat().st_size / 1024:,.0f} KiB); open it in a browser: {path.resolve().as_uri()}")
