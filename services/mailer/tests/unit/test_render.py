"""MIME rendering: parse what the renderer produced the way a mail client would."""

from __future__ import annotations

import binascii
import email
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contracts.links import LinkClaims, LinkSigner
from mailer.domain import Content, CrlfMessage, InvalidMessage, Recipient, Sender
from mailer.links import SignedLinks
from mailer.mime import FALLBACK_NAME, EncodedPart, merge, merge_values, smtp_address
from mailer.render import EmailTemplate, MessageMeta, list_id, render_message

CAMPAIGN = uuid.UUID("8a4b0d0e-2f40-4c61-9f3a-4f6b8b1c2d3e")
SENDER = Sender("Flower Shop", "news@flowers.example", reply_to="help@flowers.example")
ANN = Recipient("ann@example.com", "Ann Lee", {"city": "Utrecht"})
CONTENT = Content(
    subject="{{first_name}}, tulips are here",
    preheader="Picked for {{name}}",
    body_html="<html><head></head><body><p>Dear {{name}} in {{city}}</p></body></html>",
    body_text="Dear {{name}} in {{city}}.\nWrite to us: {{email}}",
)
SIGNER = LinkSigner("unit-test-link-key-0123456789abcdef")
BASE = "https://mail.example.org"
LINKS = SignedLinks(SIGNER, BASE, LinkClaims(uuid.uuid4(), CAMPAIGN, 1, ANN.email))
META = MessageMeta(
    message_id="<0d2c4a5e-1111-4222-8333-944455556666@flowers.example>",
    date=datetime(2030, 3, 4, 9, 0, 5, tzinfo=UTC),
    links=LINKS,
)
LIST_ID = list_id(CAMPAIGN, "Spring news", "flowers.example")


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def render(
    sender: Sender = SENDER, recipient: Recipient = ANN, content: Content = CONTENT,
    meta: MessageMeta = META,
) -> EmailMessage:
    data = render_message(sender, recipient, content, meta, list_id=LIST_ID)
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
    unsubscribe = str(message["List-Unsubscribe"])
    assert unsubscribe.startswith(f"<{BASE}/u/")
    assert unsubscribe.endswith(">")
    claims = SIGNER.verify("unsubscribe", unsubscribe.removeprefix(f"<{BASE}/u/")[:-1])
    assert (claims.campaign_id, claims.sequence, claims.email) == (CAMPAIGN, 1, ANN.email)
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
    unsubscribe = LINKS.unsubscribe()
    assert f"Unsubscribe: {unsubscribe}" in text
    assert "<p>Dear Ann Lee in Utrecht</p>" in html
    assert f'<a href="{unsubscribe}">Unsubscribe</a>' in html
    # The preference centre's link beside it, signed for that purpose only.
    preferences = LINKS.preferences()
    assert f"Preferences: {preferences}" in text
    assert f'<a href="{preferences}">Manage preferences</a>' in html
    claims = SIGNER.verify("preferences", preferences.removeprefix(f"{BASE}/p/"))
    assert claims.email == ANN.email
    assert f'<img src="{LINKS.open_pixel()}" width="1" height="1"' in html
    assert "{{" not in text + html
    # Only the message itself says MIME-Version, not each part.
    assert [p["MIME-Version"] for p in parts] == [None, None]
    assert [p["Content-Transfer-Encoding"] for p in parts] == ["quoted-printable"] * 2


def test_every_tracked_html_email_hides_a_trap_link_no_person_sees_or_reaches() -> None:
    parts = list(render().iter_parts())
    text, html = (p.get_content() for p in parts)
    trap = LINKS.trap()
    assert html.count(trap) == 1
    # Empty, hidden, out of the tab order and of screen readers; not in the text part.
    assert (f'<a href="{trap}" style="display:none" aria-hidden="true" tabindex="-1"></a>'
            in html)
    assert trap not in text
    # The recipient's own click token on its own: campaign-api tells whose email it was.
    claims = SIGNER.verify_trap(trap.removeprefix(f"{BASE}/t/"))
    assert (claims.campaign_id, claims.sequence, claims.email) == (CAMPAIGN, 1, ANN.email)


def test_links_are_tracked_with_signed_click_tokens() -> None:
    content = Content("Hi", "", (
        '<p><a href="https://shop.example/tulips?c={{city}}&amp;x=1">Tulips</a>'
        "<a href='http://shop.example/'>Shop</a> <a href=\"mailto:a@b.example\">Mail</a></p>"
    ), "Hi")
    html = render(content=content).get_body(("html",))
    assert html is not None
    source = html.get_content()
    tokens = [t.split('"')[0].split("'")[0] for t in source.split(f"{BASE}/c/")[1:]]
    targets = [SIGNER.verify_click(*t.split("/")).url for t in tokens]
    assert targets == ["https://shop.example/tulips?c=Utrecht&x=1", "http://shop.example/"]
    odd = render(content=content, recipient=Recipient(ANN.email, "Ann", {"city": "a&b=c d"}))
    odd_html = odd.get_body(("html",))
    assert odd_html is not None
    first = odd_html.get_content().split(f"{BASE}/c/")[1].split('"')[0]
    assert SIGNER.verify_click(*first.split("/")).url == (
        "https://shop.example/tulips?c=a%26b%3Dc%20d&x=1")
    assert 'href="mailto:a@b.example"' in source
    assert "shop.example" not in source.replace(f"{BASE}/c/", "")


def test_style_blocks_are_inlined() -> None:
    content = Content("Hi", "", (
        "<html><head><style>p.lead { color: #ff0000 }</style></head>"
        '<body><p class="lead">Hello {{name}}</p></body></html>'
    ), "Hi")
    html = render(content=content).get_body(("html",))
    assert html is not None
    source = html.get_content()
    assert '<p class="lead" style="color: #ff0000;">Hello Ann Lee</p>' in source
    assert "<style>" not in source


def test_mailto_unsubscribe_is_offered_when_configured() -> None:
    data = render_message(SENDER, ANN, CONTENT, META, list_id=LIST_ID,
                          unsubscribe_mailto="unsubscribe@flowers.example")
    header = str(parse(data)["List-Unsubscribe"])
    mailto = "mailto:unsubscribe@flowers.example?subject=unsubscribe"
    assert header == f"<{LINKS.unsubscribe()}>, <{mailto}>"


def test_one_template_renders_each_recipient_alike() -> None:
    template = EmailTemplate.prepare(SENDER, CONTENT, list_id=LIST_ID)
    bob = Recipient("bob@example.com", "Bob")
    bob_links = SignedLinks(SIGNER, BASE, LinkClaims(uuid.uuid4(), CAMPAIGN, 1, bob.email))
    one = parse(template.render(bob, MessageMeta(META.message_id, META.date, bob_links)))
    alone = render(recipient=bob, meta=MessageMeta(META.message_id, META.date, bob_links))
    assert one.as_bytes() == alone.as_bytes()
    assert one["Subject"] == "Bob, tulips are here"


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
    assert source.rstrip().endswith('style="display:block;border:0">')
    assert "Unsubscribe</a></p><img src=" in source


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
        # Line breaks to Python's email package (str.splitlines) as well, which folding a
        # long subject would turn into a header of their own.
        (SENDER, ANN, Content("x" * 70 + "\x0bBcc: all@example.net", "", "<p/>", ""),
         "subject"),
        (SENDER, Recipient("ann@example.com", "Ann\u2028Bcc: all@example.net"), CONTENT,
         "to name"),
    ],
)
def test_header_injection_is_rejected(
    sender: Sender, recipient: Recipient, content: Content, blamed: str
) -> None:
    with pytest.raises(InvalidMessage, match=f"^{blamed}: line breaks"):
        render_message(sender, recipient, content, META, list_id=LIST_ID)


def test_injection_through_the_message_meta_is_rejected() -> None:
    meta = MessageMeta("<x@y.example>\r\nBcc: all@example.net", META.date, LINKS)
    with pytest.raises(InvalidMessage, match="message-id"):
        render_message(SENDER, ANN, CONTENT, meta, list_id=LIST_ID)


def test_addresses_that_cannot_be_sent_safely_are_rejected() -> None:
    with pytest.raises(InvalidMessage, match="non-ASCII local part"):
        render_message(SENDER, Recipient("jörg@example.com"), CONTENT, META,
                       list_id=LIST_ID)
    with pytest.raises(InvalidMessage, match="not local@domain"):
        render_message(SENDER, Recipient("nobody"), CONTENT, META, list_id=LIST_ID)


# What a mail client decodes into a line break and a header of its own, if sent verbatim.
ENCODED_BCC = "=?utf-8?q?Hi=0D=0ABcc:_all@example.net?="


@pytest.mark.parametrize("subject", [
    ENCODED_BCC, f"News {ENCODED_BCC} today", "=?us-ascii?B?SGkNCkJjYzogYWxsQGV4YW1wbGUubmV0?=",
    "x" * 80 + ENCODED_BCC, f"Grüße {ENCODED_BCC}",
])
def test_text_that_looks_like_an_encoded_word_shows_literally_in_the_subject(
    subject: str,
) -> None:
    message = render(content=Content(subject, "", "<p>x</p>", "x"))
    assert message["Subject"] == subject
    assert message["Bcc"] is None
    assert "\n" not in str(message["Subject"])


@pytest.mark.parametrize("name", [ENCODED_BCC, f"Shop {ENCODED_BCC}", '=?utf-8?q?"Shop"?='])
def test_a_display_name_that_looks_like_an_encoded_word_shows_literally(name: str) -> None:
    message = render(sender=Sender(name, "news@flowers.example"),
                     recipient=Recipient("ann@example.com", name))
    assert message["From"].addresses[0].display_name == name
    assert message["From"].addresses[0].addr_spec == "news@flowers.example"
    assert message["To"].addresses[0].display_name == name
    assert message["Bcc"] is None


def test_a_campaign_name_that_looks_like_an_encoded_word_is_left_out_of_the_list_id() -> None:
    assert list_id(CAMPAIGN, ENCODED_BCC, "x.example") == f"<{CAMPAIGN}.x.example>"


def test_list_id_keeps_only_a_plain_ascii_name() -> None:
    assert list_id(CAMPAIGN, "Spring news", "x.example") == (
        f'"Spring news" <{CAMPAIGN}.x.example>'
    )
    assert list_id(CAMPAIGN, 'Say "hi"', "x.example") == f"<{CAMPAIGN}.x.example>"
    assert list_id(CAMPAIGN, "Frühling", "x.example") == f"<{CAMPAIGN}.x.example>"


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@settings(max_examples=300, deadline=None)
@example(literals=["x" * 76, "y" * 149 + "=" * 30, "z" * 75 + " "], values=["é" * 40, ""],
         plain="")
@given(literals=st.lists(_TEXT, min_size=1, max_size=5), values=st.lists(_TEXT, max_size=4),
       plain=st.from_regex(r"[!-<>-~]{0,400}", fullmatch=True))
def test_encoded_parts_decode_to_the_merged_text(
    literals: list[str], values: list[str], plain: str
) -> None:
    # Literals and values encoded apart must join into valid quoted-printable that decodes
    # to the text merged whole, whatever lengths, spaces, "=" or non-ASCII they hold.
    fields = [*values, plain]
    names = [f"f{i}" for i in range(len(fields))]
    pairs = zip(literals, names, strict=False)
    template = "".join(f"{literal}{{{{{name}}}}}" for literal, name in pairs)
    template += "".join(literals[len(names):])
    part = EncodedPart.compile("=_b", "plain", template + "end")
    merged = dict(zip(names, fields, strict=True))
    data = part.fill(merged)
    assert data.startswith(b"--=_b\r\n")
    body = data.split(b"\r\n\r\n", 1)[1]
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    expected = merge(template + "end", merged).replace("\r\n", "\n").replace("\r", "\n")
    decoded = binascii.a2b_qp(body).decode("utf-8").replace("\r\n", "\n")
    assert decoded == expected + "\n" * (not expected.endswith("\n"))


# Line breaks of every kind, dots and merge fields, in the campaign's text and the recipient's.
_BROKEN = st.lists(st.sampled_from(["a", "é", " ", ".", "=", "\t", "\r", "\n", "\r\n", "\u2028",
                                    "<p>", "https://x.example/a.b", "{{city}}", "{{name}}"]),
                   max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(subject=st.text(st.sampled_from("ab .=é"), max_size=100), preheader=_BROKEN,
       body_html=_BROKEN, body_text=_BROKEN, city=_BROKEN)
def test_every_line_of_a_rendered_message_ends_in_crlf(
    subject: str, preheader: str, body_html: str, body_text: str, city: str
) -> None:
    # The transport sends a CrlfMessage without normalising its line ends: whatever line
    # breaks the campaign or the recipient bring, none but CRLF may be in it.
    content = Content(f"{subject}{{{{first_name}}}}", preheader, body_html, body_text)
    data = render_message(SENDER, Recipient(ANN.email, "Ann Lee", {"city": city}), content,
                          META, list_id=LIST_ID)
    assert isinstance(data, CrlfMessage)
    assert data.endswith(b"\r\n")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert b"\n" not in data.replace(b"\r\n", b"")
