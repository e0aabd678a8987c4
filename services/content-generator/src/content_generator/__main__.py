import asyncio

import uvloop

from content_generator.app import build
from content_generator.settings import Settings
from servicekit.cli import service_cli

app = service_cli("content_generator", Settings, build)


def main() -> None:
    # A burst of emails is mostly event-loop and socket work (HTTP, PostgreSQL, NATS): uvloop
    # does it with less CPU.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app()


if __name__ == "__main__":
    main()
