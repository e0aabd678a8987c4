"""Delivery rules: SMTP replies, retries, campaign states, pre-send checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailer.domain import (
    RETRY_STEPS,
    Accepted,
    Deferred,
    Rejected,
    RetryPolicy,
    Skip,
    SmtpReply,
    campaign_transition,
    classify,
    enhanced_code,
    parse_mailbox,
    precheck,
)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (SmtpReply(250, "2.0.0 Ok: queued as 4F1", "data"),
         Accepted("250 2.0.0 Ok: queued as 4F1")),
        (SmtpReply(451, "4.7.1 Greylisted", "rcpt"),
         Deferred(451, "4.7.1", "451 4.7.1 Greylisted")),
        (SmtpReply(452, "Mailbox full", "rcpt"), Deferred(452, None, "452 Mailbox full")),
        (SmtpReply(550, "5.1.1 User unknown", "rcpt"),
         Rejected(550, "5.1.1", "550 5.1.1 User unknown", suppress=True)),
        (SmtpReply(553, "5.1.3 Bad address syntax", "data"),
         Rejected(553, "5.1.3", "553 5.1.3 Bad address syntax", suppress=True)),
        # About our own sender address, not the recipient's.
        (SmtpReply(553, "5.1.8 Sender domain does not exist", "mail"),
         Rejected(553, "5.1.8", "553 5.1.8 Sender domain does not exist", suppress=False)),
        (SmtpReply(550, "5.1.0 Sender rejected", "mail"),
         Rejected(550, "5.1.0", "550 5.1.0 Sender rejected", suppress=False)),
        (SmtpReply(554, "5.7.1 Spam", "data"), Rejected(554, "5.7.1", "554 5.7.1 Spam", False)),
        (SmtpReply(550, "No such user here", "rcpt"),
         Rejected(550, None, "550 No such user here", suppress=False)),
        (SmtpReply(None, "ConnectionRefusedError", "connect"),
         Deferred(None, None, "ConnectionRefusedError")),
        (SmtpReply(None, "SMTPServerDisconnected", "data", uncertain=True),
         Deferred(None, None, "outcome unknown, may have been delivered: SMTPServerDisconnected")),
        (SmtpReply(354, "odd", "data"), Deferred(354, None, "354 odd")),
    ],
)
def test_classify(reply: SmtpReply, expected: object) -> None:
    assert classify(reply) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [("5.1.1 user unknown", "5.1.1"), ("4.7.1", "4.7.1"), ("  2.0.0 ok", "2.0.0"),
     ("user 5.1.1 unknown", None), ("5.1 x", None), ("6.1.1 x", None), ("5.1.10x", None)],
)
def test_enhanced_code(text: str, code: str | None) -> None:
    assert enhanced_code(text) == code


def test_retry_schedule_backs_off_then_gives_up_at_the_maximum_age() -> None:
    policy = RetryPolicy(max_age=timedelta(days=3))
    first = datetime(2030, 1, 1, tzinfo=UTC)
    now, waits = first, []
    for attempts in range(1, 100):
        at = policy.next_attempt(attempts=attempts, first_attempt_at=first, now=now)
        if at is None:
            break
        waits.append(at - now)
        now = at
    assert waits[:5] == list(RETRY_STEPS)
    assert set(waits[5:]) == {RETRY_STEPS[-1]}
    assert now - first <= timedelta(days=3)
    assert now + RETRY_STEPS[-1] - first > timedelta(days=3)


def test_campaign_transitions() -> None:
    assert campaign_transition("active", "paused") == "paused"
    assert campaign_transition("paused", "resumed") == "active"
    assert campaign_transition("paused", "cancelled") == "cancelled"
    assert campaign_transition("active", "completed") == "completed"
    assert campaign_transition("completed", "cancelled") == "cancelled"
    # Repeats and late events change nothing; a cancelled campaign stays cancelled.
    assert campaign_transition("paused", "paused") is None
    assert campaign_transition("active", "resumed") is None
    assert campaign_transition("cancelled", "resumed") is None
    assert campaign_transition("cancelled", "completed") is None


def _precheck(
    campaign_state: str = "active", *, member_active: bool = True, suppressed: bool = False
) -> Skip | None:
    return precheck(campaign_state=campaign_state, member_active=member_active,
                    suppressed=suppressed)


def test_precheck() -> None:
    assert _precheck() is None
    assert _precheck("completed") is None  # deliveries made before completion still go
    assert _precheck(suppressed=True) == Skip("suppressed", "suppressed")
    assert _precheck(member_active=False) == Skip("cancelled", "no longer a subscribed contact")
    assert _precheck("cancelled", suppressed=True) == Skip("cancelled", "campaign cancelled")


def test_parse_mailbox() -> None:
    sender = parse_mailbox("Campaign Builder <campaigns@localhost>")
    assert (sender.name, sender.address, sender.domain) == (
        "Campaign Builder", "campaigns@localhost", "localhost")
    assert parse_mailbox("news@x.example").name == ""
    for bad in ("nobody", "a@x.example, b@x.example", "A <a@x.example>\r\nBcc: c@x.example"):
        with pytest.raises(ValueError, match=r"not one|line breaks"):
            parse_mailbox(bad)
