"""What the benchmark scripts share that a user of ``tvd`` would not need: where the data, work and result
folders are, the header of a results file, merging re-run records into it, and a local server that lives as
long as a measurement."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import httpx

from tvd.data.utterance import Utterance
from tvd.errors import E_BENCH_DATA_NOT_FOUND, TvdError
from tvd.formats import read_dataset

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
WORK = REPO / "bench" / "work"
STUDENTS = WORK / "students"  # students trained by bench/student_accuracy.py
# progress lines reach a log file as they are printed (every script imports this module first)
sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
SNIPS_INTENTS = (
    "AddToPlaylist",
    "BookRestaurant",
    "GetWeather",
    "PlayMusic",
    "RateBook",
    "SearchCreativeWork",
    "SearchScreeningEvent",
)


def default_data() -> Path:
    """``$TVD_DATA``, else ``../shared/data`` beside the repository (the folder holding snips/, atis/, ...)."""
    return Path(os.environ.get("TVD_DATA", REPO.parent / "shared" / "data"))


def data_missing(data: Path, what: str) -> NoReturn:
    fix = "pass --data DIR (the folder holding snips/, atis/, xsid/, pizza/) or set TVD_DATA"
    sys.exit(f"error: {TvdError(E_BENCH_DATA_NOT_FOUND, f'{what} not found under {data}', fix=fix)}")


def read_split(data: Path, dataset: str, split: str) -> list[Utterance]:
    """``data/dataset/split`` in the SNIPS / ATIS layout; exits with the fix when it is not there."""
    if not (data / dataset / split / "seq.in").is_file():
        data_missing(data, f"{dataset}/{split}")
    return read_dataset(data / dataset / split, "bio").utterances


def command(script: str, argv: Sequence[str] | None) -> str:
    """The command line that wrote a results file."""
    return f"python bench/{script} {' '.join(sys.argv[1:] if argv is None else argv)}".strip()


def stamp(script: str, argv: Sequence[str] | None) -> dict[str, str]:
    """The first keys of a results file: the command and the UTC date."""
    return {"command": command(script, argv), "date": datetime.now(UTC).isoformat(timespec="seconds")}


def written() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def merge_records(path: Path, records: list[dict[str, Any]], key: Callable[[dict[str, Any]], Hashable]) -> list:
    """The records of the results file at ``path`` that this run did not redo (by ``key``), then ``records``."""
    new = {key(r) for r in records}
    kept = json.loads(path.read_text()).get("records", []) if path.is_file() else []
    return [r for r in kept if key(r) not in new] + records


def trained_student(kind: str, dataset: str, encoder_run: str) -> Path:
    """The work directory of a student from bench/student_accuracy.py (``encoder_run``: ``{dataset}`` pattern)."""
    directory = STUDENTS / (encoder_run.format(dataset=dataset) if kind == "encoder" else f"crf-{dataset}")
    if not (directory / "student.json").is_file():
        sys.exit(f"{directory} has no student: run bench/student_accuracy.py first")
    return directory


def one_thread() -> None:
    """One torch thread (OMP_NUM_THREADS is set to 1 before torch is imported by the scripts that need it)."""
    import torch

    torch.set_num_threads(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_server(
    argv: list[str], ready_url: str, log: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` for the duration of the block, once ``ready_url`` answers 200 (within 120 s); its output
    goes to ``log`` (a temporary file when None) and its end to the error message when it fails to start."""
    with log.open("w+b") if log else tempfile.TemporaryFile() as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    out.seek(0)
                    sys.exit(f"{argv[2]} exited:\n{out.read().decode(errors='replace')[-2000:]}")
                try:
                    if httpx.get(ready_url, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    sys.exit(f"{argv[2]} did not answer within 120 s")
                time.sleep(0.25)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def lora_settings(args: Any) -> tuple[Any, Callable[[int, float], None]]:
    """The LoRA settings a benchmark's --tune-* options give (``tvd.tuning.TuneSettings``: steps, batch, rank with
    alpha = 2 x rank, learning rate, --teacher-threads) and a progress printer for them."""
    from tvd.tuning import TuneSettings

    tuning = TuneSettings(
        steps=args.tune_steps,
        batch_size=args.tune_batch,
        rank=args.tune_rank,
        alpha=2.0 * args.tune_rank,
        learning_rate=args.tune_lr,
        threads=args.teacher_threads,
    )
    started = time.perf_counter()

    def show(step: int, loss: float) -> None:
        print(f"step {step}/{tuning.steps} loss {loss:.3f} ({time.perf_counter() - started:.0f}s)", flush=True)

    return tuning, show
