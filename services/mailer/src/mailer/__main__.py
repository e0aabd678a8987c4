import asyncio

import uvloop

from mailer.app import build
from mailer.settings import Settings
from servicekit.cli import service_cli

app = service_cli("mailer", Settings, build)


def main() -> None:
    # The sender spends much of its time in the event loop and socket I/O: uvloop is faster.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app()


if __name__ == "__main__":
    main()
