"""The completion cache: every teacher response, keyed by its request fingerprint, in SQLite.

One row per sampled completion (``tvd.teachers.base.request_key``: backend, model, prompt, parameters,
sample index).  Each row is committed as soon as it arrives, so a generation killed at any point (even
``kill -9``) restarts by sending only the requests that have no row yet.  Parsing is *not* cached: a
changed parser re-reads the stored raw completions without querying the teacher again.

A damaged file is refused, never repaired, overwritten or deleted: a file that is not a readable SQLite
database (random bytes, truncated, a folder at that path) or a SQLite database of another schema raises
:data:`~tvd.errors.E_CACHE_CORRUPT` when it is opened (its integrity is checked then, so nothing has been
sent); a zero-byte file next to an earlier run's outputs (``generated.jsonl`` ...) raises
:data:`~tvd.errors.E_CACHE_EMPTY` instead of being taken for an empty cache, which would pay for every
request again.  While open for writing, the cache holds its own lock, ``<file>.lock`` (:mod:`tvd.engine.lock`).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tvd.engine.lock import cache_lock
from tvd.errors import E_CACHE_CORRUPT, E_CACHE_EMPTY, TvdError
from tvd.teachers.base import Completion

_COLUMNS = (
    "key",
    "teacher",
    "request_id",
    "sample",
    "text",
    "prompt_tokens",
    "completion_tokens",
    "finish_reason",
    "extra",
    "created",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    teacher TEXT NOT NULL,
    request_id TEXT NOT NULL,
    sample INTEGER NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    finish_reason TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL
)
"""

#: files a finished run leaves next to its cache (``tvd generate`` / ``tvd run`` / ``tvd clasp``): when one is
#: there, a zero-byte cache was emptied rather than never written
EARLIER_OUTPUTS: tuple[str, ...] = (
    "generated.jsonl",
    "rejects.jsonl",
    "filtered.jsonl",
    "failures.jsonl",
    "metrics.json",
    "summary.json",
)

#: SQLite errors about the machine, not the file (full disk, permissions, another connection): not "corrupt"
_NOT_DAMAGE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_NOMEM")

_MOVE_ASIDE = (
    "move it aside (e.g. `mv {name} {name}.damaged`; it is never overwritten or deleted) and run again: "
    "requests without an answer are then sent again, and paid for again"
)


def _damaged(path: Path, problem: str) -> TvdError:
    return TvdError(
        E_CACHE_CORRUPT, f"the completion cache {problem}", file=path, fix=_MOVE_ASIDE.format(name=path.name)
    )


def _is_damage(error: sqlite3.DatabaseError) -> bool:
    name = getattr(error, "sqlite_errorname", "") or ""
    return not name.startswith(_NOT_DAMAGE)


class CompletionCache:
    """A SQLite file of completions; safe against interruption (WAL journal, one commit per row).

    ``lock``: hold the cache file's lock (``<file>.lock``) while open (E372 if another process holds it); a
    read-only look (the dry run) passes False.  Opening checks the file (E370 damaged or not a tvd cache,
    E371 a zero-byte file where an earlier run's outputs are) before anything is written to it.
    """

    def __init__(self, path: str | Path, *, lock: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = contextlib.ExitStack()
        if lock:
            self._lock.enter_context(cache_lock(self.path))
        try:
            self._db = self._open()
        except BaseException:
            self._lock.close()
            raise

    def _open(self) -> sqlite3.Connection:
        path = self.path
        if path.exists() and not path.is_file():
            raise _damaged(path, "path is not a file (a folder, or another kind of file)")
        if path.is_file() and path.stat().st_size == 0:
            # SQLite writes the first page when it opens a cache (WAL mode), so a run, even one killed at once,
            # leaves a file of at least one page: a zero-byte file after a run's outputs was emptied since
            earlier = [name for name in EARLIER_OUTPUTS if (path.parent / name).exists()]
            if earlier:
                raise TvdError(
                    E_CACHE_EMPTY,
                    f"the completion cache is empty (0 bytes) but this run directory holds an earlier run's "
                    f"outputs ({', '.join(earlier)}): its answers are gone, and every request would be sent "
                    "(and paid for) again",
                    file=path,
                    fix=f"restore {path.name} from a backup if there is one; to generate everything again, delete "
                    f"the 0-byte {path.name} (or use another run directory)",
                )
        db = sqlite3.connect(path)
        try:
            self._check(db)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            db.commit()
        except sqlite3.DatabaseError as error:
            db.close()
            if not _is_damage(error):
                raise
            raise _damaged(path, f"is not a readable SQLite database ({error})") from error
        except BaseException:
            db.close()
            raise
        return db

    def _check(self, db: sqlite3.Connection) -> None:
        """Read the schema and check the file's integrity before anything is written to it."""
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if tables and "completions" not in tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise _damaged(self.path, f"is a SQLite database of another program (tables: {shown}), not a tvd cache")
        if tables:
            columns = tuple(row[1] for row in db.execute("PRAGMA table_info(completions)"))
            if columns != _COLUMNS:
                raise _damaged(
                    self.path, f"has a `completions` table of another schema (columns: {', '.join(columns)})"
                )
        problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise _damaged(self.path, f"is damaged (SQLite's quick_check: {'; '.join(problems)})")

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Database work; a damaged page met only now is reported as E370, not a traceback."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            if not _is_damage(error):
                raise
            raise _damaged(self.path, f"is damaged ({error})") from error

    def get(self, key: str) -> Completion | None:
        with self._guarded():
            row = self._db.execute(
                "SELECT text, prompt_tokens, completion_tokens, finish_reason, extra FROM completions WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return Completion(row[0], row[1], row[2], row[3], json.loads(row[4]))

    def put(self, key: str, teacher: str, request_id: str, sample: int, completion: Completion) -> None:
        row = (
            key,
            teacher,
            request_id,
            sample,
            completion.text,
            completion.prompt_tokens,
            completion.completion_tokens,
            completion.finish_reason,
            json.dumps(completion.extra, ensure_ascii=False),
            time.time(),
        )
        with self._guarded():
            self._db.execute("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            self._db.commit()

    def __len__(self) -> int:
        with self._guarded():
            return int(self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        try:
            self._db.close()
        finally:
            self._lock.close()

    def __enter__(self) -> CompletionCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def existing_cache(path: Path) -> Iterator[CompletionCache | None]:
    """The cache at ``path`` if there is one, else ``None`` (a dry run creates no file); closed afterwards.

    Opened without the cache's lock (a look, while another process may be generating); a damaged file is an
    error here too."""
    if not path.exists():
        yield None
        return
    with CompletionCache(path, lock=False) as cache:
        yield cache
