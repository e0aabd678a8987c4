"""Runs the fake as its own process: `python -m testkit.fake_openrouter --port N`.

Prints one JSON line with base_url and api_key once it is serving, then serves the default
responder until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
from collections.abc import Sequence

from testkit.fake_openrouter.server import DEFAULT_API_KEY, FakeOpenRouter


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m testkit.fake_openrouter", description="Serve a fake OpenRouter API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per chat reply")
    args = parser.parse_args(argv)

    stop_signals = {signal.SIGINT, signal.SIGTERM}
    # Blocked before the server thread starts, which inherits the mask, so only sigwait sees them.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    with FakeOpenRouter(
        host=args.host, port=args.port, api_key=args.api_key, latency=args.latency
    ) as fake:
        print(json.dumps({"base_url": fake.base_url, "api_key": fake.api_key}), flush=True)
        signal.sigwait(stop_signals)


if __name__ == "__main__":
    main()
