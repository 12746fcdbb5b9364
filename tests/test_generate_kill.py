"""`kill -9` in the middle of `tvd generate`, then a restart: the final outputs equal an uninterrupted run's
and no request that had been answered and cached is sent again (counted at the server)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from fault_server import FaultServer, write_project
from tvd.config import load_config
from tvd.jobs.run import generate_data, load_run_data

REQUESTS, SAMPLES = 30, 2
PLANNED = REQUESTS * SAMPLES
OUTPUTS = ("generated.jsonl", "rejects.jsonl", "filtered.jsonl", "failures.jsonl")


def _quiet(*_: object) -> None:
    pass


def _tvd(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tvd.cli.main", "generate", str(config), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 0, output
    return output


def _cached_rows(run: Path) -> int:
    with sqlite3.connect(run / "cache.sqlite") as db:  # reads the WAL too: what the killed run committed
        return int(db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])


def test_killed_generation_resumes_to_the_uninterrupted_result_without_resending(tmp_path):
    with FaultServer(delay_s=0.04, max_seconds=150) as server:
        teacher = {"backend": "openai", "options": {"base_url": server.url, "model": "test-model"}, "concurrency": 2}
        generation = {"requests": REQUESTS, "samples_per_request": SAMPLES}

        reference = load_config(write_project(tmp_path / "reference", teacher, generation))
        generate_data(reference, load_run_data(reference, log=_quiet), progress=False, log=_quiet)  # in-process
        assert sum(server.counts.values()) == PLANNED
        server.reset()

        config = write_project(tmp_path / "killed", teacher, generation)
        run = tmp_path / "killed" / "run"
        process = _tvd(config)
        deadline = time.monotonic() + 60
        while sum(server.answered.values()) < PLANNED // 3:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        time.sleep(0.2)  # requests in flight at the kill finish at the server
        before_kill = dict(server.counts)
        cached = _cached_rows(run)
        assert PLANNED // 3 - 2 <= cached < PLANNED
        assert not any((run / name).exists() for name in OUTPUTS)  # killed before writing any result
        assert max(before_kill.values()) == 1
        server.reset()

        output = _finish(_tvd(config))
        resumed = dict(server.counts)
    assert f"{cached} from cache, {PLANNED - cached} sent" in output
    assert max(resumed.values()) == 1 and len(resumed) == PLANNED - cached  # nothing cached was sent again
    assert len(set(before_kill) & set(resumed)) <= 2  # only requests in flight at the kill went out twice
    assert len(set(before_kill) | set(resumed)) == PLANNED
    for name in OUTPUTS:
        assert (run / name).read_bytes() == (tmp_path / "reference" / "run" / name).read_bytes(), name
    assert (run / "generated.jsonl").read_text().count("\n") > 10
