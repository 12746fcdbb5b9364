"""The completion cache: every teacher response, keyed by its request fingerprint, in SQLite.

One row per sampled completion (``tvd.teachers.base.request_key``: backend, model, prompt, parameters,
sample index).  Each row is committed as soon as it arrives, so a generation killed at any point (even
``kill -9``) restarts by sending only the requests that have no row yet.  Parsing is *not* cached: a
changed parser re-reads the stored raw completions without querying the teacher again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tvd.teachers.base import Completion

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


class CompletionCache:
    """A SQLite file of completions; safe against interruption (WAL journal, one commit per row)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get(self, key: str) -> Completion | None:
        row = self._db.execute(
            "SELECT text, prompt_tokens, completion_tokens, finish_reason, extra FROM completions WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return Completion(row[0], row[1], row[2], row[3], json.loads(row[4]))

    def put(self, key: str, teacher: str, request_id: str, sample: int, completion: Completion) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
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
            ),
        )
        self._db.commit()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CompletionCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def existing_cache(path: Path) -> Iterator[CompletionCache | None]:
    """The cache at ``path`` if the file exists, else ``None`` (a dry run creates no file); closed afterwards."""
    if not path.is_file():
        yield None
        return
    with CompletionCache(path) as cache:
        yield cache
