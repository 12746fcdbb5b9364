"""The run directory's and the completion cache's locks: one process (or thread) at a time, refused at once with
the holder's PID, reentrant within a thread, and released by the operating system when its holder is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tvd.engine.cache import CompletionCache
from tvd.engine.lock import LOCK_NAME, cache_lock_path, holder_pid, run_lock
from tvd.errors import E_RUN_LOCKED, TvdError

HOLD = """
import sys, time
from tvd.engine.lock import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""

HOLD_CACHE = """
import sys, time
from tvd.engine.cache import CompletionCache
with CompletionCache(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def _holder(path: Path, script: str = HOLD) -> subprocess.Popen[str]:
    """A second process that takes the lock of run directory ``path`` (or, with HOLD_CACHE, opens the completion
    cache file ``path``) and holds it until killed."""
    process = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    return process


def test_reentrant_in_a_thread_exclusive_between_threads(tmp_path: Path) -> None:
    run = tmp_path / "run"
    errors: list[TvdError] = []

    def other() -> None:
        try:
            with run_lock(run):
                pass
        except TvdError as error:
            errors.append(error)

    with run_lock(run), run_lock(run), CompletionCache(run / "cache.sqlite"):  # a job calling a job: fine
        assert holder_pid(run) == os.getpid()
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert [e.code for e in errors] == [E_RUN_LOCKED]
    other()  # released: another thread takes it now
    assert len(errors) == 1


def test_a_second_process_is_refused_at_once_and_a_killed_one_blocks_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    holder = _holder(run)
    try:
        started = time.perf_counter()
        with pytest.raises(TvdError) as info, run_lock(run):
            pass
        assert time.perf_counter() - started < 1.0  # no waiting
        error = info.value
        assert error.code == E_RUN_LOCKED and error.file == str(run)
        assert f"PID {holder.pid}" in error.message and LOCK_NAME in error.message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert holder.returncode == -signal.SIGKILL
    assert (run / LOCK_NAME).is_file() and holder_pid(run) == holder.pid  # the file (and old PID) stay ...
    with run_lock(run):  # ... but the lock went with the process
        assert holder_pid(run) == os.getpid()


def test_a_cache_open_in_another_process_is_refused_and_a_cache_beside_it_is_not(tmp_path: Path) -> None:
    cache_path = tmp_path / "work" / "cache-a.sqlite"
    holder = _holder(cache_path, HOLD_CACHE)
    try:
        with pytest.raises(TvdError) as info:
            CompletionCache(cache_path)  # every writer of the cache takes its lock
        error = info.value
        assert error.code == E_RUN_LOCKED and error.file == str(cache_path)
        assert f"PID {holder.pid}" in error.message and cache_lock_path(cache_path).name in error.message
        with CompletionCache(tmp_path / "work" / "cache-b.sqlite") as other:  # another cache in the same folder
            assert len(other) == 0
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    with CompletionCache(cache_path) as cache:  # the killed holder's lock went with it
        assert len(cache) == 0


def test_the_dry_run_look_takes_no_lock(tmp_path: Path) -> None:
    from tvd.engine.cache import existing_cache

    run = tmp_path / "run"
    CompletionCache(run / "cache.sqlite").close()
    holder = _holder(run / "cache.sqlite", HOLD_CACHE)
    try:
        with existing_cache(run / "cache.sqlite") as cache:  # `--dry-run` while another process generates
            assert cache is not None and len(cache) == 0
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)


def test_tvd_clasp_is_refused_while_another_process_holds_the_run_directory(tmp_path: Path, monkeypatch) -> None:
    import json

    from click.testing import CliRunner

    from pizza_cases import ORDERED, SWAP, write_catalogs
    from tvd.cli import clasp_cmd
    from tvd.cli.main import main
    from tvd.teachers.scripted import ScriptedTeacher

    data = tmp_path / "pizza"
    write_catalogs(data / "catalogs")
    (data / "PIZZA_dev.16_shots.json").write_text("".join(json.dumps(c) + "\n" for c in (ORDERED, SWAP)))
    teacher = ScriptedTeacher(lambda prompt, seed: "(ORDER i want )")
    monkeypatch.setattr(clasp_cmd, "teacher_for", lambda config: teacher)
    out = tmp_path / "out"
    holder = _holder(out)
    try:
        result = CliRunner().invoke(main, ["clasp", "--strategy", "rs", "--data", str(data), "-o", str(out), "-n", "2"])
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert result.exit_code == 1 and "[E372]" in result.stderr and str(out) in result.stderr
    assert teacher.calls == 0 and not (out / "cache.sqlite").exists()
