"""The engagement simulator against a running system: it reads the messages the SMTP sink
received, finds each one's tracking pixel, tracked links and trap link as the mailer wrote
them, lets `testkit.engagement` decide what the recipient (or the machine in front of them)
does, and fetches those URLs over HTTP with the chosen user agents, so that campaign-api
records and classifies the engagement for real.

Events are fetched in the order the simulation puts them, without waiting for the times it
gives them: a person's open hours after delivery is fetched at once. Two things follow from
campaign-api's rules, as they would for such quick readers: a Gmail reader's own open (through
the image proxy) within a minute of delivery is taken for a prefetch, and a person's click
within a minute of a scanner's trap-link hit on the same message is taken for the scanner's.
Leave those machines out of a population whose human counts a test asserts exactly.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import random
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from testkit.engagement import Contact, Delivered, Event, engage

_PIXEL = re.compile(r"""<img\b[^>]*\bsrc\s*=\s*(["'])([^"']*/o/[^/"']+\.gif)\1""", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(["'])([^"']+)\1""", re.IGNORECASE)
_CLICK = re.compile(r"/c/([^/?#]+)/[^/?#]+$")
_TRAP = re.compile(r"/t/[^/?#]+$")


@dataclass(frozen=True)
class TrackedMessage:
    """One delivered campaign message and the tracking URLs in it."""

    recipient: str
    campaign_id: uuid.UUID
    sequence: int
    delivered_at: datetime  # its Date header
    pixel: str
    links: tuple[str, ...]  # the tracked click links, in document order
    trap: str | None


@dataclass(frozen=True)
class Fetched:
    message: TrackedMessage
    event: Event
    url: str
    status: int


def tracked(message: EmailMessage) -> TrackedMessage | None:
    """The tracking URLs of a campaign message; None for a message without an open pixel (a
    transactional one, such as a sign-up's confirmation)."""
    part = message.get_body(preferencelist=("html",))
    if part is None:
        return None
    body = str(part.get_content())
    pixel = _PIXEL.search(body)
    if pixel is None:
        return None
    pixel_url = html.unescape(pixel.group(2))
    hrefs = [html.unescape(m.group(2)) for m in _HREF.finditer(body)]
    links = tuple(h for h in hrefs if _CLICK.search(h))
    trap = next((h for h in hrefs if _TRAP.search(h)), None)
    claims = _claims(pixel_url.rsplit("/o/", 1)[1].removesuffix(".gif"))
    date = message["Date"]
    delivered_at = parsedate_to_datetime(str(date)) if date else datetime.now(UTC)
    if delivered_at.tzinfo is None:  # "-0000": a time in UTC, its zone unsaid
        delivered_at = delivered_at.replace(tzinfo=UTC)
    return TrackedMessage(
        recipient=str(claims[3]), campaign_id=uuid.UUID(str(claims[1])),
        sequence=int(claims[2]), delivered_at=delivered_at, pixel=pixel_url, links=links,
        trap=trap)


def _claims(token: str) -> list[Any]:
    """The claims a link token carries, read without verifying it (campaign-api verifies):
    the token is base64(JSON list).timestamp.signature, the list [workspace, campaign,
    sequence, email, ...] (contracts.links)."""
    payload = token.split(".", 1)[0]
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a link token: {token[:40]}") from exc
    if not isinstance(data, list) or len(data) < 4:
        raise ValueError(f"not a link token: {token[:40]}")
    return data


StructureOf = Callable[[TrackedMessage], str]


def report_structures(api: httpx.Client) -> StructureOf:
    """The structure of each message's email, as GET /api/campaigns/{id}/report lists it
    (`api` authorised for the campaign's workspace); read once per campaign, again when an
    email is not in it yet."""
    known: dict[tuple[uuid.UUID, int], str] = {}

    def structure_of(message: TrackedMessage) -> str:
        key = (message.campaign_id, message.sequence)
        if key not in known:
            response = api.get(f"/api/campaigns/{message.campaign_id}/report")
            response.raise_for_status()
            for email in response.json()["emails"]:
                if email["structure"]:
                    known[(message.campaign_id, email["sequence"])] = email["structure"]
        if key not in known:
            raise LookupError(f"no structure for email {message.sequence} of campaign "
                              f"{message.campaign_id} in its report")
        return known[key]

    return structure_of


def decide(contact: Contact, message: TrackedMessage, structure: str,
           seed: int) -> tuple[Event, ...]:
    """The simulation's events for one message, seeded by (seed, recipient, campaign,
    sequence): the same in every run, whichever order the messages are read in."""
    local = message.delivered_at.astimezone(ZoneInfo(contact.zone))
    rng = random.Random(f"{seed}:{contact.email}:{message.campaign_id}:{message.sequence}")
    return engage(contact, Delivered(structure, local.hour, len(message.links)), rng)


def url_of(message: TrackedMessage, event: Event) -> str | None:
    if event.kind == "open":
        return message.pixel
    if event.kind == "trap":
        return message.trap
    assert event.link is not None
    return message.links[event.link]


def simulate(
    messages: Iterable[EmailMessage],
    contacts: Mapping[str, Contact],
    structure_of: StructureOf,
    *,
    seed: int,
    seen: set[tuple[str, uuid.UUID, int]] | None = None,
    client: httpx.Client | None = None,
) -> list[Fetched]:
    """Engage with every campaign message to one of `contacts` (by address), fetching its
    tracking URLs; messages to others are left alone. Pass the same `seen` set to later calls
    so that a message already engaged with is not engaged with again. A fetch answered with
    anything but 200 or a redirect is an error: the message's links are broken."""
    seen = set() if seen is None else seen
    own = client is None
    http = client or httpx.Client(timeout=10, follow_redirects=False)
    fetched: list[Fetched] = []
    try:
        for raw in messages:
            message = tracked(raw)
            if message is None or (contact := contacts.get(message.recipient)) is None:
                continue
            key = (message.recipient, message.campaign_id, message.sequence)
            if key in seen:
                continue
            seen.add(key)
            for event in decide(contact, message, structure_of(message), seed):
                url = url_of(message, event)
                if url is None:
                    continue
                response = http.get(url, headers={"user-agent": event.agent})
                if response.status_code not in (200, 302):
                    raise RuntimeError(f"{event.kind} of {message.recipient}'s email "
                                       f"{message.sequence}: {url} answered "
                                       f"{response.status_code}")
                fetched.append(Fetched(message, event, url, response.status_code))
    finally:
        if own:
            http.close()
    return fetched
