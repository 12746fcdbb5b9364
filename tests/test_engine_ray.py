"""The Ray engine backend on a real two-node Ray cluster on 127.0.0.1 (tvd.jobs.ray_local.LocalCluster: a head and a
second node process, one CPU each, torn down afterwards): a few hundred requests against the scripted teacher (built
in the actors) and against the fault-injecting HTTP server, compared with one process; a worker process killed
mid-request, a node killed midway, workers that keep dying; and the config / CLI / error paths."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from fault_server import FaultServer, write_project
from test_engine_faults import _lines, fault_teacher_block, faulty
from tvd.cli.main import main
from tvd.config import EngineConfig, load_config
from tvd.data.resample import build_catalogue
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import EngineSettings
from tvd.engine.generate import SEED_STRIDE, generate
from tvd.errors import E_CONFIG_FIELD, E_NO_RAY, E_RAY_CONNECT, E_RAY_WORKERS_LOST, TvdError
from tvd.jobs.teacher import engine_settings, with_ray_address
from tvd.linguist.planner import PlanSettings, plan_requests
from tvd.linguist.task import LinguistTask
from tvd.teachers.base import Completion, GenerationParams, Teacher
from tvd.teachers.scripted import ScriptedTeacher

ray = pytest.importorskip("ray", reason="ray is not importable: pip install 'teaching-via-data[ray]' (ray==2.60.0)")

from tvd.engine.ray_dispatch import RayDispatcher, RaySettings, connect  # noqa: E402
from tvd.jobs.ray_local import LocalCluster  # noqa: E402

# the actors unpickle this module's teacher factory: send its code along instead of importing it there
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

LINGUIST = LinguistTask()
SAMPLES = 3


def answer(prompt: str, seed: int) -> str:
    """Deterministic: fills the prompt's include block with values made from the seed (one in four malformed, so
    rejects are compared too)."""
    include = re.search(r"<include> (.*) </include>", prompt)
    slots = re.findall(r"\[(\d+) ([^\]]+?) \]", include.group(1)) if include else []
    if seed % 4 == 3:
        return "weather in [1 broken"
    parts = [f"[{n} {'place' + str(seed) if v == '*' else v} ]" for n, v in slots]
    return f"what about {' and '.join(parts)} please" if parts else f"weather now {seed}"


class LoggedTeacher(ScriptedTeacher):
    """The scripted teacher, logging to a file shared by every actor: ``begin KEY`` when a request arrives, ``done KEY``
    when it is answered.  ``die_on`` (seeds): the worker process exits at once (os._exit) on such a request, the
    first time only (``die_always``: every time); ``delay_s`` per request."""

    def __init__(self, log: Path, die_on: frozenset[int], die_always: bool, delay_s: float) -> None:
        super().__init__(answer, name="logged")
        self.log, self.die_on, self.die_always, self.delay_s = log, die_on, die_always, delay_s

    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        key = f"{params.seed}"
        with self.log.open("a") as out:
            out.write(f"begin {key} {os.getpid()}\n")
        if params.seed in self.die_on:
            marker = self.log.with_name(f"died-{params.seed}")
            if self.die_always or not marker.exists():
                marker.touch()
                os._exit(1)
        if self.delay_s:
            time.sleep(self.delay_s)
        completions = super().generate(prompt, n, params)
        with self.log.open("a") as out:
            out.write(f"done {key} {os.getpid()}\n")
        return completions


@dataclass(frozen=True)
class LoggedFactory:
    log: Path
    die_on: frozenset[int] = frozenset()
    die_always: bool = False
    delay_s: float = 0.0

    def __call__(self, worker: int) -> Teacher:
        return LoggedTeacher(self.log, self.die_on, self.die_always, self.delay_s)

    def events(self) -> tuple[Counter[str], Counter[str], set[str]]:
        """Requests begun and answered, per seed, and the worker processes that answered."""
        lines = [line.split() for line in self.log.read_text().splitlines()] if self.log.exists() else []
        begun = Counter(key for kind, key, _ in lines if kind == "begin")
        done = Counter(key for kind, key, _ in lines if kind == "done")
        return begun, done, {pid for kind, _, pid in lines if kind == "done"}


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster((1, 1)) as local:
        yield local


@pytest.fixture
def requests(weather_seeds):
    settings = PlanSettings(requests=100, examples_per_prompt=2, seed=5)
    return plan_requests("GetWeather", weather_seeds, settings, build_catalogue(weather_seeds))


def _ray_settings(
    cluster: LocalCluster, factory: LoggedFactory, made: list[RayDispatcher], **ray_options
) -> EngineSettings:
    def make(*args, **kwargs) -> RayDispatcher:
        dispatcher = RayDispatcher(
            *args, ray_settings=RaySettings(address=cluster.address, **ray_options), factory=factory, **kwargs
        )
        made.append(dispatcher)
        return dispatcher

    return EngineSettings(dispatcher=make)


def _generate(tmp_path: Path, name: str, requests, settings: EngineSettings | None = None):
    with CompletionCache(tmp_path / name) as cache:
        result = generate(
            LINGUIST,
            requests,
            ScriptedTeacher(answer, name="logged"),
            cache,
            samples_per_request=SAMPLES,
            progress=False,
            settings=settings,
        )
        return result, len(cache)


def _seed(request: int, sample: int) -> int:
    return LINGUIST.default_params.seed + request * SEED_STRIDE + sample


def _dump(result) -> tuple[list[dict], list[dict], list[dict]]:
    return [u.to_dict() for u in result.accepted], result.rejects, result.failures


def test_a_ray_generation_equals_the_one_process_one_and_resumes(tmp_path, cluster, requests):
    one, _ = _generate(tmp_path, "one.sqlite", requests)
    # 20 ms a request: work enough for the second worker (about a second to start) to take its share
    factory, made = LoggedFactory(tmp_path / "log.txt", delay_s=0.02), []
    on_ray, cached = _generate(tmp_path, "ray.sqlite", requests, _ray_settings(cluster, factory, made))

    assert _dump(on_ray) == _dump(one) and on_ray.stats.planned == on_ray.stats.sent == cached == 300
    assert on_ray.stats.accepted == one.stats.accepted > 0 and on_ray.stats.rejected == one.stats.rejected
    begun, done, pids = factory.events()
    assert len(done) == 300 and set(begun.values()) == set(done.values()) == {1}  # each sent once
    assert len(made[0].ray_report.nodes) == 2 and len(pids) == 2  # both nodes' workers answered

    again, _ = _generate(tmp_path, "ray.sqlite", requests, _ray_settings(cluster, factory, made))
    assert again.stats.cached == 300 and again.stats.sent == 0 and _dump(again) == _dump(one)
    assert len(factory.events()[0]) == 300 and made[1].ray_report.started == 0  # nothing sent, no actor started


def test_a_worker_killed_mid_request_loses_nothing_and_sends_nothing_twice(tmp_path, cluster, requests):
    one, _ = _generate(tmp_path, "one.sqlite", requests)
    victim = _seed(40, 1)
    factory, made = LoggedFactory(tmp_path / "log.txt", die_on=frozenset({victim})), []
    on_ray, cached = _generate(tmp_path, "ray.sqlite", requests, _ray_settings(cluster, factory, made))

    assert _dump(on_ray) == _dump(one) and on_ray.stats.sent == cached == 300 and not on_ray.failures
    report = made[0].ray_report
    assert report.lost == 1 and report.resent == 1 and report.started == 3  # two workers and one replacement
    engine = on_ray.stats.to_dict()["engine"]  # what the summary says
    assert engine["backend"] == "ray" and engine["workers_lost"] == 1 and engine["resent"] == 1
    begun, done, _ = factory.events()
    assert len(done) == 300 and set(done.values()) == {1}  # every request answered once
    assert begun[str(victim)] == 2 and sum(begun.values()) == 301  # only the killed one was sent again


def test_workers_that_keep_dying_stop_the_run_with_what_was_answered_cached(tmp_path, cluster, requests):
    victim = _seed(60, 0)
    factory = LoggedFactory(tmp_path / "log.txt", die_on=frozenset({victim}), die_always=True)
    settings = _ray_settings(cluster, factory, [], max_worker_deaths=1)
    with pytest.raises(TvdError) as caught:
        _generate(tmp_path, "ray.sqlite", requests, settings)
    assert caught.value.code == E_RAY_WORKERS_LOST and "lost their Ray worker 2 times" in caught.value.message
    begun, done, _ = factory.events()
    assert begun[str(victim)] == 2 and str(victim) not in done
    with CompletionCache(tmp_path / "ray.sqlite") as cache:
        assert len(cache) == len(done) > 0  # every answer that arrived was committed


@pytest.mark.slow
def test_a_node_killed_midway_loses_nothing(tmp_path, cluster, requests):
    one, _ = _generate(tmp_path, "one.sqlite", requests)
    third = cluster.add_node(1)
    factory, made = LoggedFactory(tmp_path / "log.txt", delay_s=0.03), []
    settings = _ray_settings(cluster, factory, made, workers=3)
    killed = threading.Event()

    def kill_once_all_three_answer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(factory.events()[2]) < 3:
            time.sleep(0.05)
        cluster.kill_node(third)
        killed.set()

    killer = threading.Thread(target=kill_once_all_three_answer, daemon=True)
    killer.start()
    try:
        on_ray, cached = _generate(tmp_path, "ray.sqlite", requests, settings)
    finally:
        killer.join(timeout=70)
    report = made[0].ray_report
    assert killed.is_set() and len(report.nodes) == 3 and report.lost >= 1
    assert _dump(on_ray) == _dump(one) and on_ray.stats.sent == cached == 300
    # nothing lost; a request went twice only if it was in flight on the lost node (its worker may even have
    # finished it, but the answer never came back, so it was not committed: the output has it once)
    begun, done, _ = factory.events()
    assert len(done) == 300 and sum(done.values()) - 300 <= sum(begun.values()) - 300 <= report.resent <= 1


def test_tvd_generate_on_ray_against_the_fault_server_equals_one_process(tmp_path, cluster):
    outputs = ("generated.jsonl", "rejects.jsonl", "filtered.jsonl", "failures.jsonl")
    with FaultServer(faults=faulty, hang_s=1.0, max_requests=3000, max_seconds=120) as server:
        teacher = fault_teacher_block(server.url)
        runs = {}
        for name, extra in (("one", []), ("ray", ["--ray", cluster.address])):
            server.reset()
            folder = tmp_path / name
            config = write_project(folder, teacher, {"requests": 100, "samples_per_request": 3})
            result = CliRunner().invoke(main, ["generate", str(config), "--no-progress", *extra])
            assert result.exit_code == 0, result.output
            assert max(server.answered.values()) == 1  # nothing answered was asked for twice
            always_failing = sum(1 for (p, s) in server.counts if faulty(p, s, 99) == "500")
            with CompletionCache(folder / "run" / "cache.sqlite") as cache:
                assert len(cache) == len(server.answered) == 300 - always_failing
            runs[name] = {out: _lines(folder / "run" / out) for out in outputs}
            assert result.output.count("generation: 300 completions planned") == 1
            assert ("engine: ray, 2 worker(s) on" in result.output) == (name == "ray")
    assert runs["ray"] == runs["one"] and len(runs["ray"]["failures.jsonl"]) == always_failing > 0
    kept = runs["ray"]["generated.jsonl"] + runs["ray"]["filtered.jsonl"]
    places = [(r["meta"]["request_id"], r["meta"]["sample"]) for r in kept]
    places += [(r["request_id"], r["sample"]) for r in runs["ray"]["rejects.jsonl"] + runs["ray"]["failures.jsonl"]]
    assert len(places) == len(set(places)) == 300  # every planned completion in exactly one output


# -- config, CLI and errors (no cluster) ------------------------------------------------------------------------


def test_the_engine_block_and_ray_address_are_validated(tmp_path):
    block = EngineConfig.model_validate({"address": "10.0.0.5:6379", "workers": 8, "endpoints": ["http://a/v1"]})
    assert block.backend == "ray" and block.cpus_per_worker == 1.0
    for bad in ({"address": "http://x:1"}, {"backend": "dask"}, {"workers": 0}):
        with pytest.raises(ValueError):
            EngineConfig.model_validate(bad)
    assert with_ray_address(block, "auto").workers == 8 and with_ray_address(None, "local").address == "local"
    assert engine_settings(load_config(write_project(tmp_path, {"backend": "openai"}, {})).teacher).dispatcher is None
    result = CliRunner().invoke(main, ["generate", str(tmp_path / "config.yaml"), "--ray", "nowhere"])
    assert result.exit_code == 1 and f"[{E_CONFIG_FIELD}]" in result.output and "--ray 'nowhere'" in result.output


def test_an_address_nobody_listens_at_is_one_clear_error_at_once():
    # in a fresh process: this one may be a cluster's driver already (connect() then uses that cluster)
    code = "from tvd.engine.ray_dispatch import connect\nconnect('127.0.0.1:1')"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and f"[{E_RAY_CONNECT}]" in result.stderr and "nothing answers" in result.stderr
    assert time.monotonic() - started < 30


def test_without_ray_the_engine_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(TvdError) as caught:
        connect("auto")
    assert caught.value.code == E_NO_RAY and "teaching-via-data[ray]" in (caught.value.fix or "")


# -- benchmark sweeps (tvd.jobs.sweep) ----------------------------------------------------------------------------

CELLS = '''
import os, time
from pathlib import Path

def cell(x, marker=None):
    """A sweep cell: x squared; with ``marker``, the first attempt's worker process dies (os._exit)."""
    if marker is not None and not Path(marker).exists():
        Path(marker).touch()
        os._exit(1)
    time.sleep(0.3)
    return x * x, os.getpid()
'''


def test_a_sweep_fans_out_over_the_cluster_and_retries_a_cell_whose_worker_died(tmp_path, cluster, monkeypatch):
    from tvd.jobs.sweep import sweep_pool

    (tmp_path / "cellmod.py").write_text(CELLS)
    monkeypatch.syspath_prepend(str(tmp_path))
    import cellmod  # only importable on the workers through sweep_pool's pythonpath (pickled by reference)

    for address in (None, cluster.address):  # processes, then Ray tasks: the same code
        with sweep_pool(address, 2, pythonpath=[tmp_path]) as pool:
            futures = {pool.submit(cellmod.cell, x): x for x in range(8)}
            if address is not None:  # a process pool breaks when a worker dies; Ray retries the task elsewhere
                futures[pool.submit(cellmod.cell, 10, marker=str(tmp_path / "died"))] = 10
            results = {futures[f]: f.result() for f in as_completed(futures)}
        expected = {x: x * x for x in range(8)} | ({10: 100} if address is not None else {})
        assert {x: r[0] for x, r in results.items()} == expected
        assert len({pid for _, pid in results.values()} - {os.getpid()}) >= 2  # ran in parallel, elsewhere
    assert (tmp_path / "died").exists()


@pytest.mark.slow
def test_the_embedded_model_loaded_in_each_actor_writes_what_one_process_writes(tmp_path, cluster, weather_seeds):
    from tvd.config import TeacherConfig
    from tvd.jobs.teacher import build_teacher

    pytest.importorskip("llama_cpp", reason="the embedded teacher needs the `embedded` extra")
    block = TeacherConfig(backend="llamacpp", options={"n_threads": 1, "batch_width": 4})
    requests = plan_requests(
        "GetWeather",
        weather_seeds,
        PlanSettings(requests=4, examples_per_prompt=2, seed=3),
        build_catalogue(weather_seeds),
    )
    params = replace(LINGUIST.default_params, max_tokens=24)
    runs = {}
    for name, engine in (("one", None), ("ray", EngineConfig(address=cluster.address, workers=2))):
        settings = engine_settings(block, engine)
        with build_teacher(block) as teacher, CompletionCache(tmp_path / f"{name}.sqlite") as cache:
            runs[name] = generate(
                LINGUIST,
                requests,
                teacher,
                cache,
                samples_per_request=2,
                params=params,
                progress=False,
                settings=settings,
            )
    assert _dump(runs["ray"]) == _dump(runs["one"]) and runs["ray"].stats.sent == 8
    assert runs["ray"].stats.engine["nodes"] == 2  # both actors loaded the model (one per node)


def test_tvd_clasp_on_ray_writes_what_one_process_writes(tmp_path, cluster):
    from pizza_cases import MISS, NEGATED, ORDERED, SWAP, write_catalogs
    from test_clasp_cli import _echo_target

    data = tmp_path / "pizza"
    write_catalogs(data / "catalogs")
    lines = [json.dumps(case) for case in (ORDERED, SWAP, NEGATED, MISS)]
    (data / "PIZZA_dev.16_shots.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    outputs = {}
    with FaultServer(answer=_echo_target, max_seconds=60) as server:
        teacher = ["--teacher", "openai", "--teacher-option", f"base_url={server.url}", "--teacher-option",
                   "model=test-model"]  # fmt: skip
        for name, extra in (("one", []), ("ray", ["--ray", cluster.address])):
            out = tmp_path / name
            argv = ["clasp", "--strategy", "rs", "--data", str(data), "--out", str(out), "-n", "20", *teacher, *extra]
            result = CliRunner().invoke(main, [*argv, "--no-progress"])
            assert result.exit_code == 0, result.output
            assert "20 valid" in result.output
            outputs[name] = (out / "generated.jsonl").read_text(encoding="utf-8")
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
            assert ("engine" in summary["stats"]) == (name == "ray")
    assert outputs["ray"] == outputs["one"] and len(outputs["one"].splitlines()) == 20
