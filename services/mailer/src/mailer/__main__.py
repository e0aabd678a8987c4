import asyncio

import typer
import uvloop

from mailer.app import build
from mailer.processes import run_sender_process
from mailer.settings import Settings
from servicekit.cli import service_cli

app = service_cli("mailer", Settings, build)


@app.command()
def send(process: int = typer.Argument(..., min=1)) -> None:
    """Run one sender process; `run` starts these when MAILER_SENDER_PROCESSES > 1."""
    asyncio.run(run_sender_process(Settings(), process))


def main() -> None:
    # The sender spends much of its time in the event loop and socket I/O: uvloop is faster.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app()


if __name__ == "__main__":
    main()
