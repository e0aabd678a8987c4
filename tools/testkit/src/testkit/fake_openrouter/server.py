"""FakeOpenRouter: the fake served by uvicorn on a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn

from testkit.fake_openrouter.app import API_PREFIX, CHAT_PATH, FakeApp, Settings
from testkit.fake_openrouter.log import RecordedRequest, RequestLog
from testkit.fake_openrouter.payloads import default_responder
from testkit.fake_openrouter.script import Responder, Script, ScriptItem

DEFAULT_API_KEY = "sk-or-v1-testkit-fake-key"
DEFAULT_MODEL = "openai/gpt-4o-mini"
_START_TIMEOUT = 10.0


class FakeOpenRouter:
    """A local HTTP server speaking OpenRouter's API, with scriptable faults and a request log.

    Its own thread and event loop let it serve other processes as well as async tests running
    in this one. Chat attempts consume script items (see `script`); unscripted attempts get
    `responder`'s answer, by default a valid JSON email derived from the request.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        latency: float = 0.0,
        default_model: str = DEFAULT_MODEL,
        prompt_price: float = 1e-6,
        completion_price: float = 2e-6,
        embedding_dimensions: int = 64,
        credit_limit: float | None = 100.0,
        responder: Responder = default_responder,
    ) -> None:
        self._host = host
        self._port = port  # 0 until started: the OS then picks a free port, kept for restarts
        self._settings = Settings(
            api_key=api_key,
            latency=latency,
            default_model=default_model,
            prompt_price=prompt_price,
            completion_price=completion_price,
            embedding_dimensions=embedding_dimensions,
            credit_limit=credit_limit,
            responder=responder,
        )
        self._script = Script()
        self._log = RequestLog()
        self._run: _Run | None = None

    @property
    def base_url(self) -> str:
        """What the app uses as OPENROUTER_BASE_URL, e.g. http://127.0.0.1:PORT/api/v1."""
        if self._run is None:
            raise RuntimeError("FakeOpenRouter is not running; call start() first")
        return f"http://{self._host}:{self._port}{API_PREFIX}"

    @property
    def api_key(self) -> str:
        """The one key accepted; any other gets OpenRouter's 401."""
        return self._settings.api_key

    @property
    def latency(self) -> float:
        """Seconds every chat completion waits before it is answered; settable while running."""
        return self._settings.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._settings.latency = seconds

    def start(self) -> Self:
        if self._run is not None:
            raise RuntimeError("FakeOpenRouter is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        self._run = _Run(FakeApp(self._settings, self._script, self._log), sock)
        return self

    def stop(self) -> None:
        """Stops serving; requests still waiting are dropped. The script and log are kept."""
        if self._run is not None:
            self._run.stop()
            self._run = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def script(self, *items: ScriptItem, model: str | None = None) -> None:
        """Queues items, each answering one chat attempt, first in first out.

        An attempt at a model takes from that model's queue when it has items, else from the
        shared queue (`model=None`), else asks the responder. With `models: [a, b]` each model
        tried is one attempt, so one request can consume several items.
        """
        self._script.add(items, model)

    def pending(self) -> int:
        """Script items not yet consumed, across all queues."""
        return self._script.pending()

    def reset(self) -> None:
        """Forgets queued script items and logged requests, e.g. between tests sharing a fake."""
        self._script.clear()
        self._log.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        return self._log.entries()

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self._log.entries() if r.path == CHAT_PATH]

    def total_cost(self) -> float:
        """The sum of `usage.cost` over every response sent so far."""
        return self._log.total_cost()


class _Run:
    """One uvicorn server on its own thread and event loop, started on a bound socket."""

    def __init__(self, app: FakeApp, sock: socket.socket) -> None:
        self._app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        # No logging config and no log level: uvicorn would otherwise reconfigure the process's
        # logging, which belongs to the tests and the app under test.
        config = uvicorn.Config(app, http="h11", lifespan="off", log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(sock),), name="fake-openrouter", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FakeOpenRouter failed to start")
            time.sleep(0.005)

    async def _serve(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        with sock:
            await self._server.serve(sockets=[sock])

    def stop(self) -> None:
        self._server.should_exit = True
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended, with the server
                self._loop.call_soon_threadsafe(self._app.closing.set)
        self._thread.join()
