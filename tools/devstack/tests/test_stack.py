"""The orchestrator against stand-in services: tiny packages named like the real ones that
do what the stack expects of them (migrate, create-key, run and listen), put first on the
children's PYTHONPATH. The real services are exercised by the end-to-end tests."""

from __future__ import annotations

import io
import json
import os
import signal
import smtplib
import subprocess
import sys
from pathlib import Path

import asyncpg
import nats
import pytest
from rich.console import Console

from devstack.ports import free_port, is_listening
from devstack.stack import SERVICES, Stack, StackConfig, StackError

STAND_IN = """
import http.server, json, os, signal, smtplib, sys, time

module, command = __package__, sys.argv[1]
reports = os.environ["STAND_IN_REPORTS"]
print(f"{module} {command}")
if command == "migrate":
    sys.exit(3 if os.environ.get("STAND_IN_FAIL_MIGRATE") == module else 0)
if command == "create-key":
    print("a log line before the key")
    print("cbk_" + os.urandom(8).hex())
    sys.exit(0)
with open(os.path.join(reports, module + ".json"), "w") as report:
    json.dump({**os.environ, "STAND_IN_PID": str(os.getpid())}, report)
port = int(os.environ["PORT" if module == "campaign_api" else module.upper() + "_HTTP_PORT"])
server = http.server.HTTPServer(("127.0.0.1", port), http.server.BaseHTTPRequestHandler)
def drain(*_):
    # As the mailer drains: a moment to finish, then the outcome goes where it is recorded.
    if os.environ.get("STAND_IN_DRAIN") == module:
        time.sleep(1)
        with smtplib.SMTP(os.environ["SMTP_HOST"], int(os.environ["SMTP_PORT"])) as client:
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: drained\\r\\n\\r\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, drain)
server.serve_forever()
"""


@pytest.fixture
def stand_ins(short_tmp: Path) -> dict[str, str]:
    """Environment for a stack whose services are the stand-ins."""
    code, reports = short_tmp / "code", short_tmp / "reports"
    reports.mkdir()
    for module in SERVICES:
        (code / module).mkdir(parents=True)
        (code / module / "__init__.py").write_text("")
        (code / module / "__main__.py").write_text(STAND_IN)
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(code),
        "STAND_IN_REPORTS": str(reports),
        "NATS_URL": "",  # empty counts as unset
    }


# Real infrastructure named by the environment, so nothing is embedded. The stand-ins never
# connect to it, which keeps the tests of process handling fast.
EXTERNAL = {
    "DATABASE_URL": "postgresql+asyncpg://app@127.0.0.1:1/unused",
    "NATS_URL": "nats://127.0.0.1:1",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": "1",
}


def report(stack: Stack, module: str) -> dict[str, str]:
    path = Path(stack.config.environ["STAND_IN_REPORTS"]) / f"{module}.json"
    data: dict[str, str] = json.loads(path.read_text())
    return data


async def test_starts_services_on_embedded_infrastructure_and_restarts_with_its_data(
    short_tmp: Path, stand_ins: dict[str, str]
) -> None:
    output = io.StringIO()
    config = StackConfig(
        data_dir=short_tmp / "data",
        api_port=free_port(),
        environ=stand_ins,
        extra_env={"OPENROUTER_BASE_URL": "http://127.0.0.1:1/api/v1"},
    )
    with Stack(config, console=Console(file=output, width=200)) as stack:
        assert stack.api_url == f"http://127.0.0.1:{config.api_port}/api/"
        key = stack.api_key
        assert key.startswith("cbk_")
        key_file = stack.data_dir / "api-key"
        assert key_file.read_text() == key + "\n"
        assert key_file.stat().st_mode & 0o777 == 0o600
        secret = report(stack, "campaign_api")["CAMPAIGN_API_SESSION_SECRET"]
        assert len(secret) >= 32
        # campaign-api's own commands, run beside the stack, find its database here.
        api_env = stack.data_dir / "campaign-api.env"
        assert api_env.read_text() == (
            f"CAMPAIGN_API_DATABASE_URL='{stack.database_url('campaign_api')}'\n")
        assert api_env.stat().st_mode & 0o777 == 0o600

        for module in SERVICES:
            env = report(stack, module)
            assert env["NATS_URL"] == stack.nats_url
            assert env[f"{module.upper()}_DATABASE_URL"] == stack.database_url(module)
            assert env["DEV_MAILDIR"] == str(stack.maildir)
            assert env["OPENROUTER_BASE_URL"] == "http://127.0.0.1:1/api/v1"
            assert is_listening("127.0.0.1", stack.http_port(module))

        # The infrastructure the services were given is up: each database, NATS, the sink.
        for module in SERVICES:
            dsn = stack.database_url(module).replace("+asyncpg", "")
            conn = await asyncpg.connect(dsn)
            assert await conn.fetchval("SELECT current_database()") == module
            await conn.close()
        await (await nats.connect(stack.nats_url)).close()
        env = report(stack, "mailer")
        with smtplib.SMTP(env["SMTP_HOST"], int(env["SMTP_PORT"])) as client:
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nhello\r\n")
        assert stack.maildir is not None
        assert len(list((stack.maildir / "new").iterdir())) == 1

        assert stack.wait(timeout=0.3) is None
    assert not is_listening("127.0.0.1", config.api_port)

    relayed = output.getvalue().splitlines()
    assert "     campaign-api | campaign_api migrate" in relayed
    assert "content-generator | content_generator run" in relayed

    # Started again, the stack keeps its data: same key, same mail, and the same session
    # secret, so that nobody is signed out of the dashboard by a restart.
    with stack:
        assert stack.api_key == key
        assert report(stack, "campaign_api")["CAMPAIGN_API_SESSION_SECRET"] == secret
        assert stack.maildir is not None
        assert len(list((stack.maildir / "new").iterdir())) == 1


def test_services_stop_first_and_drain_within_their_grace_while_the_infrastructure_runs(
    short_tmp: Path, stand_ins: dict[str, str]
) -> None:
    config = StackConfig(
        data_dir=short_tmp / "data",
        api_port=free_port(),
        environ={**stand_ins, "STAND_IN_DRAIN": "mailer"},
        services=("mailer",),
        stop_grace=7,
    )
    with Stack(config, console=Console(file=io.StringIO())) as stack:
        assert report(stack, "mailer")["SHUTDOWN_GRACE_SECONDS"] == "7"
        maildir = stack.maildir
        assert maildir is not None
    # The mailer's last message, sent a second after its SIGTERM, reached the sink: it was
    # neither killed nor left without the infrastructure it finishes its work with.
    assert [m.read_text().startswith("Subject: drained") for m in (maildir / "new").iterdir()] \
        == [True]
    assert config.stop_timeout > config.stop_grace


def test_a_service_that_dies_is_reported(short_tmp: Path, stand_ins: dict[str, str]) -> None:
    config = StackConfig(
        data_dir=short_tmp / "data",
        api_port=free_port(),
        environ={**stand_ins, **EXTERNAL},
        services=("mailer", "campaign_api"),
    )
    with Stack(config, console=Console(file=io.StringIO())) as stack:
        assert stack.maildir is None
        env = report(stack, "mailer")
        assert env["MAILER_DATABASE_URL"] == "postgresql+asyncpg://app@127.0.0.1:1/mailer"
        assert (env["NATS_URL"], env["SMTP_HOST"], env["SMTP_PORT"]) == (
            "nats://127.0.0.1:1",
            "127.0.0.1",
            "1",
        )
        assert "DEV_MAILDIR" not in env
        assert not (stack.data_dir / "pg").exists()

        os.kill(int(report(stack, "mailer")["STAND_IN_PID"]), signal.SIGKILL)
        exited = stack.wait(timeout=10)
        assert exited is not None
        assert (exited.service, exited.returncode) == ("mailer", -signal.SIGKILL)


def test_a_killed_or_stopped_service_is_started_again_with_its_environment(
    short_tmp: Path, stand_ins: dict[str, str]
) -> None:
    config = StackConfig(
        data_dir=short_tmp / "data",
        api_port=free_port(),
        environ={**stand_ins, **EXTERNAL},
        services=("mailer", "campaign_api"),
    )
    with Stack(config, console=Console(file=io.StringIO())) as stack:
        first = report(stack, "mailer")
        assert stack.pid("mailer") == int(first["STAND_IN_PID"])
        stack.kill_service("mailer")
        assert [(e.service, e.returncode) for e in stack.exited()] == [
            ("mailer", -signal.SIGKILL)
        ]
        with pytest.raises(StackError, match="still running"):
            stack.restart_service("campaign_api")
        stack.restart_service("mailer")
        assert stack.exited() == []
        second = report(stack, "mailer")
        assert second["STAND_IN_PID"] != first["STAND_IN_PID"]
        assert stack.service_env("mailer")["MAILER_DATABASE_URL"] == second["MAILER_DATABASE_URL"]
        assert {k: v for k, v in second.items() if k != "STAND_IN_PID"} == {
            k: v for k, v in first.items() if k != "STAND_IN_PID"
        }
        assert is_listening("127.0.0.1", stack.http_port("mailer"))

        assert stack.stop_service("mailer") is True  # the stand-in exits on SIGTERM
        assert [(e.service, e.returncode) for e in stack.exited()] == [("mailer", 0)]
        stack.restart_service("mailer")
        assert stack.wait(timeout=0.3) is None


def test_failed_migration_stops_everything_started(
    short_tmp: Path, stand_ins: dict[str, str]
) -> None:
    config = StackConfig(
        data_dir=short_tmp / "data",
        api_port=free_port(),
        environ={**stand_ins, "STAND_IN_FAIL_MIGRATE": "scheduler"},
    )
    stack = Stack(config, console=Console(file=io.StringIO()))
    with pytest.raises(StackError, match="scheduler migrate exited with code 3"):
        stack.start()
    assert not is_listening("127.0.0.1", config.api_port)
    assert not (stack.data_dir / "pg" / "postmaster.pid").exists()


def test_one_stack_per_data_dir(short_tmp: Path, stand_ins: dict[str, str]) -> None:
    config = StackConfig(
        data_dir=short_tmp / "data",
        api_port=free_port(),
        environ={**stand_ins, **EXTERNAL},
        services=("scheduler",),
    )
    with Stack(config, console=Console(file=io.StringIO())):
        second = Stack(config, console=Console(file=io.StringIO()))
        with pytest.raises(StackError, match="another stack"):
            second.start()


def test_up_runs_until_sigterm(short_tmp: Path, stand_ins: dict[str, str]) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "up", "--data-dir", str(short_tmp / "data")],
        env={**stand_ins, **EXTERNAL, "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line:  # the banner's last line
                break
        assert is_listening("127.0.0.1", port), "".join(lines)
    finally:
        process.send_signal(signal.SIGTERM)
        lines.append(process.stdout.read())
        process.wait(timeout=30)
    output = "".join(lines)
    assert process.returncode == 0, output
    assert f"API        http://127.0.0.1:{port}/api/" in output
    assert f"API key    {(short_tmp / 'data' / 'api-key').read_text().strip()}" in output
    assert "Mail       sent to 127.0.0.1:1" in output
    assert "Stopped." in output
