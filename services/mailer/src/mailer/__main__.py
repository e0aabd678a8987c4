import typer

from mailer.app import build
from mailer.processes import run_sender_process
from mailer.settings import Settings
from servicekit.cli import run_on_uvloop, service_cli

app = service_cli("mailer", Settings, build)


@app.command()
def send(
    process: int = typer.Argument(..., min=1),
    started_fd: int | None = typer.Option(None, help="told once the process runs"),
) -> None:
    """Run one sender process; `run` starts these when MAILER_SENDER_PROCESSES > 1."""
    run_on_uvloop(run_sender_process(Settings(), process, started_fd))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
