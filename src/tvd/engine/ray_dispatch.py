"""The Ray engine backend: teacher calls run on a pool of Ray actors, everything else stays in the driver.

:class:`RayDispatcher` is the :class:`~tvd.engine.dispatch.Dispatcher` with one method replaced, the teacher call
(:meth:`~tvd.engine.dispatch.Dispatcher._send`): a batch of requests goes to an idle :class:`TeacherWorker` actor,
which holds its own teacher, built in the actor by a picklable ``factory(worker_index)`` (an embedded model is
loaded once per actor; an HTTP client is one per actor, optionally each on its own endpoint).  The driver keeps
the scheduling (budget, rate limits, retries with backoff, adaptive concurrency) and awaits each actor call as an
``ObjectRef`` in its asyncio loop; each answer goes to ``on_done`` there, so the driver stays the single writer of
``cache.sqlite`` and of the outputs, and resume, ``failures.jsonl``, the budget stop and the summary are those of
one process.  Jobs are taken in order, batch by batch, exactly as in one process, so the seeds and batches a
teacher sees (and a deterministic teacher's outputs) are the same.

A worker that dies mid-request (its process killed or crashed, its node lost) loses nothing: the driver sees the
call fail with a Ray actor error, drops that actor, starts a replacement (bounded) and sends the same requests to
another idle worker; a request cut off more than ``max_worker_deaths`` times stops the run with
E_RAY_WORKERS_LOST (what was answered until then is in the cache, as on any stop).  An answer is committed once,
when it arrives, so nothing answered is sent again and nothing appears twice.

Why actors awaited from the dispatcher's own loop rather than ``ray.util.ActorPool`` or Ray Data
``map_batches`` (``bench/ray_sweep.py`` measures all three): ActorPool is synchronous, gives one task per actor
(an HTTP teacher wants many in flight per client), and a dead actor's task is not resubmitted; Ray Data takes a
fixed dataset, so a budget that stops sending midway, per-request retries decided by the driver and results
committed one by one as they arrive would have to be rebuilt around it.  The actor pool here is the same idea as
ActorPool's idle list, made asynchronous, with slots per actor and replacement of dead actors.

``ray`` is an optional dependency (the ``ray`` extra): it is imported only when a Ray engine runs (E_NO_RAY
otherwise); an address that cannot be joined is E_RAY_CONNECT.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tvd.engine.dispatch import Dispatcher, EngineSettings, Job, Outcome, send_requests, teacher_calls
from tvd.errors import E_NO_RAY, E_RAY_CONNECT, E_RAY_WORKERS_LOST, TvdError
from tvd.teachers.base import Completion, GenerationParams, Teacher, TeacherError

#: worker index -> a teacher; pickled to the actors, so a module-level function, a partial or a frozen dataclass
TeacherFactory = Callable[[int], Teacher]

#: what ``address`` may be besides ``host:port`` and ``ray://host:port``
SPECIAL_ADDRESSES = ("auto", "local")


@dataclass(frozen=True)
class RaySettings:
    """Where and how wide the Ray engine runs.

    ``address``: ``auto`` (the cluster ``ray start`` runs on this machine, or ``RAY_ADDRESS``), ``local`` (start a
    private Ray in this process), ``host:port`` (a cluster's GCS) or ``ray://host:port`` (Ray Client).
    ``workers``: teacher actors.  ``cpus_per_worker`` / ``gpus_per_worker``: what each reserves (an embedded model
    uses ``cpus_per_worker`` threads).  ``max_worker_deaths``: times one request may be cut off by its worker
    dying before the run stops with E_RAY_WORKERS_LOST.  ``start_timeout_s``: how long to wait for a first worker
    (and, later, for any live worker) before giving up.
    """

    address: str = "auto"
    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_worker_deaths: int = 3
    start_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.workers < 1 or self.cpus_per_worker < 0 or self.gpus_per_worker < 0 or self.max_worker_deaths < 0:
            raise ValueError("workers must be >= 1; cpus, gpus and max_worker_deaths >= 0")


@dataclass
class RayReport:
    """What the Ray side of one dispatch did: actors started (replacements included), actors lost, requests
    sent again after their worker died, and the nodes the workers ran on."""

    started: int = 0
    lost: int = 0
    resent: int = 0
    nodes: set[str] = field(default_factory=set)


def import_ray() -> Any:
    """The ``ray`` module, or E_NO_RAY with how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise TvdError(
            E_NO_RAY,
            f"the Ray engine backend needs ray, which is not importable ({exc})",
            fix="pip install 'teaching-via-data[ray]' (ray==2.60.0), or remove the engine block / --ray",
        ) from exc
    return ray


def connect(address: str) -> Any:
    """Join the Ray cluster at ``address`` (see :class:`RaySettings`) unless this process already is in one (then
    that one is used); returns ``ray``.  A cluster that cannot be reached is E_RAY_CONNECT."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address == "local":
        options["include_dashboard"] = False
    else:
        options["address"] = address
        _probe(address)
    try:
        ray.init(**options)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError, grpc errors: all "cannot join"
        raise TvdError(
            E_RAY_CONNECT,
            f"cannot join the Ray cluster at {address!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
            fix="start one (`ray start --head`), give its address (host:port or ray://host:port), "
            "or use address: local for a Ray inside this process",
        ) from exc
    return ray


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast (E_RAY_CONNECT) when nothing listens at a ``host:port`` address: Ray itself waits a minute or
    more for a cluster that is not there."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto": Ray finds the local cluster itself, and says at once when there is none
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise TvdError(
            E_RAY_CONNECT,
            f"nothing answers at the Ray address {address!r} ({exc.strerror or exc})",
            fix="start the cluster (`ray start --head --port=PORT`) or correct the address (host:port of the head's "
            "GCS, or ray://host:port of its client server)",
        ) from exc


def _lost_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """The Ray exceptions that mean "the worker is gone", not "the teacher failed"."""
    e = ray.exceptions
    return (e.RayActorError, e.WorkerCrashedError, e.NodeDiedError, e.ObjectLostError)


# -- the actor ---------------------------------------------------------------------------------------------


def _encode_error(exc: BaseException) -> tuple[Any, ...]:
    if isinstance(exc, TeacherError):
        return ("teacher_error", str(exc), exc.reason, exc.retryable, exc.retry_after, exc.status)
    if isinstance(exc, TvdError):
        return ("tvd_error", exc.code, exc.message, exc.file, exc.line, exc.fix)
    raise exc


def _decode(answer: tuple[Any, ...]) -> Any:
    """An actor's answer back into completions, or the exception it stands for (raised)."""
    tag, *rest = answer
    if tag == "ok":
        return rest[0]
    if tag == "teacher_error":
        message, reason, retryable, retry_after, status = rest
        raise TeacherError(message, reason=reason, retryable=retryable, retry_after=retry_after, status=status)
    if tag == "tvd_error":
        code, message, file, line, fix = rest
        raise TvdError(code, message, file=file, line=line, fix=fix)
    if tag == "build_error":
        raise RuntimeError(f"a Ray teacher worker could not build its teacher: {rest[0]}")
    raise RuntimeError(f"unknown answer from a Ray teacher worker: {tag!r}")


class TeacherWorker:
    """A Ray actor's body: one teacher, built here by ``factory(index)``, called as the dispatcher calls one.

    Teacher errors come back as plain tuples (a :class:`TeacherError` or :class:`TvdError` is re-raised in the
    driver, where the retry policy lives); any other exception is raised through Ray and stops the run."""

    def __init__(self, factory: TeacherFactory, index: int) -> None:
        self.index = index
        self.error: tuple[Any, ...] | None = None
        self.teacher: Teacher | None = None
        try:
            self.teacher = factory(index)
        except (TeacherError, TvdError) as exc:
            self.error = _encode_error(exc)
            return
        except Exception as exc:  # said once by the driver, instead of the actor dying and being replaced in vain
            self.error = ("build_error", f"{type(exc).__name__}: {exc}")
            return
        self.inline, self.batch_call, _ = teacher_calls(self.teacher)

    def ready(self) -> tuple[Any, ...]:
        """``("ok", {pid, node, fingerprint})`` once the teacher is built, or the error that building it raised."""
        if self.error is not None:
            return self.error
        import ray

        assert self.teacher is not None
        node = ray.get_runtime_context().get_node_id()
        return ("ok", {"pid": os.getpid(), "node": node, "fingerprint": self.teacher.fingerprint()})

    async def call(self, requests: list[tuple[str, GenerationParams]]) -> tuple[Any, ...]:
        assert self.teacher is not None
        try:
            return ("ok", await send_requests(self.teacher, requests, self.inline, self.batch_call))
        except (TeacherError, TvdError) as exc:
            return _encode_error(exc)

    def close(self) -> None:
        if self.teacher is not None:
            self.teacher.close()


@dataclass(eq=False)
class _Worker:
    index: int
    handle: Any
    alive: bool = True


class _Pool:
    """Idle worker slots in an asyncio queue (``slots`` per actor); dead actors are dropped and replaced."""

    def __init__(self, ray: Any, factory: TeacherFactory, settings: RaySettings, slots: int, report: RayReport):
        self.ray, self.factory, self.settings, self.slots, self.report = ray, factory, settings, slots, report
        self.remote = ray.remote(TeacherWorker).options(
            num_cpus=settings.cpus_per_worker,
            num_gpus=settings.gpus_per_worker,
            max_restarts=0,
            max_task_retries=0,
            max_concurrency=max(1, slots),
        )
        self.idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self.workers: list[_Worker] = []
        self.pending: set[asyncio.Task[None]] = set()
        self.replacements = settings.workers * (settings.max_worker_deaths + 1)
        self.fatal: BaseException | None = None

    def _spawn(self, index: int) -> None:
        worker = _Worker(index, self.remote.remote(self.factory, index))
        self.workers.append(worker)
        self.report.started += 1
        task = asyncio.ensure_future(self._ready(worker))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _ready(self, worker: _Worker) -> None:
        try:
            answer = await worker.handle.ready.remote()
            info = _decode(answer)
        except (TvdError, TeacherError, RuntimeError) as exc:  # the teacher could not be built: stop
            self.fatal = exc
            await self.idle.put(worker)  # wakes a waiting acquire, which raises it
            return
        except _lost_errors(self.ray):
            self.lose(worker)
            return
        self.report.nodes.add(info["node"])
        for _ in range(self.slots):
            self.idle.put_nowait(worker)

    async def start(self) -> None:
        for index in range(self.settings.workers):
            self._spawn(index)

    async def acquire(self) -> _Worker:
        deadline = time.monotonic() + self.settings.start_timeout_s
        while True:
            if self.fatal is not None:
                raise self.fatal
            if not self.pending and not any(w.alive for w in self.workers):
                raise self._all_lost()
            try:
                worker = await asyncio.wait_for(self.idle.get(), timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise TvdError(
                    E_RAY_WORKERS_LOST,
                    f"no Ray teacher worker became available in {self.settings.start_timeout_s:.0f} s "
                    f"({sum(w.alive for w in self.workers)} of {self.settings.workers} alive; each needs "
                    f"{self.settings.cpus_per_worker:g} CPU(s), {self.settings.gpus_per_worker:g} GPU(s))",
                    fix="check `ray status` for free resources, or lower engine.workers / cpus_per_worker",
                ) from None
            if self.fatal is not None:
                raise self.fatal
            if worker.alive:
                return worker

    def release(self, worker: _Worker) -> None:
        if worker.alive:
            self.idle.put_nowait(worker)

    def lose(self, worker: _Worker) -> None:
        """``worker`` died: drop it (its queued slots are skipped) and start a replacement while allowed."""
        if not worker.alive:
            return
        worker.alive = False
        self.report.lost += 1
        self.ray.kill(worker.handle, no_restart=True)
        if self.replacements > 0:
            self.replacements -= 1
            self._spawn(worker.index)

    def _all_lost(self) -> TvdError:
        return TvdError(
            E_RAY_WORKERS_LOST,
            f"every Ray teacher worker died ({self.report.lost} lost, no replacement left)",
            fix="see the workers' logs (`ray logs`), e.g. for out-of-memory kills; what was answered is cached: "
            "run again to continue",
        )

    def close(self) -> None:
        for task in self.pending:
            task.cancel()
        for worker in self.workers:
            if worker.alive:
                self.ray.kill(worker.handle, no_restart=True)


class RayDispatcher(Dispatcher):
    """A :class:`~tvd.engine.dispatch.Dispatcher` whose teacher calls run on Ray actors (module docstring).

    ``teacher`` is the driver's own copy: it gives cache keys and token counts, and says how the actors' copies
    are called (concurrent or not, batched or not); it sends nothing.  In flight: ``settings.concurrency`` (or the
    adaptive ceiling) for a concurrent teacher, shared by the actors; one call per actor otherwise."""

    def __init__(
        self,
        teacher: Teacher,
        settings: EngineSettings | None = None,
        *,
        on_done: Callable[[Job, Outcome], None],
        budget_usd: float | None = None,
        rng: Any = None,
        ray_settings: RaySettings,
        factory: TeacherFactory,
    ) -> None:
        super().__init__(teacher, settings, on_done=on_done, budget_usd=budget_usd, rng=rng)
        self.ray_settings = ray_settings
        self.factory = factory
        self.ray_report = RayReport()
        self._ray: Any = None
        self._pool: _Pool | None = None

    def run(self, jobs: Sequence[Job]) -> Any:
        if jobs:
            self._ray = connect(self.ray_settings.address)
        return super().run(jobs)

    def _workers(self) -> int:
        return super()._workers() if self.teacher.concurrent else self.ray_settings.workers

    def _limit(self) -> int:
        return super()._limit() if self.teacher.concurrent else self.ray_settings.workers

    async def _run(self, jobs: list[Job]) -> None:
        slots = math.ceil(self._workers() / self.ray_settings.workers) if self.teacher.concurrent else 1
        self._pool = _Pool(self._ray, self.factory, self.ray_settings, slots, self.ray_report)
        await self._pool.start()
        try:
            await super()._run(jobs)
        finally:
            self._pool.close()
            r = self.ray_report
            self.report.engine = {
                "backend": "ray",
                "workers": self.ray_settings.workers,
                "nodes": len(r.nodes),
                "workers_lost": r.lost,
                "resent": r.resent,
            }

    async def _send(self, requests: list[tuple[str, GenerationParams]]) -> list[Completion]:
        assert self._pool is not None
        lost = _lost_errors(self._ray)
        deaths = 0
        while True:
            worker = await self._pool.acquire()
            try:
                answer = await worker.handle.call.remote(requests)
            except lost as exc:
                self._pool.lose(worker)
                deaths += 1
                if deaths > self.ray_settings.max_worker_deaths:
                    raise TvdError(
                        E_RAY_WORKERS_LOST,
                        f"{len(requests)} request(s) lost their Ray worker {deaths} times "
                        f"(engine.max_worker_deaths: {self.ray_settings.max_worker_deaths}); last: "
                        f"{type(exc).__name__}",
                        fix="see the workers' logs (`ray logs`), e.g. for out-of-memory kills; what was answered is "
                        "cached: run again to continue",
                    ) from exc
                self.ray_report.resent += len(requests)
                continue
            self._pool.release(worker)
            return _decode(answer)


def ray_dispatcher(ray_settings: RaySettings, factory: TeacherFactory) -> Callable[..., Dispatcher]:
    """What ``EngineSettings.dispatcher`` takes to run a generation on Ray (called like :class:`Dispatcher`)."""
    return partial(RayDispatcher, ray_settings=ray_settings, factory=factory)
