"""The JetStream topology: every event lands in exactly one stream and every consumer reads
only what its stream holds."""

from __future__ import annotations

import re
from itertools import combinations

import pytest

from contracts import CONSUMERS, EVENT_TYPES, STREAMS, TOPOLOGY, ConsumerSpec

SERVICES = {"campaign-api", "scheduler", "content-generator", "mailer"}


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` is one or more."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def within(inner: str, outer: str) -> bool:
    """Every subject `inner` matches is matched by `outer`."""
    i, o = inner.split("."), outer.split(".")
    for n, token in enumerate(o):
        if token == ">":
            return len(i) > n
        if n >= len(i) or i[n] == ">":
            return False
        if token != "*" and (i[n] == "*" or i[n] != token):
            return False
    return len(i) == len(o)


def overlap(a: str, b: str) -> bool:
    """Some subject is matched by both patterns."""
    x, y = a.split("."), b.split(".")
    for n in range(max(len(x), len(y))):
        if n < len(x) and x[n] == ">":
            return len(y) > n
        if n < len(y) and y[n] == ">":
            return len(x) > n
        if n >= len(x) or n >= len(y):
            return False
        if "*" not in (x[n], y[n]) and x[n] != y[n]:
            return False
    return True


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("campaign.>", "campaign.created", True),
        ("campaign.>", "campaign", False),
        ("email.*", "email.due", True),
        ("email.*", "email.due.now", False),
        ("email.due", "email.due", True),
        ("email.due", "email.sent", False),
        ("recipient.>", "recipient.unsubscribed", True),
    ],
)
def test_subject_matching_follows_nats_rules(pattern: str, subject: str, expected: bool) -> None:
    assert matches(pattern, subject) is expected


@pytest.mark.parametrize(
    ("inner", "outer", "inside", "overlapping"),
    [
        ("campaign.created", "campaign.>", True, True),
        ("campaign.>", "campaign.>", True, True),
        ("campaign.>", "campaign.*", False, True),
        ("campaign.*", "campaign.>", True, True),
        ("email.sent", "email.due", False, False),
        ("email.>", "email.due", False, True),
        ("audience.>", "campaign.>", False, False),
    ],
)
def test_pattern_relations(inner: str, outer: str, inside: bool, overlapping: bool) -> None:
    assert within(inner, outer) is inside
    assert overlap(inner, outer) is overlapping is overlap(outer, inner)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_subject_is_captured_by_exactly_one_stream(event_type: str) -> None:
    holders = [s.name for s in STREAMS if any(matches(p, event_type) for p in s.subjects)]

    assert len(holders) == 1, f"{event_type} is in {holders or 'no stream'}"


def test_every_stream_subject_carries_some_event() -> None:
    for stream in STREAMS:
        for pattern in stream.subjects:
            assert any(matches(pattern, t) for t in EVENT_TYPES), (stream.name, pattern)


def test_no_two_streams_share_a_subject() -> None:
    # JetStream refuses to create a stream whose subjects overlap another's.
    for a, b in combinations(STREAMS, 2):
        for x in a.subjects:
            for y in b.subjects:
                assert not overlap(x, y), f"{a.name} {x} overlaps {b.name} {y}"


def test_stream_names_are_unique_and_valid() -> None:
    names = [s.name for s in STREAMS]

    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Z][A-Z_]*", n) for n in names)


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda c: c.durable)
def test_every_consumer_filter_belongs_to_its_stream(spec: ConsumerSpec) -> None:
    stream = TOPOLOGY.stream(spec.stream)

    for subject in spec.filter_subjects:
        assert any(within(subject, p) for p in stream.subjects), (spec.durable, subject)
        assert any(matches(subject, t) for t in EVENT_TYPES), (spec.durable, subject)
    # A consumer's filters must not overlap each other either.
    for x, y in combinations(spec.filter_subjects, 2):
        assert not overlap(x, y), (spec.durable, x, y)


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda c: c.durable)
def test_every_consumer_has_sane_delivery_settings(spec: ConsumerSpec) -> None:
    assert spec.service in SERVICES
    assert re.fullmatch(r"[a-z][a-z0-9_-]*", spec.durable)  # no '.', '*', '>' or spaces
    assert spec.ack_wait_seconds > 0
    assert spec.max_deliver >= 1
    assert spec.backoff_seconds
    assert all(d > 0 for d in spec.backoff_seconds)
    assert spec.batch_size >= 1


def test_durable_names_are_unique() -> None:
    durables = [c.durable for c in CONSUMERS]

    assert len(set(durables)) == len(durables)


def test_consumers_of_selects_a_services_consumers() -> None:
    assert {c.stream for c in TOPOLOGY.consumers_of("mailer")} == {
        "ABTESTS", "CAMPAIGNS", "CONTENT", "ENGAGEMENT", "JOURNEYS", "TRANSACTIONAL",
    }
    assert TOPOLOGY.consumers_of("nobody") == ()
