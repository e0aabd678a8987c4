from __future__ import annotations

import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.ports import free_port, is_listening
from devstack.smtp_sink import SinkFault, SmtpSink

# CRLF line ends as on the wire, a line that SMTP must dot-stuff, 8-bit UTF-8 and a long line:
# everything that a sink which re-encodes or re-parses the message would change.
RAW = (
    b"From: Campaign <news@example.com>\r\n"
    b"To: Ada <ada@example.org>\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9?=\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Bonjour caf\xc3\xa9,\r\n"
    b".a line that starts with a dot\r\n"
    b"   trailing spaces   \r\n" + b"x" * 900 + b"\r\n"
)


def delivered(maildir: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted((maildir / "new").iterdir())]


def send(port: int, rcpts: list[str]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        refused = client.sendmail("bounce@example.com", rcpts, RAW)
    assert refused == {}


def test_stores_received_bytes_exactly(short_tmp: Path) -> None:
    maildir = short_tmp / "maildir"
    with SmtpSink("127.0.0.1", free_port(), maildir) as sink:
        send(sink.port, ["ada@example.org", "grace@example.org"])
        send(sink.port, ["ada@example.org"])
        # One stored copy per message, not per recipient.
        assert delivered(maildir) == [RAW, RAW]
    assert not is_listening("127.0.0.1", sink.port)


def test_a_421_fault_refuses_every_nth_recipient_and_closes_that_session(
    short_tmp: Path,
) -> None:
    maildir = short_tmp / "maildir"
    with SmtpSink("127.0.0.1", free_port(), maildir) as sink:
        sink.set_fault(SinkFault("421", every=2))
        send(sink.port, ["ada@example.org"])
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(sink.port, ["grace@example.org"])
        assert refused.value.recipients["grace@example.org"][0] == 421
        send(sink.port, ["linus@example.org"])
        sink.set_fault(None)
        send(sink.port, ["grace@example.org"])
        send(sink.port, ["ken@example.org"])
        assert delivered(maildir) == [RAW] * 4
        assert sink.faults_injected == 1


def test_a_drop_fault_closes_the_connection_after_the_data_and_stores_nothing(
    short_tmp: Path,
) -> None:
    maildir = short_tmp / "maildir"
    with SmtpSink("127.0.0.1", free_port(), maildir) as sink:
        sink.set_fault(SinkFault("drop", every=1))
        with pytest.raises(smtplib.SMTPServerDisconnected):
            send(sink.port, ["ada@example.org"])
        assert delivered(maildir) == []
        sink.set_fault(None)
        send(sink.port, ["ada@example.org"])
        assert delivered(maildir) == [RAW]
        assert sink.faults_injected == 1


def test_runs_as_a_module_until_sigterm(short_tmp: Path) -> None:
    maildir, port = short_tmp / "maildir", free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.smtp_sink",
            "--port",
            str(port),
            "--maildir",
            str(maildir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while not is_listening("127.0.0.1", port):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        send(port, ["ada@example.org"])
        assert delivered(maildir) == [RAW]
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
