"""One process per run directory: an exclusive lock file, ``<run_dir>/.tvd.lock``.

Two ``tvd generate`` / ``tvd run`` / ``tvd clasp`` processes on one run directory would send every missing
request twice (and pay twice) and overwrite each other's outputs.  :func:`run_lock` takes an exclusive,
non-blocking lock (``filelock``: ``flock(2)`` on Unix) for as long as a job works in the directory; a second
process is refused at once with :data:`~tvd.errors.E_RUN_LOCKED`, naming the directory and the holder's PID
(written into the lock file).  The operating system releases the lock when its process ends, however it ends
(``kill -9`` included), so a stale lock file never blocks the next run; the file itself stays (that is how
flock works) and holds the last holder's PID.

The lock is reentrant in one thread (a job function that holds it may call another that takes it again) and
exclusive between threads and processes.  :class:`~tvd.engine.cache.CompletionCache` holds :func:`cache_lock`
(``<cache file>.lock``) while it is open, so every writer of a cache (the jobs, the benchmarks, library code) is
alone with it, while two benchmarks with their own cache files in one folder may run side by side.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from tvd.errors import E_RUN_LOCKED, TvdError

#: the lock file's name inside a run directory
LOCK_NAME = ".tvd.lock"


def lock_path(run_dir: str | Path) -> Path:
    """The lock file of ``run_dir``."""
    return Path(run_dir) / LOCK_NAME


def cache_lock_path(cache_path: str | Path) -> Path:
    """The lock file of a completion cache file: ``cache.sqlite`` -> ``cache.sqlite.lock``."""
    cache_path = Path(cache_path)
    return cache_path.with_name(cache_path.name + ".lock")


def _write_pid(fd: int) -> None:
    """``on_acquired`` hook: the lock file holds the PID of the process that holds the lock."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)


def holder_pid(run_dir: str | Path, *, lock_file: Path | None = None) -> int | None:
    """The PID written into ``run_dir``'s lock file (or ``lock_file``): the holder's, or the last holder's; None if
    unreadable."""
    try:
        text = (lock_file or lock_path(run_dir)).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _lock(path: Path) -> FileLock:
    # one instance per path (is_singleton), so that a thread holding it may take it again
    return FileLock(path.resolve(), timeout=0, is_singleton=True, on_acquired=_write_pid)


@contextmanager
def _held(lock_file: Path, what: str, place: Path, fix: str) -> Iterator[None]:
    lock = _lock(lock_file)
    try:
        lock.acquire()
    except Timeout:
        pid = holder_pid(place, lock_file=lock_file)
        holder = "another thread of this process" if pid == os.getpid() else "another tvd process"
        raise TvdError(
            E_RUN_LOCKED,
            f"{holder}{f' (PID {pid})' if pid is not None and pid != os.getpid() else ''} is working {what} "
            f"(it holds {lock_file.name})",
            file=place,
            fix=fix + "; do not delete the lock file: a lock left by a process that has ended does not count",
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def run_lock(run_dir: str | Path) -> Iterator[Path]:
    """Hold ``run_dir``'s lock for the ``with`` block (creating the directory); yields the directory.

    Raises :class:`~tvd.errors.TvdError` (E372) at once when another process (or thread) holds it.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fix = "wait for it to finish (this run can then resume from the same cache), or use another run directory (-o DIR)"
    with _held(lock_path(run_dir), "in this run directory", run_dir, fix):
        yield run_dir


@contextmanager
def cache_lock(cache_path: str | Path) -> Iterator[Path]:
    """Hold the lock of the completion cache file ``cache_path`` (``<file>.lock``, its folder created) for the
    ``with`` block; E372 at once when another process (or thread) holds it."""
    cache_path = Path(cache_path)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    fix = "wait for it to finish (then resume from the same cache), or give this job another cache file"
    with _held(cache_lock_path(cache_path), "with this completion cache", cache_path, fix):
        yield cache_path
