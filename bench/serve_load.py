"""Bounded load test of `tvd serve` on 127.0.0.1: throughput and latency at concurrency 1, 8 and 32.

For each server setting (student, --workers, --micro-batch, --prediction-threads) the server is started as a
subprocess on a free port; an aiohttp client (C-accelerated HTTP, keep-alive connections) keeps C requests in
flight (C = concurrency) until --requests requests have been answered, one or several texts each, cycling
through the SNIPS test utterances.  Throughput is
utterances per second; p50 / p99 are per-request latencies; errors counts non-200 answers and transport errors.
The load generator runs on the same machine and competes with the server for the CPU.
Each (setting, concurrency) runs --repeat times against the same server; records hold the medians (errors:
the sum) and every run.  Results: bench/results/serve_load.json (`records`: student, concurrency, throughput_rps,
p50_ms, p99_ms, errors, runs, ...).

    python bench/serve_load.py                      # the default setting list below
    python bench/serve_load.py --settings crf crf-w2 --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from _protocol import RESULTS, WORK, default_data, free_port, local_server, merge_records, trained_student, written
from _protocol import command as command_line
from tvd.data.atomic import write_json
from tvd.evaluate.latency import percentile
from tvd.formats import read_dataset

RESULTS_FILE = RESULTS / "serve_load.json"

# name: (student directory kind, workers, micro_batch, texts per request, prediction threads)
SETTINGS: dict[str, tuple[str, int, int, int, int]] = {
    "crf": ("crf", 1, 1, 1, 0),
    "crf-thread": ("crf", 1, 1, 1, 1),
    "crf-w2": ("crf", 2, 1, 1, 0),
    "crf-batch8": ("crf", 1, 1, 8, 0),
    "encoder-int8": ("encoder", 1, 1, 1, 1),
    "encoder-int8-mb32": ("encoder", 1, 32, 1, 1),
}


async def _load(base: str, texts: list[str], concurrency: int, requests: int, per_request: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    counter = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(base_url=base, connector=connector, timeout=timeout) as client:

        async def worker() -> None:
            nonlocal counter, errors
            while counter < requests:
                index = counter
                counter += 1
                start = index * per_request % len(texts)
                batch = (texts * 2)[start : start + per_request]
                body = json.dumps({"text": batch[0]} if per_request == 1 else {"texts": batch}).encode()
                began = time.perf_counter()
                try:
                    async with client.post("/parse", data=body, headers=headers) as answer:
                        await answer.read()
                        ok = answer.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                latencies.append((time.perf_counter() - began) * 1000)
                errors += not ok

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {
        "requests": requests,
        "seconds": round(elapsed, 3),
        "throughput_rps": round(requests * per_request / elapsed, 1),
        "requests_per_s": round(requests / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--dataset", default="snips")
    run = "folder under bench/work/students of the encoder student (from bench/student_accuracy.py)"
    parser.add_argument("--encoder-run", default="encoder-{dataset}-epochs10", help=run)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=2000, help="requests per (setting, concurrency) and run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per (setting, concurrency); medians are reported")
    args = parser.parse_args()

    texts = [u.text for u in read_dataset(args.data / args.dataset / "test", "bio").utterances]
    records = []
    WORK.mkdir(parents=True, exist_ok=True)
    for name in args.settings:
        kind, workers, micro_batch, per_request, threads = SETTINGS[name]
        model_dir = trained_student(kind, args.dataset, args.encoder_run)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "tvd.cli.main", "serve", str(model_dir), "--port", str(port)]
        command += ["--workers", str(workers), "--micro-batch", str(micro_batch), "--prediction-threads", str(threads)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        with local_server(command, f"{base}/health", WORK / f"serve_{name}.log", env):
            asyncio.run(_load(base, texts, 4, 100, per_request))  # warm-up
            for concurrency in args.concurrency:
                runs = [
                    asyncio.run(_load(base, texts, concurrency, args.requests, per_request)) for _ in range(args.repeat)
                ]
                result = {
                    key: statistics.median(run[key] for run in runs)
                    for key in ("seconds", "throughput_rps", "requests_per_s", "p50_ms", "p99_ms")
                }
                result["requests"] = args.requests
                result["errors"] = sum(run["errors"] for run in runs)
                result["runs"] = runs
                record = {
                    "setting": name,
                    "student": "crf" if kind == "crf" else "encoder-int8",
                    "model_dir": model_dir.name,
                    "concurrency": concurrency,
                    "workers": workers,
                    "micro_batch": micro_batch,
                    "texts_per_request": per_request,
                    "prediction_threads": threads,
                    **result,
                }
                records.append(record)
                print(
                    f"{name:18s} c={concurrency:<3d} {record['throughput_rps']:8.1f} utt/s  "
                    f"p50 {record['p50_ms']:7.2f} ms  p99 {record['p99_ms']:7.2f} ms  errors {record['errors']}"
                )
    write_json(
        RESULTS_FILE,
        {
            "benchmark": "serve_load",
            "command": command_line("serve_load.py", None),
            "settings": {
                "host": "127.0.0.1",
                "requests": args.requests,
                "repeat": args.repeat,
                "statistic": "median of runs; errors summed over runs",
                "client": "aiohttp.ClientSession",
            },
            "load_average_1m": os.getloadavg()[0],
            "written": written(),
            "records": merge_records(RESULTS_FILE, records, key=lambda r: r["setting"]),
        },
    )


if __name__ == "__main__":
    main()
