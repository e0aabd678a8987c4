"""Tracked links: an email's links for each of its recipients verify as campaign-api reads them."""

from __future__ import annotations

import uuid

from contracts.links import LinkClaims, LinkSigner
from mailer.links import EmailLinks, SignedLinks

SIGNER = LinkSigner("unit-test-link-key-0123456789abcdef")
BASE = "https://mail.example.org"
WORKSPACE, CAMPAIGN = uuid.uuid4(), uuid.uuid4()


def _token(url: str, prefix: str) -> str:
    assert url.startswith(f"{BASE}/{prefix}/")
    return url.removeprefix(f"{BASE}/{prefix}/")


def test_each_recipient_of_an_email_gets_links_of_their_own() -> None:
    email = EmailLinks(SIGNER, BASE, WORKSPACE, CAMPAIGN, 2)
    ann, bob = email.recipient("ann@example.com"), email.recipient("bob@example.com")
    for links, address in ((ann, "ann@example.com"), (bob, "bob@example.com")):
        claims = LinkClaims(WORKSPACE, CAMPAIGN, 2, address)
        assert SIGNER.verify("unsubscribe", _token(links.unsubscribe(), "u")) == claims
        assert SIGNER.verify("open", _token(links.open_pixel(), "o").removesuffix(".gif")) == claims
        click = SIGNER.verify_click(*_token(links.click("https://shop.example/a"), "c").split("/"))
        assert click == LinkClaims(WORKSPACE, CAMPAIGN, 2, address, url="https://shop.example/a")
        assert SIGNER.verify_trap(_token(links.trap(), "t")) == claims
    # The target names the email and the URL only: signed once, shared by every recipient.
    ann_target = ann.click("https://shop.example/a").rpartition("/")[2]
    assert bob.click("https://shop.example/a").rpartition("/")[2] == ann_target
    assert ann.click("https://shop.example/b").rpartition("/")[2] != ann_target


def test_one_recipients_links_on_their_own() -> None:
    links = SignedLinks(SIGNER, BASE, LinkClaims(WORKSPACE, CAMPAIGN, 1, "ann@example.com"))
    claims = SIGNER.verify_click(*_token(links.click("https://shop.example/"), "c").split("/"))
    assert claims == LinkClaims(WORKSPACE, CAMPAIGN, 1, "ann@example.com",
                                url="https://shop.example/")
