"""A real multi-node Ray cluster on this machine (127.0.0.1), for the tests and benchmarks of the Ray engine.

:class:`LocalCluster` runs ``ray start --head --block`` and one ``ray start --address=... --block`` per extra
node, each a process of its own with a bounded number of CPUs, every port chosen free (so two clusters, or
another user's, do not collide) and a private temporary folder; this process joins as the driver.  ``--block``
keeps each node's Ray processes children of the one process started here, so :meth:`LocalCluster.stop` ends
exactly them (SIGTERM, SIGKILL after a grace period) and :meth:`LocalCluster.kill_node` can kill one node as a
crash would.  Node failures are detected in about a second (short GCS health checks) instead of Ray's default
tens of seconds.  Token authentication is off (``RAY_AUTH_MODE=disabled``, set in this process too): the cluster is
a throwaway one that lives as long as a test or a benchmark, not one to leave running on a shared network.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tvd.engine.ray_dispatch import import_ray

#: GCS health checks for a local cluster: a dead node is declared dead after ~3 x 300 ms
HEALTH_CHECKS = {
    "RAY_health_check_initial_delay_ms": "500",
    "RAY_health_check_period_ms": "300",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    """One node process (``ray start --block``) and its log."""

    process: subprocess.Popen[bytes]
    log: Path
    cpus: int


class LocalCluster:
    """A head node and ``len(cpus) - 1`` more nodes (``cpus[i]`` CPUs each) on 127.0.0.1; a context manager.

    ``address`` is the GCS address (``127.0.0.1:PORT``) to give ``engine.address`` / ``--ray``."""

    def __init__(self, cpus: tuple[int, ...] = (1, 1), *, start_timeout_s: float = 120.0) -> None:
        if not cpus or min(cpus) < 0:
            raise ValueError("cpus: one entry per node (the head first), each >= 0")
        self.cpus = cpus
        self.start_timeout_s = start_timeout_s
        self.ray = import_ray()
        self.root = Path(tempfile.mkdtemp(prefix="tvdray-", dir="/tmp"))  # short: Ray's socket paths are bounded
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[Node] = []
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", **HEALTH_CHECKS}

    def _start(self, name: str, cpus: int, args: list[str]) -> Node:
        ray_cli = str(Path(sys.executable).with_name("ray"))
        ports = [
            f"--{option}={free_port()}"
            for option in (
                "dashboard-agent-listen-port",
                "dashboard-agent-grpc-port",
                "runtime-env-agent-port",
                "metrics-export-port",
            )
        ]
        command = [ray_cli, "start", "--block", f"--num-cpus={cpus}", "--num-gpus=0", *args, *ports]
        command += ["--node-ip-address=127.0.0.1", "--disable-usage-stats"]
        log = self.root / f"{name}.log"
        with log.open("wb") as out:  # ray start's daemons inherit it: never a pipe, which would never close
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        node = Node(process, log, cpus)
        self.nodes.append(node)
        return node

    def _wait_for_port(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            head = self.nodes[0]
            if head.process.poll() is not None:
                raise RuntimeError(f"the Ray head exited:\n{head.log.read_text()[-3000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head did not listen within {self.start_timeout_s:.0f} s")
            time.sleep(0.2)

    def alive_nodes(self) -> int:
        return sum(1 for node in self.ray.nodes() if node["Alive"])

    def wait_for_nodes(self, count: int) -> None:
        """Block until ``count`` nodes are alive in the cluster (this process must be its driver)."""
        deadline = time.monotonic() + self.start_timeout_s
        while self.alive_nodes() != count:
            for node in self.nodes:
                if node.process.poll() is not None and node.process.returncode not in (0, -signal.SIGKILL):
                    raise RuntimeError(f"a Ray node exited:\n{node.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.alive_nodes()} Ray nodes alive after {self.start_timeout_s:.0f} s")
            time.sleep(0.2)

    def start(self) -> LocalCluster:
        """Start the head, join it from this process, start the other nodes, wait until all are alive."""
        head_args = [
            "--head",
            f"--port={self.port}",
            f"--temp-dir={self.root}",
            "--include-dashboard=false",
            f"--dashboard-port={free_port()}",
        ]
        # no token authentication on this loopback test cluster, for the nodes and this driver alike (with the mode
        # unset, a ~/.ray/auth_token left by an earlier `ray.init()` turns it on for some processes only)
        os.environ["RAY_AUTH_MODE"] = "disabled"
        self._start("head", self.cpus[0], head_args)
        self._wait_for_port()
        for cpus in self.cpus[1:]:
            self.add_node(cpus, wait=False)
        self.ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
        self.wait_for_nodes(len(self.cpus))
        return self

    def add_node(self, cpus: int = 1, *, wait: bool = True) -> Node:
        """Start one more node joining the head (``wait``: until the cluster counts it alive)."""
        node = self._start(f"node{len(self.nodes)}", cpus, [f"--address={self.address}"])
        if wait:
            self.wait_for_nodes(sum(1 for n in self.nodes if n.process.poll() is None))
        return node

    def kill_node(self, node: Node) -> None:
        """Kill ``node``'s processes at once (SIGKILL to its process group), as a crashed machine would go."""
        os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait(timeout=30)

    def stop(self) -> None:
        """Leave the cluster and end every node process this cluster started (the head last)."""
        if self.ray.is_initialized():
            self.ray.shutdown()
        for node in reversed(self.nodes):
            if node.process.poll() is None:
                node.process.terminate()
                try:
                    node.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(node.process.pid, signal.SIGKILL)
                    node.process.wait(timeout=20)
            # children that outlived their node's ray start (it forwards SIGTERM; a SIGKILL'd one cannot)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: Any) -> None:
        self.stop()
