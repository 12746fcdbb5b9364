"""Ray scale-out on this machine: a CPU-bound sweep in one process vs on a 2-node local Ray cluster, the cost of one
task / actor call / Ray Data row, a generation through the Ray engine, and the completion cache's commit rate.

  sweep        --cells CRF trainings (SNIPS few-shot cells: intent x seed, the 10 seeds of the intent plus a sample
               of --base-size other-intent utterances, --crf-iterations L-BFGS iterations), run one after another in
               this process, then as Ray tasks (tvd.jobs.sweep.RayExecutor) on a local cluster of two node processes
               with one CPU each (tvd.jobs.ray_local.LocalCluster); the two alternate --repeats times (medians), so
               machine load hits both alike.  Without ../shared/data, a synthetic CRF workload of the same size.
  overhead     --noop no-op calls through: Ray tasks (the sweep's path), async actor calls awaited from asyncio (the
               Ray engine's path, two actors, one call in flight each), ray.util.ActorPool.map_unordered (two
               actors), Ray Data map_batches with an actor pool (2 actors, batch_size 1; marginal cost per row:
               (T(n) - T(10)) / (n - 10), its start-up left out; on a one-node Ray of 2 CPUs in a subprocess, as
               it stalled on the 2-node local cluster); per call, in milliseconds.
  generation   --requests scripted-teacher requests through tvd's generate(): one process, and the Ray engine's
               RayDispatcher (two actors on the two nodes; connecting and starting the actors included).
  cache        the single writer's commit rate: CompletionCache.put (one committed SQLite row per answer, WAL,
               synchronous=NORMAL) of --commits rows, and generate()'s whole per-answer loop (validate, commit,
               count) with an instant in-process teacher; and what 10^6 requests cost the writer at those rates.

Results: bench/results/ray_sweep.json and a table.  On a 2-core machine the sweep's gain is bounded by 2 (and by
whatever else runs there: the figures say when they were measured beside other jobs).

    python bench/ray_sweep.py                      # 24 cells x 3 repeats, 200 no-ops, 2000 requests, 20000 commits
    python bench/ray_sweep.py --cells 8 --repeats 1 --noop 50
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

from _protocol import RESULTS, SNIPS_INTENTS, default_data, read_split, stamp
from tvd.data.atomic import write_json
from tvd.data.utterance import Span, Utterance
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import EngineSettings
from tvd.engine.generate import generate
from tvd.engine.ray_dispatch import RayDispatcher, RaySettings
from tvd.jobs.ray_local import LocalCluster
from tvd.jobs.sweep import RayExecutor
from tvd.linguist.planner import PlanSettings, plan_requests
from tvd.linguist.task import LinguistTask
from tvd.report.table import format_table
from tvd.students import make_student
from tvd.teachers.base import Completion
from tvd.teachers.scripted import ScriptedTeacher

BENCH = Path(__file__).resolve().parent

# -- the sweep's cells -------------------------------------------------------------------------------------------


def _synthetic(n: int, seed: int = 0) -> list[Utterance]:
    """SNIPS-like utterances from templates (7 intents, 1-2 slots each), for a machine without ../shared/data."""
    rng = random.Random(seed)
    values = {
        "city": ["boston", "paris", "oslo", "lima", "kyoto", "austin", "denver", "rome"],
        "artist": ["adele", "miles davis", "queen", "bjork", "nina simone"],
        "book": ["dune", "emma", "the hobbit", "ulysses"],
        "time": ["tonight", "at noon", "tomorrow", "next week"],
        "genre": ["jazz", "rock", "soul", "folk"],
    }
    templates = {
        "GetWeather": ["what is the weather in {city} {time}", "will it rain in {city}", "forecast for {city}"],
        "PlayMusic": ["play some {genre}", "play {artist}", "put on {genre} by {artist}"],
        "RateBook": ["rate {book} five stars", "give {book} a zero"],
        "BookRestaurant": ["book a table in {city} {time}", "reserve a restaurant in {city}"],
        "AddToPlaylist": ["add {artist} to my {genre} playlist", "put this {genre} song on my list"],
        "SearchCreativeWork": ["find the book {book}", "look up {book} by {artist}"],
        "SearchScreeningEvent": ["movie times in {city} {time}", "what is playing in {city}"],
    }
    out = []
    for _ in range(n):
        intent = rng.choice(sorted(templates))
        text, spans = rng.choice(templates[intent]), []
        while "{" in text:
            start = text.index("{")
            label = text[start + 1 : text.index("}")]
            value = rng.choice(values[label])
            text = text[:start] + value + text[text.index("}") + 1 :]
            spans.append(Span(start, start + len(value), label))
        out.append(Utterance(text=text, intent=intent, spans=tuple(spans)))
    return out


@functools.lru_cache(maxsize=1)
def _train_data(data: str) -> tuple[Utterance, ...]:
    """SNIPS train (read once per process: each Ray worker pays it once), or the synthetic stand-in."""
    if (Path(data) / "snips" / "train" / "seq.in").is_file():
        return tuple(read_split(Path(data), "snips", "train"))
    return tuple(_synthetic(4000))


def train_cell(intent: str, seed: int, data: str, base_size: int, iterations: int) -> dict[str, Any]:
    """One sweep cell: a CRF student on ``base_size`` other-intent utterances + 10 of ``intent``'s (seeded)."""
    train = _train_data(data)
    rng = random.Random(seed)
    own = [u for u in train if u.intent == intent]
    other = [u for u in train if u.intent != intent]
    utterances = rng.sample(other, min(base_size, len(other))) + rng.sample(own, min(10, len(own)))
    started = time.perf_counter()
    make_student("crf", max_iterations=iterations).fit(utterances)
    return {"intent": intent, "seed": seed, "seconds": time.perf_counter() - started, "pid": os.getpid()}


def _cells(count: int) -> list[tuple[str, int]]:
    return [(SNIPS_INTENTS[i % len(SNIPS_INTENTS)], i // len(SNIPS_INTENTS)) for i in range(count)]


def sweep_one_process(cells: list[tuple[str, int]], args: argparse.Namespace) -> float:
    started = time.perf_counter()
    for intent, seed in cells:
        train_cell(intent, seed, str(args.data), args.base_size, args.crf_iterations)
    return time.perf_counter() - started


def sweep_ray(cells: list[tuple[str, int]], args: argparse.Namespace, executor: RayExecutor) -> tuple[float, int]:
    # the cell as this file's module, not __main__'s: pickled by reference, imported once per worker (through
    # the executor's pythonpath), so its per-process data cache holds there
    cell = importlib.import_module(Path(__file__).stem).train_cell
    started = time.perf_counter()
    futures = [
        executor.submit(cell, intent, seed, str(args.data), args.base_size, args.crf_iterations)
        for intent, seed in cells
    ]
    pids = {future.result()["pid"] for future in as_completed(futures)}
    return time.perf_counter() - started, len(pids)


# -- per-call overhead -------------------------------------------------------------------------------------------


def noop(x: int) -> int:
    return x


class Noop:
    """An actor / Ray Data callable that does nothing."""

    def call(self, x: int) -> int:
        return x

    async def acall(self, x: int) -> int:
        return x

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return batch


def overhead(ray: Any, executor: RayExecutor, n: int) -> dict[str, float]:
    """Milliseconds per no-op call on each path (module docstring)."""
    out: dict[str, float] = {}
    for f in as_completed([executor.submit(noop, i) for i in range(4)]):  # warm the task workers
        f.result()
    started = time.perf_counter()
    for f in as_completed([executor.submit(noop, i) for i in range(n)]):
        f.result()
    out["ray_task"] = 1000 * (time.perf_counter() - started) / n

    actor_cls = ray.remote(Noop).options(num_cpus=1)
    actors = [actor_cls.remote() for _ in range(2)]
    ray.get([a.call.remote(0) for a in actors])

    async def awaited() -> None:  # the Ray engine's path: each actor one call in flight, awaited in asyncio
        queue: asyncio.Queue[Any] = asyncio.Queue()
        for a in actors:
            queue.put_nowait(a)

        async def one(x: int) -> None:
            actor = await queue.get()
            await actor.acall.remote(x)
            queue.put_nowait(actor)

        await asyncio.gather(*(one(i) for i in range(n)))

    started = time.perf_counter()
    asyncio.run(awaited())
    out["actor_await"] = 1000 * (time.perf_counter() - started) / n

    from ray.util import ActorPool

    started = time.perf_counter()
    list(ActorPool(actors).map_unordered(lambda a, v: a.call.remote(v), range(n)))
    out["actor_pool"] = 1000 * (time.perf_counter() - started) / n
    for a in actors:
        ray.kill(a)

    return out


def ray_data_overhead(n: int) -> dict[str, float]:
    """Ray Data ``map_batches`` over an actor pool of 2 (half a CPU each, so its read tasks fit), on a one-node Ray of
    2 CPUs started in this process: on the 2-node local cluster (both nodes on 127.0.0.1) its executions stalled
    here for minutes without finishing, so it runs apart, in a subprocess (see :func:`main`)."""
    import ray
    import ray.data

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False

    def run(rows: int) -> float:
        started = time.perf_counter()
        pool = ray.data.ActorPoolStrategy(size=2)
        ray.data.range(rows).map_batches(Noop, batch_size=1, compute=pool, num_cpus=0.5).take_all()
        return time.perf_counter() - started

    run(10)  # Ray Data's own first-use cost, not counted
    small, large = run(10), run(n)
    ray.shutdown()
    return {"ray_data_map_batches": 1000 * max(0.0, large - small) / (n - 10), "ray_data_startup_s": small}


def _ray_data_in_subprocess(n: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--ray-data-only", str(n)]
    try:
        env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # a local ray.init() would write ~/.ray/auth_token
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    except subprocess.TimeoutExpired:
        return {}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if done.returncode == 0 and lines else {}


# -- generation through the Ray engine -------------------------------------------------------------------------


def _answer(prompt: str, seed: int) -> str:
    return f"weather now {seed}"


def _factory(worker: int) -> ScriptedTeacher:
    return ScriptedTeacher(_answer)


def generation(address: str, count: int) -> dict[str, float]:
    from tvd.data.resample import build_catalogue

    seeds = [Utterance("weather in boston", "GetWeather", (Span(11, 17, "city"),))]
    requests = plan_requests(
        "GetWeather", seeds, PlanSettings(requests=count, examples_per_prompt=1), build_catalogue(seeds)
    )
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, settings in (
            ("one_process_s", None),
            (
                "ray_s",
                EngineSettings(
                    dispatcher=functools.partial(
                        RayDispatcher, ray_settings=RaySettings(address=address, workers=2), factory=_factory
                    )
                ),
            ),
        ):
            started = time.perf_counter()
            with CompletionCache(Path(tmp) / f"{name}.sqlite") as cache:
                result = generate(
                    LinguistTask(),
                    requests,
                    ScriptedTeacher(_answer),
                    cache,
                    samples_per_request=1,
                    progress=False,
                    settings=settings,
                )
            out[name] = time.perf_counter() - started
            assert result.stats.sent == count
    out["ray_ms_per_request"] = 1000 * out["ray_s"] / count
    return out


# -- the single writer's commit rate ---------------------------------------------------------------------------


def commit_rate(count: int, work: Path) -> dict[str, float]:
    text = "what is the weather in [1 boston ] [2 tomorrow ] please"
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        with CompletionCache(Path(tmp) / "cache.sqlite") as cache:
            started = time.perf_counter()
            for i in range(count):
                cache.put(f"{i:064x}", "scripted:x", f"R-{i // 3}", i % 3, Completion(text, 40, 12))
            put_s = time.perf_counter() - started
        seeds = [Utterance("weather in boston", "GetWeather", (Span(11, 17, "city"),))]
        from tvd.data.resample import build_catalogue

        n = count // 4
        requests = plan_requests(
            "GetWeather", seeds, PlanSettings(requests=n, examples_per_prompt=1), build_catalogue(seeds)
        )
        with CompletionCache(Path(tmp) / "loop.sqlite") as cache:
            result = generate(LinguistTask(), requests, ScriptedTeacher(_answer), cache, progress=False)
        loop_rate = result.stats.sent / result.stats.elapsed_seconds
    put_rate = count / put_s
    return {
        "put_rows_per_s": put_rate,
        "generate_loop_requests_per_s": loop_rate,
        "writer_minutes_for_1e6_puts": 1e6 / put_rate / 60,
        "writer_minutes_for_1e6_requests": 1e6 / loop_rate / 60,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data(), help="folder holding snips/ (env TVD_DATA)")
    parser.add_argument("--cells", type=int, default=24, help="CRF trainings in the sweep")
    parser.add_argument("--repeats", type=int, default=3, help="alternating one-process / Ray passes (medians)")
    parser.add_argument("--base-size", type=int, default=400, help="other-intent utterances per training")
    parser.add_argument("--crf-iterations", type=int, default=30)
    parser.add_argument("--noop", type=int, default=200, help="no-op calls per overhead path")
    parser.add_argument("--requests", type=int, default=2000, help="scripted requests through generate()")
    parser.add_argument("--commits", type=int, default=20000, help="cache rows committed for the commit rate")
    parser.add_argument("--contended", action="store_true", help="record that other jobs shared the machine")
    parser.add_argument("--out", type=Path, default=RESULTS / "ray_sweep.json")
    parser.add_argument("--ray-data-only", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ray_data_only:
        print(json.dumps(ray_data_overhead(args.ray_data_only)))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a SIGTERM still stops the local cluster

    snips = (args.data / "snips" / "train" / "seq.in").is_file()
    cells = _cells(args.cells)
    print(
        f"workload: {args.cells} CRF trainings on {'SNIPS' if snips else 'synthetic'} data, base {args.base_size}, "
        f"{args.crf_iterations} iterations"
    )
    load_avg = os.getloadavg()
    cache = commit_rate(args.commits, BENCH / "work" if (BENCH / "work").is_dir() else Path(tempfile.gettempdir()))
    print(
        f"cache: {cache['put_rows_per_s']:.0f} rows/s committed; "
        f"generate loop {cache['generate_loop_requests_per_s']:.0f}/s"
    )
    started = time.perf_counter()
    with LocalCluster((1, 1)) as cluster:
        cluster_start_s = time.perf_counter() - started
        print(f"cluster of 2 nodes up in {cluster_start_s:.1f} s at {cluster.address}")
        executor = RayExecutor(cluster.address, pythonpath=[BENCH])
        train_cell(*cells[0], str(args.data), args.base_size, args.crf_iterations)  # this process's data loaded
        sweep_ray(cells[:2], args, executor)  # the workers' data loaded
        one, on_ray, workers = [], [], set()
        for repeat in range(args.repeats):
            one.append(sweep_one_process(cells, args))
            seconds, pids = sweep_ray(cells, args, executor)
            on_ray.append(seconds)
            workers.add(pids)
            print(f"repeat {repeat}: one process {one[-1]:.1f} s, Ray {on_ray[-1]:.1f} s ({pids} worker processes)")
        costs = overhead(cluster.ray, executor, args.noop)
        costs.update(_ray_data_in_subprocess(args.noop))  # alone, with the cluster idle
        print("overhead (ms per call): " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items()))
        gen = generation(cluster.address, args.requests)
        print(f"generation of {args.requests}: one process {gen['one_process_s']:.2f} s, Ray {gen['ray_s']:.2f} s")
    sweep = {
        "one_process_s": one,
        "ray_s": on_ray,
        "median_one_process_s": statistics.median(one),
        "median_ray_s": statistics.median(on_ray),
        "speedup": statistics.median(one) / statistics.median(on_ray),
        "cluster_start_s": cluster_start_s,
        "ray_worker_processes": sorted(workers),
    }
    rows = [
        {
            "measure": f"sweep of {args.cells} CRF trainings, one process (median s)",
            "value": f"{sweep['median_one_process_s']:.1f}",
        },
        {
            "measure": "the same as Ray tasks on 2 local nodes x 1 CPU (median s)",
            "value": f"{sweep['median_ray_s']:.1f}",
        },
        {"measure": "speed-up", "value": f"{sweep['speedup']:.2f}x"},
        {"measure": "cluster start (2 nodes)", "value": f"{cluster_start_s:.1f} s"},
        *(
            {"measure": f"no-op, {k} (ms per call)", "value": f"{v:.2f}"}
            for k, v in costs.items()
            if k.endswith(("task", "await", "pool", "batches"))
        ),
        {
            "measure": f"generate() {args.requests} scripted requests, one process (s)",
            "value": f"{gen['one_process_s']:.2f}",
        },
        {"measure": "the same on the Ray engine, start-up included (s)", "value": f"{gen['ray_s']:.2f}"},
        {"measure": "cache commits (rows/s, one writer)", "value": f"{cache['put_rows_per_s']:.0f}"},
        {
            "measure": "generate() loop, instant teacher (answers/s committed)",
            "value": f"{cache['generate_loop_requests_per_s']:.0f}",
        },
        {
            "measure": "writer time for 10^6 requests at that rate",
            "value": f"{cache['writer_minutes_for_1e6_requests']:.1f} min",
        },
    ]
    write_json(
        args.out,
        {
            **stamp("ray_sweep.py", argv),
            "machine": {"cpus": os.cpu_count(), "load_average_at_start": load_avg, "contended": args.contended},
            "workload": {
                "data": "snips" if snips else "synthetic",
                "cells": args.cells,
                "base_size": args.base_size,
                "crf_iterations": args.crf_iterations,
                "repeats": args.repeats,
            },
            "sweep": sweep,
            "overhead_ms_per_call": costs,
            "generation": {"requests": args.requests, **gen},
            "cache": {"commits": args.commits, **cache},
        },
    )
    print()
    print(format_table(rows, [("measure", "measure"), ("value", "value")], title="Ray scale-out on this machine"))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
