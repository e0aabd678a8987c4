"""The whole system on one machine: what `make up` runs and what the end-to-end tests start.

Infrastructure the environment does not name is embedded (NATS, PostgreSQL, an SMTP sink), each
service is migrated and then run as its own process (`devstack.services`), and everything is
stopped in the reverse order. Which parts are embedded and what each service is given are
decided by two pure functions in `devstack.config`, so they can be tested alone.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import secrets
import subprocess
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Self

from rich.console import Console

from devstack.config import (
    API_ENV_FILE,
    API_KEY_FILE,
    API_SERVICE,
    DEFAULT_WORKSPACE,
    SERVICES,
    SESSION_SECRET_FILE,
    Endpoints,
    StackConfig,
    display_name,
    plan_stack,
    service_environ,
)
from devstack.errors import StackError
from devstack.nats import EmbeddedNats
from devstack.ports import LOOPBACK, free_port, free_ports, is_listening
from devstack.postgres import EmbeddedPostgres
from devstack.services import ServiceExit, Supervisor, command
from devstack.smtp_sink import SmtpSink

# Imported from here by the tests, the benchmarks and `make up`, with the stack itself.
__all__ = ["SERVICES", "ServiceExit", "Stack", "StackConfig", "StackError", "display_name"]


def _write_private(path: Path, text: str) -> None:
    """Written whole under a temporary name, readable by the owner only: a credential."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    tmp.replace(path)


class Stack:
    """The infrastructure and the services, started together and stopped in reverse order.

    Use as a context manager, or call `start()` and then `stop()` (also after a failed start).
    Only one stack may use a data folder at a time.
    """

    def __init__(self, config: StackConfig, *, console: Console | None = None) -> None:
        self.config = config
        self.data_dir = config.data_dir.expanduser().resolve()
        self._console = console if console is not None else Console()
        self._exit = ExitStack()
        self._supervisor = Supervisor(config, self._console, http_port=self.http_port)
        self._endpoints: Endpoints | None = None
        self._api_key: str | None = None
        # The embedded parts, None where the environment names a server of its own.
        self.postgres: EmbeddedPostgres | None = None
        self.nats: EmbeddedNats | None = None
        self.smtp_sink: SmtpSink | None = None

    # -- what a started stack offers -----------------------------------------------------

    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            raise StackError("the stack is not started")
        return self._endpoints

    @property
    def nats_url(self) -> str:
        return self.endpoints.nats_url

    @property
    def maildir(self) -> Path | None:
        """The sink's Maildir (messages land in its `new/`), or None with an external SMTP."""
        return self.endpoints.maildir

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.config.api_port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def dashboard_url(self) -> str:
        return f"{self.base_url}/"

    @property
    def api_key(self) -> str:
        if self._api_key is None:
            raise StackError(f"no API key: the stack is not started or runs no {API_SERVICE}")
        return self._api_key

    def service_env(self, module: str) -> Mapping[str, str]:
        """The environment a service was started with."""
        return self._supervisor.environs[module]

    def database_url(self, module: str) -> str:
        return self.endpoints.database_urls[module]

    def http_port(self, module: str) -> int:
        """The port a service serves HTTP on: the API's, or another's health and metrics."""
        if module == API_SERVICE:
            return self.config.api_port
        return self.endpoints.http_ports[module]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start everything and return once every service listens on its HTTP port."""
        if self._endpoints is not None:
            raise StackError("the stack is already started")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        # The services run in their own sessions and would outlive an interpreter that exits
        # without stopping them. Registered last, so it runs before the parts' own hooks.
        atexit.register(self.stop)

    def stop(self) -> None:
        """Stop the services, then the SMTP sink, NATS and PostgreSQL. Idempotent."""
        atexit.unregister(self.stop)
        try:
            self._exit.close()
        finally:
            self._endpoints = None
            self._api_key = None
            self.postgres = self.nats = None
            self.smtp_sink = None

    # -- the services' processes, and the faults a crash test injects: see `Supervisor` -----

    def pid(self, module: str) -> int:
        return self._supervisor.pid(module)

    def wait(self, timeout: float | None = None) -> ServiceExit | None:
        return self._supervisor.wait(timeout)

    def exited(self) -> list[ServiceExit]:
        return self._supervisor.exited()

    def kill_service(self, module: str) -> None:
        self._supervisor.kill_service(module)

    def stop_service(self, module: str, timeout: float | None = None) -> bool:
        return self._supervisor.stop_service(module, timeout)

    def restart_service(self, module: str) -> None:
        self._supervisor.restart_service(module)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals -----------------------------------------------------------------------

    def _start(self) -> None:
        config = self.config
        plan = plan_stack(config.environ, config.services)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        if API_SERVICE in plan.services and is_listening(LOOPBACK, config.api_port):
            raise StackError(f"port {config.api_port} is already in use; choose another API port")

        # Started in this order so that the ExitStack stops them in the reverse one: services,
        # sink, NATS, PostgreSQL.
        database_urls = dict(plan.database_urls)
        if plan.embed_postgres:
            postgres = self._exit.enter_context(EmbeddedPostgres(self.data_dir / "pg"))
            self.postgres = postgres
            for module in plan.services:
                if module not in database_urls:
                    postgres.ensure_database(module)
                    database_urls[module] = postgres.uri(module)

        if plan.nats_url is None:
            self.nats = self._exit.enter_context(EmbeddedNats(self.data_dir / "nats"))
            nats_url = self.nats.url
        else:
            nats_url = plan.nats_url

        maildir: Path | None = None
        if plan.smtp is None:
            maildir = self.data_dir / "maildir"
            sink = self._exit.enter_context(SmtpSink(LOOPBACK, free_port(), maildir))
            self.smtp_sink = sink
            smtp_host, smtp_port = sink.host, sink.port
        else:
            smtp_host, smtp_port = plan.smtp

        others = [m for m in plan.services if m != API_SERVICE]
        self._endpoints = Endpoints(
            nats_url=nats_url,
            database_urls=database_urls,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            maildir=maildir,
            api_port=config.api_port,
            http_ports=dict(zip(others, free_ports(len(others)), strict=True)),
        )
        self._exit.callback(self._supervisor.stop_all)
        for module in plan.services:
            env = service_environ(
                module, self._endpoints, inherited=config.environ, extra=config.extra_env,
                stop_grace=config.stop_grace,
            )
            if module == API_SERVICE:
                if not env.get("CAMPAIGN_API_SESSION_SECRET"):
                    env["CAMPAIGN_API_SESSION_SECRET"] = self._session_secret()
                _write_private(self.data_dir / API_ENV_FILE,
                               f"CAMPAIGN_API_DATABASE_URL='{database_urls[module]}'\n")
            self._supervisor.environs[module] = env
            self._supervisor.migrate(module, env)
            if module == API_SERVICE:
                self._api_key = self._load_or_create_api_key(env)
            self._supervisor.spawn(module, env)
        self._supervisor.wait_until_listening()

    def _lock_data_dir(self) -> None:
        # Two stacks on one folder would share PostgreSQL and fight over the NATS store.
        lock = self._exit.enter_context((self.data_dir / ".lock").open("w"))
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackError(f"another stack is running on {self.data_dir}") from None

    def _load_or_create_api_key(self, env: Mapping[str, str]) -> str:
        path = self.data_dir / API_KEY_FILE
        if path.exists() and (key := path.read_text().strip()):
            return key
        result = subprocess.run(
            command(API_SERVICE, "create-key", "--workspace", DEFAULT_WORKSPACE),
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if result.returncode != 0 or not lines:
            raise StackError(
                f"{display_name(API_SERVICE)} create-key exited with code {result.returncode}"
                f" and printed no key\n{result.stdout}{result.stderr}"
            )
        key = lines[-1]
        _write_private(path, key + "\n")
        return key

    def _session_secret(self) -> str:
        path = self.data_dir / SESSION_SECRET_FILE
        if path.exists() and len(secret := path.read_text().strip()) >= 32:
            return secret
        secret = secrets.token_urlsafe(32)
        _write_private(path, secret + "\n")
        return secret

