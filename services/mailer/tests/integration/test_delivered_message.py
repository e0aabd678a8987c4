"""A delivered message as a mail client and an inbox provider see it: every header, both
parts, the DKIM signature checked with dkimpy against the public key, the signed links."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import TYPE_CHECKING

import dkim  # type: ignore[import-untyped]

from mailer.dkim_signing import SIGNED_HEADERS, DkimSigner

if TYPE_CHECKING:  # test modules cannot import each other; the fixtures provide these
    from conftest import ScriptedSmtp, World

KEYS = Path(__file__).parents[1]
SELECTOR, DOMAIN = "mail2030", "flowers.example"
BASE = "https://mail.example.org"
ANN = "ann@example.com"


def dns_txt(name: bytes, timeout: int = 5) -> bytes | None:
    """The DKIM key record the domain would publish: `mail2030._domainkey.flowers.example`."""
    if name.rstrip(b".") != f"{SELECTOR}._domainkey.{DOMAIN}".encode():
        return None
    return b"v=DKIM1; k=rsa; p=" + (KEYS / "dkim-test-key.pub.b64").read_bytes().strip()


async def test_delivered_message_is_complete_signed_and_its_links_verify(
    world: World, smtp: ScriptedSmtp
) -> None:
    world.options = replace(
        world.options,
        dkim=DkimSigner(SELECTOR, DOMAIN, (KEYS / "dkim-test-key.pem").read_bytes()),
        unsubscribe_mailto="unsubscribe@flowers.example",
    )
    await world.campaign(name="Spring news")
    await world.members((ANN, "Ann Lee", {"city": "Utrecht"}))
    await world.content(
        1,
        body_html=(
            "<html><head><style>p { color: #333333 }</style></head><body>"
            '<p>Dear {{name}} in {{city}}, <a href="https://shop.example/tulips">tulips</a>'
            "</p></body></html>"
        ),
    )
    now = world.send_at + timedelta(seconds=2)
    assert await world.send(now) == 1

    (raw,) = smtp.raw
    assert dkim.verify(raw, dnsfunc=dns_txt)
    tampered = raw.replace(b"Subject: Hello Ann", b"Subject: Hello Bob")
    assert not dkim.verify(tampered, dnsfunc=dns_txt)

    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    assert message.defects == []
    (row,) = (await world.deliveries()).values()
    signature = str(message["DKIM-Signature"]).replace(" ", "")
    assert f"d={DOMAIN};" in signature
    assert f"s={SELECTOR};" in signature
    signed = signature.split("h=")[1].split(";")[0].lower().split(":")
    assert signed == [h.decode().lower() for h in SIGNED_HEADERS]

    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Flower Shop", "news@flowers.example")
    (to,) = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Ann Lee", ANN)
    assert message["Reply-To"].addresses[0].addr_spec == "help@flowers.example"
    assert message["Subject"] == "Hello Ann"
    assert message["Date"].datetime == now.replace(microsecond=0)
    assert message["Message-ID"] == row.message_id
    assert message["List-Id"] == f'"Spring news" <{world.campaign_id}.flowers.example>'
    https, mailto = (u.strip(" <>") for u in str(message["List-Unsubscribe"]).split(","))
    assert mailto == "mailto:unsubscribe@flowers.example?subject=unsubscribe"
    assert https.startswith(f"{BASE}/u/")
    claims = world.options.link_signer.verify("unsubscribe", https.removeprefix(f"{BASE}/u/"))
    assert (claims.workspace_id, claims.campaign_id, claims.sequence, claims.email) == (
        world.workspace_id, world.campaign_id, 1, ANN)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["MIME-Version"] == "1.0"

    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    for part in (text, html):
        assert part["MIME-Version"] is None
        assert part.get_content_charset() == "utf-8"
    assert f"Unsubscribe: {https}" in text.get_content()
    source = html.get_content()
    assert '<p style="color: #333333;">Dear Ann Lee in Utrecht' in source
    assert "<style>" not in source
    assert f'<a href="{https}">Unsubscribe</a>' in source
    click = source.split(f'href="{BASE}/c/')[1].split('"')[0]
    token, target = click.split("/")
    assert world.options.link_signer.verify_click(token, target).url == (
        "https://shop.example/tulips")
    pixel = source.split(f'<img src="{BASE}/o/')[1].split('.gif"')[0]
    assert world.options.link_signer.verify("open", pixel).email == ANN
    assert "https://shop.example" not in source
