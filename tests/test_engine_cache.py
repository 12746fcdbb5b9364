"""The completion cache refuses a damaged file (never repairing, overwriting or deleting it) and a zero-byte file
that stands where an earlier run's cache was; a healthy cache, or a fresh one, opens as before."""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from fault_server import FaultServer, write_project
from tvd.cli.main import main
from tvd.engine.cache import CompletionCache, existing_cache
from tvd.errors import E_CACHE_CORRUPT, E_CACHE_EMPTY, TvdError
from tvd.teachers.base import Completion


def _filled(path: Path, rows: int = 300) -> Path:
    """A real cache of ``rows`` completions (a few KiB each: many pages), closed (so checkpointed)."""
    rng = random.Random(0)
    with CompletionCache(path) as cache:
        for i in range(rows):
            text = "".join(rng.choice("abcdefgh [] ") for _ in range(2000))
            cache.put(f"key-{i}", "scripted:x", f"r{i}", 0, Completion(text, 10, 20, "stop"))
    return path


def _refused(path: Path, code: str) -> TvdError:
    """Opening ``path`` raises ``code`` naming the file, and leaves its bytes exactly as they were."""
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(TvdError) as info:
        CompletionCache(path)
    error = info.value
    assert error.code == code and error.file == str(path) and error.fix
    if before is not None:
        assert path.read_bytes() == before  # never overwritten, repaired or deleted
    return error


def test_random_bytes_are_a_corrupt_cache(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(random.Random(1).randbytes(8192))
    error = _refused(path, E_CACHE_CORRUPT)
    assert "not a readable SQLite database" in error.message and "mv cache.sqlite" in (error.fix or "")


def test_a_truncated_cache_is_refused_when_opened_before_anything_is_sent(tmp_path: Path) -> None:
    path = _filled(tmp_path / "cache.sqlite")
    with CompletionCache(path) as cache:
        assert len(cache) == 300  # healthy before
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size * 2 // 5)
    error = _refused(path, E_CACHE_CORRUPT)
    assert "damaged" in error.message or "not a readable" in error.message


def test_a_page_of_garbage_inside_is_refused(tmp_path: Path) -> None:
    path = _filled(tmp_path / "cache.sqlite")
    with path.open("r+b") as handle:  # overwrite page 3 (a b-tree page) with noise
        handle.seek(4096 * 2)
        handle.write(random.Random(2).randbytes(4096))
    _refused(path, E_CACHE_CORRUPT)


def test_a_folder_at_the_cache_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.mkdir()
    error = _refused(path, E_CACHE_CORRUPT)
    assert "not a file" in error.message and path.is_dir()
    with pytest.raises(TvdError, match="E370"), existing_cache(path):  # the dry run's look too
        pass


def test_a_sqlite_file_of_another_program_is_refused_and_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (name TEXT, password TEXT)")
        db.execute("INSERT INTO users VALUES ('a', 'b')")
    db.close()
    error = _refused(path, E_CACHE_CORRUPT)
    assert "another program" in error.message and "users" in error.message
    with sqlite3.connect(path) as db:  # no completions table was added to it
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["users"]
    db.close()


def test_a_completions_table_of_another_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE completions (key TEXT PRIMARY KEY, text TEXT)")
    db.close()
    assert "another schema" in _refused(path, E_CACHE_CORRUPT).message


@pytest.mark.parametrize("earlier", ["generated.jsonl", "failures.jsonl", "metrics.json", "summary.json"])
def test_a_zero_byte_cache_next_to_earlier_outputs_is_not_taken_as_empty(tmp_path: Path, earlier: str) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"")
    (tmp_path / earlier).write_text("{}\n")
    error = _refused(path, E_CACHE_EMPTY)
    assert earlier in error.message and path.stat().st_size == 0


def test_a_zero_byte_cache_of_a_fresh_run_opens_empty(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"")  # no earlier outputs: nothing was lost
    with CompletionCache(path) as cache:
        assert len(cache) == 0
        cache.put("k", "t", "r", 0, Completion("x"))
    assert path.stat().st_size > 0  # even a run killed at once leaves a page: a 0-byte file was emptied since
    with CompletionCache(path) as cache:
        assert cache.get("k") == Completion("x")


def test_generate_stops_on_a_corrupt_cache_before_sending_anything(tmp_path: Path) -> None:
    with FaultServer(max_seconds=30) as server:
        teacher = {"backend": "openai", "options": {"base_url": server.url, "model": "test-model"}}
        config = write_project(tmp_path, teacher, {"requests": 3, "samples_per_request": 1})
        run = tmp_path / "run"
        run.mkdir()
        (run / "cache.sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
        before = (run / "cache.sqlite").read_bytes()
        result = CliRunner().invoke(main, ["generate", str(config), "--no-progress"])
        assert server.total == 0
    assert result.exit_code == 1 and "[E370]" in result.stderr and str(run / "cache.sqlite") in result.stderr
    assert "Traceback" not in result.output + result.stderr and (run / "cache.sqlite").read_bytes() == before
    assert not (run / "generated.jsonl").exists()


def test_a_page_damaged_while_the_cache_is_open_is_e370_at_the_read(tmp_path: Path) -> None:
    path = _filled(tmp_path / "cache.sqlite")
    with CompletionCache(path) as cache:
        cache._db.execute("PRAGMA cache_size=1")  # read pages from the file, not from SQLite's page cache
        size = path.stat().st_size
        with path.open("r+b") as handle:  # the back half of the file turns to noise under the open cache
            handle.seek(size // 2)
            handle.write(random.Random(3).randbytes(size - size // 2))
        with pytest.raises(TvdError) as info:
            for i in range(300):
                cache.get(f"key-{i}")
    assert info.value.code == E_CACHE_CORRUPT and info.value.file == str(path) and "damaged" in info.value.message
