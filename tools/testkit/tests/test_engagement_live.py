"""The simulator reads messages as the mailer renders them, and fetches the URLs it decided on
with the user agents it chose."""

from __future__ import annotations

import email
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy

import httpx
import pytest

from contracts.links import LinkSigner
from mailer.domain import Content, Recipient, Sender
from mailer.links import EmailLinks
from mailer.render import EmailTemplate, MessageMeta, list_id
from testkit.engagement import APPLE_PROXY, BROWSER, SCANNER, Contact
from testkit.engagement_live import TrackedMessage, decide, simulate, tracked

WORKSPACE, CAMPAIGN = uuid.uuid4(), uuid.uuid4()
SIGNER = LinkSigner("engagement-simulator-key-0123456789")
BASE = "http://127.0.0.1:8000"
CONTENT = Content(
    subject="Tulips, {{first_name}}",
    preheader="Picked this week",
    body_html=('<html><body><p>Dear {{name}},</p><p><a href="https://shop.example/tulips">'
               'Tulips</a> and <a href="https://shop.example/roses?a=1&amp;b=2">roses</a>.'
               '</p></body></html>'),
    body_text="Dear {{name}}, tulips and roses.",
)
SENT = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def rendered(address: str, sequence: int = 2) -> EmailMessage:
    template = EmailTemplate.prepare(Sender("Flowers", "news@flowers.example"), CONTENT,
                                     list_id=list_id(CAMPAIGN, "Spring", "flowers.example"))
    links = EmailLinks(SIGNER, BASE, WORKSPACE, CAMPAIGN, sequence).recipient(address)
    data = template.render(Recipient(address, "Ann Lee", {}),
                           MessageMeta(f"<{uuid.uuid4()}@flowers.example>", SENT, links))
    message = email.message_from_bytes(data, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def contact(address: str, machine: str | None = None) -> Contact:
    return Contact(address, {"educational": 0.5}, open_rate=1.0, best_hour=19,
                   zone="Europe/Amsterdam", machine=machine)  # type: ignore[arg-type]


def test_a_rendered_message_gives_its_email_pixel_links_and_trap() -> None:
    found = tracked(rendered("ann@example.com"))
    assert found is not None
    assert (found.recipient, found.campaign_id, found.sequence) == (
        "ann@example.com", CAMPAIGN, 2)
    assert found.delivered_at == SENT
    assert found.pixel.startswith(f"{BASE}/o/")
    assert found.pixel.endswith(".gif")
    assert len(found.links) == 2
    assert all(link.startswith(f"{BASE}/c/") for link in found.links)
    assert found.trap is not None
    assert found.trap.startswith(f"{BASE}/t/")
    # The links are those the recipient's tokens sign, in the order of the email.
    targets = [SIGNER.verify_click(*link.removeprefix(f"{BASE}/c/").split("/")).url
               for link in found.links]
    assert targets == ["https://shop.example/tulips", "https://shop.example/roses?a=1&b=2"]


def test_a_message_without_a_pixel_is_none_of_the_simulators_business() -> None:
    message = EmailMessage()
    message["To"] = "ann@example.com"
    message.set_content("Confirm your sign-up.")
    message.add_alternative("<p>Confirm your sign-up.</p>", subtype="html")
    assert tracked(message) is None


def test_the_local_hour_is_the_contacts_and_the_draw_is_the_messages_own() -> None:
    message = tracked(rendered("ann@example.com"))
    assert message is not None
    # 18:00 UTC is 19:00 in Amsterdam: the contact's best hour, so they mostly read it
    # within the hour (had it been taken for 18:00, an hour later at the soonest).
    opens = [e for seed in range(100)
             for e in decide(contact("ann@example.com"), message, "educational", seed=seed)
             if e.kind == "open"]
    assert len(opens) == 100
    assert sum(e.after.total_seconds() < 3600 for e in opens) >= 70
    assert decide(contact("ann@example.com"), message, "educational", seed=5) == decide(
        contact("ann@example.com"), message, "educational", seed=5)


class Recorder:
    """An HTTP endpoint that answers like campaign-api's tracking routes and keeps what it was
    asked, so the test sees the simulator's requests themselves."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append((request.url.path.split("/")[1], request.headers["user-agent"]))
        if request.url.path.startswith("/c/"):
            return httpx.Response(302, headers={"location": "https://shop.example/"})
        return httpx.Response(200)


def test_each_message_is_engaged_with_once_through_its_own_urls() -> None:
    people = {"ann@example.com": contact("ann@example.com"),
              "bob@example.com": contact("bob@example.com", "scanner"),
              "cy@example.com": contact("cy@example.com", "apple_proxy")}
    messages = [rendered(a) for a in (*people, "stranger@example.com")]
    recorder = Recorder()
    seen: set[tuple[str, uuid.UUID, int]] = set()

    def structure_of(message: TrackedMessage) -> str:
        assert message.campaign_id == CAMPAIGN
        return "educational"

    with httpx.Client(transport=httpx.MockTransport(recorder)) as client:
        fetched = simulate(messages, people, structure_of, seed=1, seen=seen, client=client)
        again = simulate(messages, people, structure_of, seed=1, seen=seen, client=client)
    assert again == []
    assert {f.message.recipient for f in fetched} == set(people)
    by = {a: [(f.event.kind, f.event.agent) for f in fetched if f.message.recipient == a]
          for a in people}
    assert by["bob@example.com"][:3] == [("click", SCANNER), ("click", SCANNER),
                                         ("trap", SCANNER)]
    assert by["cy@example.com"][0] == ("open", APPLE_PROXY)
    assert ("open", BROWSER) not in by["cy@example.com"]
    assert by["ann@example.com"][0] == ("open", BROWSER)
    assert [(path, agent) for path, agent in recorder.asked] == [
        ({"open": "o", "click": "c", "trap": "t"}[f.event.kind], f.event.agent) for f in fetched]
    assert {f.status for f in fetched} <= {200, 302}


def test_a_broken_link_stops_the_simulation_naming_it() -> None:
    people = {"ann@example.com": contact("ann@example.com")}
    with httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(404))) as client, \
            pytest.raises(RuntimeError, match="answered 404"):
        simulate([rendered("ann@example.com")], people, lambda _: "educational", seed=1,
                 client=client)
