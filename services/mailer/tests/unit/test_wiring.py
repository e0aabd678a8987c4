"""The composition root handles every event the mailer's consumers are subscribed to."""

from __future__ import annotations

import fnmatch

import pytest

from contracts import EVENT_TYPES
from contracts.streams import TOPOLOGY
from mailer.app import handler_table
from mailer.settings import Settings


def _matches(subject: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(subject, pattern.replace(">", "*"))


def test_every_subscribed_event_has_a_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_DATABASE_URL", "postgresql://db.example/mailer")
    table = handler_table(Settings())
    subscribed = {
        event_type
        for spec in TOPOLOGY.consumers_of("mailer")
        for pattern in spec.filter_subjects
        for event_type in EVENT_TYPES
        if _matches(event_type, pattern)
    }
    assert subscribed, "the mailer consumes nothing?"
    assert subscribed <= set(table.table)
    # And nothing is handled that no consumer delivers.
    assert set(table.table) <= subscribed
