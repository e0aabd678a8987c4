"""The dashboard's outbox over a Maildir of 10,000 messages, as the development sink stores them.

- first listing: a new index (a restarted campaign-api) lists the first page;
- later listing: the same index lists the first page again, and a page deeper in;
- reference: what a listing cost before the index, every file's header block parsed with the
  email package on every request, measured in the same run on the same files.
"""

from __future__ import annotations

import mailbox
import tempfile
import time
import uuid
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

from bench.harness import figure, report
from campaign_api.dashboard.outbox import OutboxIndex

MESSAGES = 10_000


def _fill(maildir: Path, campaigns: list[uuid.UUID]) -> None:
    box = mailbox.Maildir(maildir, create=True)
    html = "<p>" + "A paragraph of the email, as long as a real one. " * 60 + "</p>"
    for n in range(MESSAGES):
        message = EmailMessage()
        message["From"] = "Campaign Builder <campaigns@localhost>"
        message["To"] = f"Reader {n} <reader{n}@example.com>"
        message["Subject"] = f"Spring planner, part {n}"
        message["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
        message["List-Id"] = f'"Spring launch" <{campaigns[n % len(campaigns)]}.localhost>'
        message.set_content("A paragraph of the email. " * 60)
        message.add_alternative(html, subtype="html")
        box.add(message.as_bytes())


def _every_header(maildir: Path) -> int:
    box = mailbox.Maildir(maildir, create=False)
    parser = BytesHeaderParser(policy=policy.default)
    parsed = 0
    for key in box.iterkeys():
        with box.get_file(key) as file:
            parser.parse(file)  # type: ignore[arg-type]
            parsed += 1
    return parsed


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    campaigns = [uuid.uuid4() for _ in range(4)]
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        maildir = Path(tmp) / "maildir"
        _fill(maildir, campaigns)
        reference = _timed(lambda: _every_header(maildir))
        index = OutboxIndex(maildir)
        ours = {campaigns[0]}
        first = _timed(lambda: index.page(ours))
        again = _timed(lambda: index.page(ours))
        page = index.page(ours)
        for _ in range(20):  # 20 pages in: 1,000 of this workspace's messages
            assert page.older is not None
            page = index.page(ours, before=page.older)
        cursor = page.older
        deeper = _timed(lambda: index.page(ours, before=cursor))
    report("outbox", [
        figure("messages in the Maildir", MESSAGES, "messages"),
        figure("first listing (new index)", first, "s", reference=reference, target="< 0.5",
               met=first < 0.5 * reference),
        figure("later listing, first page", again, "s", reference=reference, target="< 0.1",
               met=again < 0.1 * reference),
        figure("later listing, page 21", deeper, "s", reference=reference, target="< 0.1",
               met=deeper < 0.1 * reference),
    ])


if __name__ == "__main__":
    main()
