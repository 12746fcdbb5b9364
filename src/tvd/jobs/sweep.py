"""Fanning independent jobs (benchmark cells: a student training, a generation) out over processes or a Ray cluster.

:func:`sweep_pool` gives a :class:`concurrent.futures.Executor` either way, so a sweep written for
``ProcessPoolExecutor`` (submit, then ``as_completed``) runs on Ray unchanged: :class:`RayExecutor` submits each
call as a Ray task reserving ``cpus_per_task`` CPUs and hands back the task's ``ObjectRef.future()``.  Results come
back to the caller, which merges and writes them (one writer, as before).  A task whose worker process or node dies
is retried by Ray (``max_retries``); an exception raised by the job itself is not retried and comes out of
``future.result()`` as it would from a process pool.

The job function and its arguments are pickled to the workers (a script's own functions by value, through Ray's
cloudpickle); the modules they import must be importable there: ``pythonpath`` (a benchmark script's folder, say)
is put on the workers' ``PYTHONPATH``.  Files the jobs read and write (caches, records) must be on a file system
every node sees; on this machine's local cluster they are.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tvd.engine.ray_dispatch import connect


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return fn(*args, **kwargs)


class RayExecutor(concurrent.futures.Executor):
    """Runs each submitted call as a Ray task on the cluster at ``address`` (joined on creation; E373 / E374).

    ``cpus_per_task``: what each task reserves (a CRF training: 1).  ``max_retries``: retries of a task whose worker
    died.  ``pythonpath``: folders put on the workers' ``PYTHONPATH``."""

    def __init__(
        self, address: str, *, cpus_per_task: float = 1.0, max_retries: int = 3, pythonpath: Sequence[Path] = ()
    ) -> None:
        self.ray = connect(address)
        options: dict[str, Any] = {"num_cpus": cpus_per_task, "max_retries": max_retries, "retry_exceptions": False}
        if pythonpath:
            paths = [str(Path(p).resolve()) for p in pythonpath]
            inherited = os.environ.get("PYTHONPATH")
            options["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join([*paths, *filter(None, [inherited])])}}
        self._remote = self.ray.remote(_call).options(**options)
        self._refs: list[Any] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        ref = self._remote.remote(fn, args, kwargs)
        self._refs.append(ref)
        return ref.future()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for ref in self._refs:
                self.ray.cancel(ref)
        if wait and not cancel_futures:
            self.ray.wait(self._refs, num_returns=len(self._refs), fetch_local=False)
        self._refs = []


@contextmanager
def sweep_pool(
    ray_address: str | None,
    workers: int,
    *,
    cpus_per_task: float = 1.0,
    pythonpath: Sequence[Path] = (),
) -> Iterator[concurrent.futures.Executor]:
    """``ProcessPoolExecutor(workers)`` when ``ray_address`` is None, else a :class:`RayExecutor` on that cluster
    (as wide as the cluster's CPUs allow; ``workers`` is then unused).  Leaving the block waits for the jobs."""
    if ray_address is None:
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
            yield pool
        return
    executor = RayExecutor(ray_address, cpus_per_task=cpus_per_task, pythonpath=pythonpath)
    try:
        yield executor
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
