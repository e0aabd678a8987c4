"""`python -m devstack up`: run the whole system locally until Ctrl-C."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from devstack.errors import DevstackError
from devstack.shutdown import ignore_signals, interrupt_on_signals
from devstack.stack import Stack, StackConfig, display_name

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def main() -> None:
    """Campaign Builder development stack."""


def banner(stack: Stack) -> Table:
    maildir = stack.maildir
    mail = (
        f"sent to {stack.endpoints.smtp_host}:{stack.endpoints.smtp_port}"
        if maildir is None
        else f"lands in {maildir / 'new'}"
    )
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for label, value in [
        ("API", stack.api_url),
        ("Dashboard", stack.dashboard_url),
        ("API key", stack.api_key),
        ("Mail", mail),
        ("NATS", stack.nats_url),
        ("Data", str(stack.data_dir)),
    ]:
        table.add_row(label, Text(value))  # Text: a value is never read as rich markup
    table.add_row("", Text("Ctrl-C stops everything; the data is kept for the next `up`.", "dim"))
    return table


@app.command()
def up(
    data_dir: Annotated[
        Path, typer.Option(help="Where NATS, PostgreSQL, the mail and the API key are kept.")
    ] = Path(".data"),
    port: Annotated[int, typer.Option(envvar="PORT", help="Port of the API and dashboard.")] = 8000,
) -> None:
    """Start NATS, PostgreSQL, an SMTP sink and the four services; stop them on Ctrl-C.

    Real servers replace embedded ones: NATS_URL, DATABASE_URL or <SERVICE>_DATABASE_URL, SMTP_HOST.
    """
    console = Console()
    # People read these logs in a terminal: human-readable unless asked otherwise.
    environ = {"LOG_FORMAT": "console", **os.environ}
    stack = Stack(StackConfig(data_dir=data_dir, api_port=port, environ=environ), console=console)
    interrupt_on_signals()
    try:
        stack.start()
        console.rule("[bold green]Campaign Builder is up")
        console.print(banner(stack))
        console.rule()
        exited = stack.wait()
        assert exited is not None  # wait() without a timeout returns only on an exit
        console.rule(
            f"[bold red]{display_name(exited.service)} exited unexpectedly with code "
            f"{exited.returncode}: stopping everything",
            style="red",
        )
        raise typer.Exit(1)
    except KeyboardInterrupt:
        console.rule(f"[bold]Stopping: the services finish what they are doing (up to "
                     f"{stack.config.stop_grace:g} s), then NATS, PostgreSQL and the sink")
    except DevstackError as error:
        console.rule("[bold red]Start-up failed", style="red")
        console.print(str(error), style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    finally:
        ignore_signals()
        stack.stop()
        console.print("[bold]Stopped.[/]")


if __name__ == "__main__":
    app()
