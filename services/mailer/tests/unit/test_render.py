"""MIME rendering: parse what the renderer produced the way a mail client would."""

from __future__ import annotations

import email
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest

from mailer.domain import Content, InvalidMessage, Recipient, Sender
from mailer.render import (
    FALLBACK_NAME,
    MessageMeta,
    list_id,
    merge,
    merge_values,
    render_message,
    smtp_address,
)

CAMPAIGN = uuid.UUID("8a4b0d0e-2f40-4c61-9f3a-4f6b8b1c2d3e")
SENDER = Sender("Flower Shop", "news@flowers.example", reply_to="help@flowers.example")
ANN = Recipient("ann@example.com", "Ann Lee", {"city": "Utrecht"})
CONTENT = Content(
    subject="{{first_name}}, tulips are here",
    preheader="Picked for {{name}}",
    body_html="<html><head></head><body><p>Dear {{name}} in {{city}}</p></body></html>",
    body_text="Dear {{name}} in {{city}}.\nWrite to us: {{email}}",
)
META = MessageMeta(
    message_id="<0d2c4a5e-1111-4222-8333-944455556666@flowers.example>",
    date=datetime(2030, 3, 4, 9, 0, 5, tzinfo=UTC),
    list_id=list_id(CAMPAIGN, "Spring news", "flowers.example"),
    unsubscribe_url="https://mail.example.org/u/abc_DEF-123",
)


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def render(
    sender: Sender = SENDER, recipient: Recipient = ANN, content: Content = CONTENT,
    meta: MessageMeta = META,
) -> EmailMessage:
    data = render_message(sender, recipient, content, meta)
    # SMTP line ends only: no bare LF anywhere.
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    return parse(data)


def test_every_required_header() -> None:
    message = render()
    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Flower Shop", "news@flowers.example")
    (to,) = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Ann Lee", "ann@example.com")
    assert message["Reply-To"].addresses[0].addr_spec == "help@flowers.example"
    assert message["Subject"] == "Ann, tulips are here"
    assert message["Date"].datetime == META.date
    assert message["Message-ID"] == META.message_id
    assert message["List-Id"] == f'"Spring news" <{CAMPAIGN}.flowers.example>'
    assert message["List-Unsubscribe"] == "<https://mail.example.org/u/abc_DEF-123>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["MIME-Version"] == "1.0"
    assert message.defects == []


def test_no_reply_to_header_without_a_reply_address() -> None:
    message = render(sender=Sender("Flower Shop", "news@flowers.example"))
    assert message["Reply-To"] is None


def test_text_and_html_alternatives_with_merged_fields() -> None:
    message = render()
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    text, html = (p.get_content() for p in parts)
    assert text.splitlines()[:2] == ["Dear Ann Lee in Utrecht.", "Write to us: ann@example.com"]
    assert "Unsubscribe: https://mail.example.org/u/abc_DEF-123" in text
    assert "<p>Dear Ann Lee in Utrecht</p>" in html
    assert '<a href="https://mail.example.org/u/abc_DEF-123">Unsubscribe</a>' in html
    assert "{{" not in text + html


def test_preheader_is_the_first_hidden_element_of_the_body() -> None:
    html = render().get_body(("html",))
    assert html is not None
    body = html.get_content().split("<body>", 1)[1]
    assert body.startswith('<div style="display:none;')
    assert 'aria-hidden="true">Picked for Ann Lee</div><p>Dear' in body


def test_html_without_body_tag_gets_preheader_first_and_footer_last() -> None:
    content = Content("Hi", "Peek", "<p>Hello</p>", "Hello")
    html = render(content=content).get_body(("html",))
    assert html is not None
    source = html.get_content()
    assert source.startswith('<div style="display:none;')
    assert source.rstrip().endswith("Unsubscribe</a></p>")


def test_merge_values_have_safe_defaults() -> None:
    values = merge_values(Recipient("x@example.com"))
    assert values == {"first_name": FALLBACK_NAME, "name": FALLBACK_NAME,
                      "email": "x@example.com"}
    named = merge_values(Recipient("x@example.com", "  Mary Ann Smith "))
    assert (named["first_name"], named["name"]) == ("Mary", "Mary Ann Smith")
    own = merge_values(Recipient("x@example.com", "Mary", {"first_name": "Mimi"}))
    assert own["first_name"] == "Mimi"


def test_unknown_fields_become_empty_and_html_values_are_escaped() -> None:
    values = {"name": "<b>Tom & Jerry</b>"}
    assert merge("Hi {{ name }}{{unknown}}!", values) == "Hi <b>Tom & Jerry</b>!"
    escaped = merge("<p>{{NAME}}</p>", values, escape=lambda v: v.replace("<", "&lt;"))
    assert escaped == "<p>&lt;b>Tom & Jerry&lt;/b></p>"
    message = render(recipient=Recipient("t@example.com", "<script>x</script>"))
    html = message.get_body(("html",))
    assert html is not None
    assert "<script>" not in html.get_content()
    assert "&lt;script&gt;x&lt;/script&gt;" in html.get_content()


def test_non_ascii_names_and_domains_are_encoded() -> None:
    message = render(sender=Sender("Zoë's Blumen", "news@blumen.example"),
                     recipient=Recipient("jorg@bücher.example", "Jörg"))
    assert message["From"].addresses[0].display_name == "Zoë's Blumen"
    assert message["To"].addresses[0].domain == "xn--bcher-kva.example"
    assert smtp_address("jorg@bücher.example") == "jorg@xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("sender", "recipient", "content", "blamed"),
    [
        (SENDER, Recipient("ann@example.com", "Ann\r\nBcc: all@example.net"), CONTENT,
         "to name"),
        (Sender("Shop\nBcc: all@example.net", "news@flowers.example"), ANN, CONTENT,
         "from name"),
        (SENDER, Recipient("ann@example.com", "Ann", {"first_name": "A\r\nX-Evil: 1"}),
         CONTENT, "subject"),
        (SENDER, ANN, Content("Hi\nBcc: all@example.net", "", "<p/>", ""), "subject"),
        (Sender("Shop", "news@flowers.example", reply_to="a@b.example\r\nBcc: c@d.example"),
         ANN, CONTENT, "reply-to address"),
    ],
)
def test_header_injection_is_rejected(
    sender: Sender, recipient: Recipient, content: Content, blamed: str
) -> None:
    with pytest.raises(InvalidMessage, match=f"^{blamed}: line breaks"):
        render_message(sender, recipient, content, META)


def test_injection_through_the_message_meta_is_rejected() -> None:
    meta = MessageMeta(META.message_id, META.date, META.list_id,
                       "https://mail.example.org/u/x\r\nBcc: all@example.net")
    with pytest.raises(InvalidMessage, match="unsubscribe url"):
        render_message(SENDER, ANN, CONTENT, meta)


def test_addresses_that_cannot_be_sent_safely_are_rejected() -> None:
    with pytest.raises(InvalidMessage, match="non-ASCII local part"):
        render_message(SENDER, Recipient("jörg@example.com"), CONTENT, META)
    with pytest.raises(InvalidMessage, match="not local@domain"):
        render_message(SENDER, Recipient("nobody"), CONTENT, META)


def test_list_id_keeps_only_a_plain_ascii_name() -> None:
    assert list_id(CAMPAIGN, "Spring news", "x.example") == (
        f'"Spring news" <{CAMPAIGN}.x.example>'
    )
    assert list_id(CAMPAIGN, 'Say "hi"', "x.example") == f"<{CAMPAIGN}.x.example>"
    assert list_id(CAMPAIGN, "Frühling", "x.example") == f"<{CAMPAIGN}.x.example>"
