import asyncio

import uvloop

from scheduler.app import build
from scheduler.settings import Settings
from servicekit.cli import service_cli

app = service_cli("scheduler", Settings, build)


def main() -> None:
    # A burst of due emails is event-loop and socket work (database, relay): uvloop is faster.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app()


if __name__ == "__main__":
    main()
