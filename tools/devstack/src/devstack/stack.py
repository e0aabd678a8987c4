"""The whole system on one machine: what `make up` runs and what the end-to-end tests start.

Infrastructure the environment does not name is embedded (NATS, PostgreSQL, an SMTP sink), each
service is migrated and then run as its own `python -m <service> run` process, and their output
is relayed with a coloured prefix. Which parts are embedded and what each service is given are
decided by two pure functions, `plan_stack` and `service_environ`, so they can be tested alone.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self
from urllib.parse import urlsplit, urlunsplit

import structlog
from rich.console import Console
from rich.text import Text

from devstack.errors import DevstackError
from devstack.nats import EmbeddedNats
from devstack.ports import LOOPBACK, free_port, free_ports, is_listening
from devstack.postgres import EmbeddedPostgres
from devstack.smtp_sink import SmtpSink

log = structlog.get_logger(__name__)

API_SERVICE = "campaign_api"
SERVICES: tuple[str, ...] = (API_SERVICE, "scheduler", "content_generator", "mailer")
API_KEY_FILE = "api-key"
# Kept across restarts, so that a restart does not sign everyone out of the dashboard.
SESSION_SECRET_FILE = "session-secret"
# Where the API's database is, for campaign-api's own commands (`campaign-api create-key`) run
# beside a running stack: they read it from this folder.
API_ENV_FILE = "campaign-api.env"
DEFAULT_WORKSPACE = "default"

_COLOURS: Mapping[str, str] = {
    "campaign_api": "cyan",
    "scheduler": "magenta",
    "content_generator": "yellow",
    "mailer": "green",
}
_NAME_WIDTH = max(len(module) for module in SERVICES)


def env_prefix(module: str) -> str:
    """`content_generator` -> `CONTENT_GENERATOR`: the prefix of a service's own variables."""
    return module.upper()


def display_name(module: str) -> str:
    return module.replace("_", "-")


# Variables the stack decides for each service. They are removed from what a service inherits,
# so that it sees exactly one value: the one computed for it (never, say, another service's
# database URL or the API's PORT).
STACK_VARIABLES: frozenset[str] = frozenset(
    {"NATS_URL", "DATABASE_URL", "SMTP_HOST", "SMTP_PORT", "PORT", "DEV_MAILDIR"}
    | {f"{env_prefix(m)}_DATABASE_URL" for m in SERVICES}
    | {f"{env_prefix(m)}_HTTP_PORT" for m in SERVICES}
)


def _write_private(path: Path, text: str) -> None:
    """Written whole under a temporary name, readable by the owner only: a credential."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    tmp.replace(path)


class StackError(DevstackError):
    """The stack is misconfigured, or a part of it failed to start."""


@dataclass(frozen=True)
class StackPlan:
    """What the environment provides; everything else is embedded."""

    services: tuple[str, ...]
    nats_url: str | None
    database_urls: Mapping[str, str]
    smtp: tuple[str, int] | None

    @property
    def embed_postgres(self) -> bool:
        return any(module not in self.database_urls for module in self.services)


def with_database(url: str, dbname: str) -> str:
    """`url` with its path (the database name) replaced by `dbname`; the query is kept."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))


def plan_stack(environ: Mapping[str, str], services: Sequence[str] = SERVICES) -> StackPlan:
    """Decide which parts to embed from the environment.

    `NATS_URL` replaces the embedded NATS; `<SERVICE>_DATABASE_URL` gives one service its
    database, and `DATABASE_URL` gives every other service a database named after it on that
    server; `SMTP_HOST` (with `SMTP_PORT`, default 25) replaces the sink.
    """
    unknown = sorted(set(services) - set(SERVICES))
    if unknown:
        raise StackError(f"unknown services {unknown}; known: {list(SERVICES)}")
    # Always in the canonical order: the API first, as it creates the API key.
    services = [module for module in SERVICES if module in services]
    shared = environ.get("DATABASE_URL")
    database_urls: dict[str, str] = {}
    for module in services:
        own = environ.get(f"{env_prefix(module)}_DATABASE_URL")
        if own:
            database_urls[module] = own
        elif shared:
            database_urls[module] = with_database(shared, module)
    smtp_host, smtp_port = environ.get("SMTP_HOST"), environ.get("SMTP_PORT")
    if smtp_port and not smtp_host:
        raise StackError("SMTP_PORT is set without SMTP_HOST")
    try:
        smtp = (smtp_host, int(smtp_port or 25)) if smtp_host else None
    except ValueError:
        raise StackError(f"SMTP_PORT is not a port number: {smtp_port!r}") from None
    return StackPlan(
        services=tuple(services),
        nats_url=environ.get("NATS_URL") or None,
        database_urls=database_urls,
        smtp=smtp,
    )


@dataclass(frozen=True)
class Endpoints:
    """Where every part of a started stack is reached."""

    nats_url: str
    database_urls: Mapping[str, str]
    smtp_host: str
    smtp_port: int
    maildir: Path | None
    api_port: int
    http_ports: Mapping[str, int]


def service_environ(
    module: str,
    endpoints: Endpoints,
    *,
    inherited: Mapping[str, str],
    extra: Mapping[str, str],
    stop_grace: float = 20.0,
) -> dict[str, str]:
    """The environment of one service's processes: `inherited` less `STACK_VARIABLES`, then
    the stack's values for this service, then `extra` (which wins)."""
    prefix = env_prefix(module)
    env = {k: v for k, v in inherited.items() if k not in STACK_VARIABLES}
    env |= {
        "NATS_URL": endpoints.nats_url,
        f"{prefix}_DATABASE_URL": endpoints.database_urls[module],
        "SMTP_HOST": endpoints.smtp_host,
        "SMTP_PORT": str(endpoints.smtp_port),
        # Children write into a pipe: unbuffered, their lines are relayed as they happen.
        "PYTHONUNBUFFERED": "1",
        # What the stack waits for before it kills a service that is stopping.
        "SHUTDOWN_GRACE_SECONDS": f"{stop_grace:g}",
    }
    if module == API_SERVICE:
        env["PORT"] = str(endpoints.api_port)
    else:
        env[f"{prefix}_HTTP_PORT"] = str(endpoints.http_ports[module])
    if endpoints.maildir is not None:
        env["DEV_MAILDIR"] = str(endpoints.maildir)
    # Links in mail (unsubscribe, tracking) point at this stack's API unless told otherwise.
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{endpoints.api_port}")
    env |= extra
    return env


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    api_port: int = 8000
    # Read for the infrastructure overrides, and inherited by every service.
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # Added to every service's environment last, e.g. OPENROUTER_BASE_URL of a fake.
    extra_env: Mapping[str, str] = field(default_factory=dict)
    services: tuple[str, ...] = SERVICES
    # How long services get to listen on their HTTP port.
    ready_timeout: float = 60.0
    # Each service's SHUTDOWN_GRACE_SECONDS: after SIGTERM it finishes the work in hand (the
    # mailer its SMTP transactions) within this, while NATS, PostgreSQL and the sink still run.
    stop_grace: float = 20.0

    @property
    def stop_timeout(self) -> float:
        """How long a service gets to exit after SIGTERM before it is killed: its grace, then
        the relay's last publishing (up to 10 s), and a margin."""
        return self.stop_grace + 15.0


@dataclass(frozen=True)
class ServiceExit:
    service: str
    returncode: int


@dataclass
class _Running:
    module: str
    process: subprocess.Popen[str]
    relay: threading.Thread


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
        self._running: list[_Running] = []
        self._endpoints: Endpoints | None = None
        self._api_key: str | None = None
        self._environs: dict[str, dict[str, str]] = {}
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

    def pid(self, module: str) -> int:
        """The process id of a running service."""
        return self._find(module).process.pid

    def service_env(self, module: str) -> Mapping[str, str]:
        """The environment a service was started with."""
        return self._environs[module]

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
        try:
            process.wait(self.config.stop_timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            log.warning("service did not stop in time, killing it", service=display_name(module))
            process.kill()
            process.wait()
            return False
        return True

    def restart_service(self, module: str) -> None:
        """Start again a service that has exited (killed or stopped), with the environment it
        had, and return once it listens on its HTTP port."""
        running = self._find(module)
        if running.process.poll() is None:
            raise StackError(f"{display_name(module)} is still running")
        running.relay.join(timeout=5)
        self._running.remove(running)
        self._spawn(module, self._environs[module])
        self._wait_until_listening()

    def _find(self, module: str) -> _Running:
        for running in self._running:
            if running.module == module:
                return running
        raise StackError(f"{display_name(module)} is not part of the running stack")

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
        self._exit.callback(self._stop_services)
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
            self._environs[module] = env
            self._migrate(module, env)
            if module == API_SERVICE:
                self._api_key = self._load_or_create_api_key(env)
            self._spawn(module, env)
        self._wait_until_listening()

    def _lock_data_dir(self) -> None:
        # Two stacks on one folder would share PostgreSQL and fight over the NATS store.
        lock = self._exit.enter_context((self.data_dir / ".lock").open("w"))
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackError(f"another stack is running on {self.data_dir}") from None

    def _command(self, module: str, *args: str) -> list[str]:
        return [sys.executable, "-m", module, *args]

    def _popen(self, module: str, env: Mapping[str, str], *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self._command(module, *args),
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

    def _migrate(self, module: str, env: Mapping[str, str]) -> None:
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

    def _load_or_create_api_key(self, env: Mapping[str, str]) -> str:
        path = self.data_dir / API_KEY_FILE
        if path.exists() and (key := path.read_text().strip()):
            return key
        result = subprocess.run(
            self._command(API_SERVICE, "create-key", "--workspace", DEFAULT_WORKSPACE),
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

    def _spawn(self, module: str, env: Mapping[str, str]) -> None:
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

    def _wait_until_listening(self) -> None:
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

    def _stop_services(self) -> None:
        # First of all (the ExitStack's last callback): the services drain while NATS,
        # PostgreSQL and the sink still run, so what they finish is recorded and published.
        # All get SIGTERM at once so they shut down in parallel, within one shared deadline.
        running, self._running = self._running[::-1], []
        for service in running:
            if service.process.poll() is None:
                service.process.terminate()
        deadline = time.monotonic() + self.config.stop_timeout
        for service in running:
            name = display_name(service.module)
            try:
                code = service.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("service did not stop in time, killing it", service=name)
                service.process.kill()
                code = service.process.wait()
            log.info("service stopped", service=name, returncode=code)
        for service in running:
            service.relay.join(timeout=5)
