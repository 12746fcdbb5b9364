"""`kill -9` in the middle of `tvd generate`, then a restart: the final outputs equal an uninterrupted run's
and no request that had been answered and cached is sent again (counted at the server).  A second process on
the run directory while the first works is refused at once, and the killed one's lock blocks nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fault_server import FaultServer, write_project
from tvd.config import load_config
from tvd.jobs.run import generate_data, load_run_data

REQUESTS, SAMPLES = 30, 2
PLANNED = REQUESTS * SAMPLES
OUTPUTS = ("generated.jsonl", "rejects.jsonl", "filtered.jsonl", "failures.jsonl")


def _quiet(*_: object) -> None:
    pass


def _tvd(config: Path, command: str = "generate") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tvd.cli.main", command, str(config), "--no-progress"],
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


@pytest.mark.slow
def test_a_second_process_on_the_run_directory_is_refused_and_a_killed_one_blocks_nothing(tmp_path):
    with FaultServer(delay_s=0.25, max_seconds=150) as server:  # slow: the first run lasts 15 s if not killed
        teacher = {"backend": "openai", "options": {"base_url": server.url, "model": "test-model"}}
        config = write_project(tmp_path, teacher, {"requests": REQUESTS, "samples_per_request": SAMPLES})
        run = tmp_path / "run"
        first = _tvd(config)
        deadline = time.monotonic() + 60
        while sum(server.answered.values()) < 3:
            assert first.poll() is None and time.monotonic() < deadline, "the first run made no progress"
            time.sleep(0.01)
        started = time.monotonic()
        second, third = _tvd(config), _tvd(config, "run")  # both while the first one works
        refusals = [p.communicate(timeout=60)[0] for p in (second, third)]
        assert first.poll() is None, "the first run ended before the others were refused"
        assert time.monotonic() - started < 30
        for process, output in zip((second, third), refusals, strict=True):
            assert process.returncode == 1, output
            assert "[E372]" in output and str(run) in output and f"PID {first.pid}" in output, output
            assert "Traceback" not in output
            assert "generation:" not in output  # refused before planning or sending anything
        assert max(server.counts.values()) == 1  # nothing was sent twice
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        time.sleep(0.2)
        assert (run / ".tvd.lock").is_file()  # the killed process's lock file stays, but blocks nothing
        cached = _cached_rows(run)
        server.reset()
        server.delay_s = 0.0
        output = _finish(_tvd(config))
    assert f"{cached} from cache" in output
    assert max(server.counts.values()) == 1 and (run / "generated.jsonl").is_file()
