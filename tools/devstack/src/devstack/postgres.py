"""Embedded PostgreSQL 16 with pgvector, from the `pgserver` wheel.

pgserver shares one server per data folder between processes: it counts the processes that
hold a handle in `<pgdata>/.handle_pids.json` and, with `cleanup_mode="stop"`, stops the
server when the last one lets go. A process that died without letting go stays counted, so the
server would then never be stopped. This wrapper therefore opens it with `cleanup_mode=None`
(pgserver never stops it) and stops it itself with `pg_ctl stop`, which is deterministic: after
`stop()` returns, no server runs on the folder. A server left running by a process that was
killed is adopted by the next `start()`.

Run as root, pgserver runs the server as a `pgserver` system user it creates, and widens the
permissions of the data folder's ancestors so that user can reach it.
"""

from __future__ import annotations

import atexit
import fcntl
import subprocess
import tempfile
import warnings
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

import structlog

from devstack.errors import DevstackError

with warnings.catch_warnings():
    # pgserver asks platformdirs for a runtime folder at import; without XDG_RUNTIME_DIR (as in
    # containers and CI) that warns and falls back to /tmp/runtime-<uid>, which is fine.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    from pgserver._commands import POSTGRES_BIN_PATH  # the bundled binaries have no public name
    from pgserver.postgres_server import PostgresServer, get_server
    from pgserver.utils import PostmasterInfo

log = structlog.get_logger(__name__)

# As root, pgserver's first start on a machine creates its system user with `useradd`; two
# processes starting servers at once (parallel test workers) would both try, and one fail.
_START_LOCK = Path(tempfile.gettempdir()) / "devstack-postgres-start.lock"


def _make_traversable_dirs(path: Path) -> None:
    """Create `path` and its missing parents as 0755: the server's system user must be able to
    traverse them (explicit chmod, as mkdir's mode is filtered through the umask)."""
    for directory in reversed([path, *path.parents]):
        if not directory.exists():
            directory.mkdir()
            directory.chmod(0o755)


class PostgresError(DevstackError):
    """The embedded server could not be started, stopped or used."""


class EmbeddedPostgres:
    """A PostgreSQL server on a data folder, reachable over its Unix socket only."""

    def __init__(self, data_dir: Path, *, stop_timeout: int = 30) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.stop_timeout = stop_timeout
        self._server: PostgresServer | None = None

    @property
    def socket_dir(self) -> Path:
        directory = self._running().get_postmaster_info().socket_dir
        if directory is None:
            raise PostgresError("the embedded server has no Unix socket")
        return directory

    def start(self) -> Self:
        """Start the server (initialising the folder on first use) and return once it accepts
        connections."""
        if self._server is not None:
            return self
        _make_traversable_dirs(self.data_dir.parent)
        with _START_LOCK.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._server = get_server(self.data_dir, cleanup_mode=None)
        # pgserver no longer stops the server at exit (cleanup_mode=None), so this does.
        atexit.register(self.stop)
        log.info("postgres started", data_dir=str(self.data_dir), socket_dir=str(self.socket_dir))
        return self

    def uri(self, dbname: str) -> str:
        """SQLAlchemy URL of `dbname` for the asyncpg driver (asyncpg takes the same URL
        without `+asyncpg`). The socket folder travels in the `host` query parameter."""
        return f"postgresql+asyncpg://postgres@/{quote(dbname)}?host={quote(str(self.socket_dir))}"

    def ensure_database(self, name: str) -> None:
        """Create database `name` unless it exists, with the `vector` extension in it."""
        # CREATE DATABASE has no IF NOT EXISTS and cannot run in a function or DO block;
        # psql's \gexec runs the statement only when the query returns it. The name goes in
        # as a psql variable, which psql quotes.
        self._psql(
            "postgres",
            "SELECT format('CREATE DATABASE %I', :'name') "
            "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name')\\gexec\n",
            name=name,
        )
        self._psql(name, "CREATE EXTENSION IF NOT EXISTS vector;\n")

    def stop(self, *, immediate: bool = False) -> None:
        """Stop the server (fast shutdown: sessions are disconnected, data is checkpointed).
        Safe to call repeatedly. `immediate` stops it as a crash would: no checkpoint, and the
        next `start()` recovers from the write-ahead log."""
        server, self._server = self._server, None
        if server is None:
            return
        atexit.unregister(self.stop)
        # Withdraw this process's handle so pgserver's bookkeeping stays accurate, and drop
        # its per-process cache, which would otherwise hand a later start() this dead server.
        server.cleanup()
        PostgresServer._instances.pop(self.data_dir, None)
        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "pg_ctl"),
                "--pgdata",
                str(self.data_dir),
                "--mode",
                "immediate" if immediate else "fast",
                "--wait",
                "--timeout",
                str(self.stop_timeout),
                "stop",
            ],
            user=server.system_user,
            capture_output=True,
            text=True,
            check=False,
        )
        info = PostmasterInfo.read_from_pgdata(self.data_dir)
        if result.returncode != 0 and info is not None and info.is_running():
            raise PostgresError(f"pg_ctl stop failed: {result.stderr.strip()}")
        log.info("postgres stopped", data_dir=str(self.data_dir), immediate=immediate)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _running(self) -> PostgresServer:
        if self._server is None:
            raise PostgresError("the embedded server is not started")
        return self._server

    def _psql(self, dbname: str, sql: str, **variables: str) -> None:
        """Run `sql` through psql; `variables` are set as psql variables (`:'name'`)."""
        settings = [f"--set={key}={value}" for key, value in variables.items()]
        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "psql"),
                "--no-psqlrc",
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                *settings,
                f"--dbname={self._running().get_uri(quote(dbname))}",
            ],
            input=sql,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresError(f"psql on {dbname} failed: {result.stderr.strip()}")
