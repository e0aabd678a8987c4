"""The services' processes: each migrated and then run as its own `python -m <service> run`,
its output relayed with a coloured prefix, watched, and stopped; and the faults a crash test
injects one service at a time."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO

import structlog
from rich.console import Console
from rich.text import Text

from devstack.config import SERVICES, StackConfig, display_name
from devstack.errors import StackError
from devstack.ports import LOOPBACK, is_listening

log = structlog.get_logger(__name__)

_COLOURS: Mapping[str, str] = {
    "campaign_api": "cyan",
    "scheduler": "magenta",
    "content_generator": "yellow",
    "mailer": "green",
}
_NAME_WIDTH = max(len(module) for module in SERVICES)


@dataclass(frozen=True)
class ServiceExit:
    service: str
    returncode: int


@dataclass
class _Running:
    module: str
    process: subprocess.Popen[str]
    relay: threading.Thread


def _reap(process: subprocess.Popen[str], timeout: float, module: str) -> bool:
    """Wait for a service sent SIGTERM to exit, and kill it if it has not within `timeout`;
    True if it exited by itself."""
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("service did not stop in time, killing it", service=display_name(module))
        process.kill()
        process.wait()
        return False
    return True


def command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


class Supervisor:
    """The running services of one stack, in the order they were started."""

    def __init__(
        self, config: StackConfig, console: Console, *, http_port: Callable[[str], int]
    ) -> None:
        self.config = config
        self._console = console
        # Where each service listens once it is ready: decided by the stack when it starts.
        self.http_port = http_port
        self._running: list[_Running] = []
        # What each service was started with, and is started again with.
        self.environs: dict[str, dict[str, str]] = {}

    def pid(self, module: str) -> int:
        """The process id of a running service."""
        return self._find(module).process.pid

    def wait(self, timeout: float | None = None) -> ServiceExit | None:
        """Block until a service exits, and say which; None once `timeout` seconds pass.
        While the stack runs, any exit is a failure: services are meant to run until stopped."""
        if not self._running:
            raise StackError("no service is running")
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            for running in self._running:
                code = running.process.poll()
                if code is not None:
                    return ServiceExit(running.module, code)
            time.sleep(0.2)
        return None

    def exited(self) -> list[ServiceExit]:
        """The services that are no longer running, with their exit codes."""
        return [ServiceExit(r.module, code) for r in self._running
                if (code := r.process.poll()) is not None]

    # -- one service at a time: how a crash test takes a part away and brings it back ------
    # The stack never restarts a service by itself (`wait` reports an exit, and `make up`
    # then stops everything): whoever kills one starts it again with `restart_service`.

    def kill_service(self, module: str) -> None:
        """SIGKILL a service, as a crash would, and reap it."""
        process = self._find(module).process
        process.kill()
        process.wait()

    def stop_service(self, module: str, timeout: float | None = None) -> bool:
        """SIGTERM a service and wait for it to exit; True if it did within `timeout` (by
        default the stack's stop timeout), else it is killed and False is returned."""
        process = self._find(module).process
        process.terminate()
        return _reap(process, self.config.stop_timeout if timeout is None else timeout, module)

    def restart_service(self, module: str) -> None:
        """Start again a service that has exited (killed or stopped), with the environment it
        had, and return once it listens on its HTTP port."""
        running = self._find(module)
        if running.process.poll() is None:
            raise StackError(f"{display_name(module)} is still running")
        running.relay.join(timeout=5)
        self._running.remove(running)
        self.spawn(module, self.environs[module])
        self.wait_until_listening()

    def _find(self, module: str) -> _Running:
        for running in self._running:
            if running.module == module:
                return running
        raise StackError(f"{display_name(module)} is not part of the running stack")

    def _popen(self, module: str, env: Mapping[str, str], *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            command(module, *args),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            # Own session: Ctrl-C reaches only the stack, which stops the services in order.
            start_new_session=True,
        )

    def migrate(self, module: str, env: Mapping[str, str]) -> None:
        process = self._popen(module, env, "migrate")
        assert process.stdout is not None
        try:
            self._relay(module, process.stdout)
            code = process.wait()
        except BaseException:
            # In its own session, a migration is not reached by the Ctrl-C that got us here.
            process.kill()
            process.wait()
            raise
        if code != 0:
            raise StackError(f"{display_name(module)} migrate exited with code {code}")

    def spawn(self, module: str, env: Mapping[str, str]) -> None:
        process = self._popen(module, env, "run")
        assert process.stdout is not None
        relay = threading.Thread(
            target=self._relay, args=(module, process.stdout), name=f"relay-{module}", daemon=True
        )
        relay.start()
        self._running.append(_Running(module, process, relay))
        log.info("service started", service=display_name(module), pid=process.pid)

    def _relay(self, module: str, stream: IO[str]) -> None:
        prefix = Text(f"{display_name(module):>{_NAME_WIDTH}} | ", style=_COLOURS[module])
        for line in stream:
            # from_ansi keeps a child's own colours and never reads its text as rich markup.
            self._console.print(
                prefix + Text.from_ansi(line.rstrip("\n")), soft_wrap=True, highlight=False
            )

    def wait_until_listening(self) -> None:
        deadline = time.monotonic() + self.config.ready_timeout
        for running in self._running:
            port = self.http_port(running.module)
            while not is_listening(LOOPBACK, port):
                code = running.process.poll()
                if code is not None:
                    raise StackError(
                        f"{display_name(running.module)} exited with code {code} during start-up"
                    )
                if time.monotonic() > deadline:
                    raise StackError(
                        f"{display_name(running.module)} did not listen on port {port} within "
                        f"{self.config.ready_timeout:g} s"
                    )
                time.sleep(0.1)

    def stop_all(self) -> None:
        # First of all (the ExitStack's last callback): the services drain while NATS,
        # PostgreSQL and the sink still run, so what they finish is recorded and published.
        # All get SIGTERM at once so they shut down in parallel, within one shared deadline.
        running, self._running = self._running[::-1], []
        for service in running:
            if service.process.poll() is None:
                service.process.terminate()
        deadline = time.monotonic() + self.config.stop_timeout
        for service in running:
            _reap(service.process, max(0.0, deadline - time.monotonic()), service.module)
            log.info("service stopped", service=display_name(service.module),
                     returncode=service.process.returncode)
        for service in running:
            service.relay.join(timeout=5)
