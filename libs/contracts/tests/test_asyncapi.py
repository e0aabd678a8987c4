from pathlib import Path

from contracts.asyncapi import _covers, document, render
from contracts.events import EVENT_TYPES
from contracts.streams import PRODUCERS

COMMITTED = Path(__file__).parents[1] / "asyncapi.json"


def test_committed_document_matches_the_code() -> None:
    assert COMMITTED.read_text() == render(), (
        "libs/contracts/asyncapi.json is stale: run "
        "`python -m contracts.asyncapi > libs/contracts/asyncapi.json`"
    )


def test_every_event_has_a_channel_and_a_producer() -> None:
    doc = document()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == set(EVENT_TYPES)
    assert set(PRODUCERS) == set(EVENT_TYPES)
    senders = {op["channel"]["$ref"] for op in doc["operations"].values() if op["action"] == "send"}
    assert len(senders) == len(EVENT_TYPES)


def test_subject_matching() -> None:
    assert _covers("campaign.>", "campaign.created")
    assert _covers("audience.>", "audience.members.added")
    assert not _covers("campaign.>", "campaign")
    assert _covers("email.*", "email.due")
    assert not _covers("email.*", "email.due.x")
    assert not _covers("email.sent", "email.failed")
