from __future__ import annotations

from typing import Any

import pytest

from content_generator.output import (
    MAX_PREHEADER,
    MAX_SUBJECT,
    InvalidOutputError,
    keep_merge_fields,
    parse_json_object,
    sanitise_html,
    validate_email,
)
from content_generator.plaintext import html_to_text


def _answer(**overrides: Any) -> dict[str, Any]:
    return {
        "subject": "Fresh bread on Tuesday",
        "preheader": "Your loaf is waiting.",
        "body_html": "<p>Hi {{first_name}},</p><p>Your loaf is ready.</p>",
        "body_text": "Hi {{first_name}},\n\nYour loaf is ready.",
        **overrides,
    }


def test_a_good_answer_passes_unchanged() -> None:
    email = validate_email(_answer())
    assert email.subject == "Fresh bread on Tuesday"
    assert email.preheader == "Your loaf is waiting."
    assert email.body_html == "<p>Hi {{first_name}},</p><p>Your loaf is ready.</p>"
    assert email.body_text == "Hi {{first_name}},\n\nYour loaf is ready."


def test_scripts_styles_and_event_handlers_are_removed() -> None:
    html = sanitise_html(
        '<html><head><title>T</title><style>p{color:red}</style></head><body>'
        '<p onclick="steal()" style="color:red">Hello</p><script>alert("x")</script>'
        '<img src="https://evil.example/pixel.gif" onerror="steal()"><iframe src="https://x">'
        "</iframe></body></html>"
    )
    assert html == "<p>Hello</p>"


@pytest.mark.parametrize(
    "href",
    ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
     "data:text/html;base64,PHNjcmlwdD4=", "vbscript:x", "/relative/path"],
)
def test_links_other_than_http_https_and_mailto_lose_their_target(href: str) -> None:
    html = sanitise_html(f'<p><a href="{href}">click</a></p>')
    assert html == "<p><a>click</a></p>"


def test_http_https_and_mailto_links_are_kept_with_their_title() -> None:
    html = sanitise_html(
        '<a href="https://example.com/a?b=1" title="Shop" target="_blank">a</a>'
        '<a href="http://example.com">b</a><a href="mailto:{{email}}">c</a>'
    )
    assert html == (
        '<a href="https://example.com/a?b=1" title="Shop">a</a>'
        '<a href="http://example.com">b</a><a href="mailto:{{email}}">c</a>'
    )


def test_the_email_tags_are_kept() -> None:
    html = (
        "<h1>a</h1><h2>b</h2><h3>c</h3><p>d<br><strong>e</strong><em>f</em><b>g</b><i>h</i>"
        "<span>i</span></p><ul><li>j</li></ul><ol><li>k</li></ol><blockquote>l</blockquote>"
        '<hr><div><table width="100%"><tr><td colspan="2" align="left">m</td></tr></table></div>'
    )
    # The HTML parser adds the tbody a browser would.
    expected = html.replace("<tr>", "<tbody><tr>").replace("</table>", "</tbody></table>")
    assert sanitise_html(html) == expected


def test_subject_and_preheader_become_one_line() -> None:
    email = validate_email(_answer(subject="  Fresh\r\nBcc: everyone@example.com\n bread ",
                                   preheader="Your\nloaf"))
    assert email.subject == "Fresh Bcc: everyone@example.com bread"
    assert email.preheader == "Your loaf"


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (_answer(subject="  \n "), "subject: empty"),
        (_answer(subject="x" * (MAX_SUBJECT + 1)), "subject: 151 characters"),
        (_answer(preheader="x" * (MAX_PREHEADER + 1)), "preheader: 201 characters"),
        (_answer(subject=42), "subject: expected a string"),
        (_answer(body_html="<script>x()</script>", body_text=" "), "body: neither"),
        ({"subject": "Hello"}, "body: neither"),
    ],
)
def test_unusable_answers_are_rejected_with_the_reason(
    answer: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidOutputError, match=problem):
        validate_email(answer)


def test_subject_of_exactly_the_limit_is_accepted() -> None:
    assert len(validate_email(_answer(subject="x" * MAX_SUBJECT)).subject) == MAX_SUBJECT


def test_a_missing_text_part_is_derived_from_the_html() -> None:
    email = validate_email(_answer(
        body_html="<h1>Fresh bread</h1><p>Hi {{first_name}}, &amp; welcome.</p>"
                  '<ul><li>Sourdough</li><li>Rye</li></ul><p><a href="https://example.com/club">'
                  "Join the club</a><br>See you</p>",
        body_text="",
    ))
    assert email.body_text == (
        "Fresh bread\n\nHi {{first_name}}, & welcome.\n\n- Sourdough\n- Rye\n\n"
        "Join the club (https://example.com/club)\nSee you"
    )


def test_a_missing_html_part_is_built_from_the_text_escaped() -> None:
    email = validate_email(_answer(body_html=None, body_text="Hi <you>,\n\nLine one\nline two"))
    assert email.body_html == "<p>Hi &lt;you&gt;,</p><p>Line one<br>line two</p>"


def test_a_script_only_html_part_is_rebuilt_from_the_text() -> None:
    email = validate_email(_answer(body_html="<script>alert(1)</script>", body_text="Hello"))
    assert email.body_html == "<p>Hello</p>"


def test_known_merge_fields_are_kept_and_others_removed() -> None:
    text = "Hi {{ first_name }} {{name}} <{{email}}>, {{company}} {{unsubscribe_url}}{% if x %}!"
    assert keep_merge_fields(text) == "Hi {{first_name}} {{name}} <{{email}}>,  !"


def test_merge_fields_are_filtered_in_every_part() -> None:
    email = validate_email(_answer(
        subject="For {{first_name}} at {{company}}", preheader="{{ coupon }}Hello",
        body_html="<p>{{first_name}} {{ discount_code }}</p>", body_text="{{last_name}} hi",
    ))
    assert email.subject == "For {{first_name}} at"
    assert email.preheader == "Hello"
    assert email.body_html == "<p>{{first_name}} </p>"
    assert email.body_text == "hi"


@pytest.mark.parametrize(
    "content",
    [
        '{"subject": "A", "body_html": "<p>{x}</p>"}',
        '```json\n{"subject": "A", "body_html": "<p>{x}</p>"}\n```',
        '```\n{"subject": "A", "body_html": "<p>{x}</p>"}\n```',
        'Sure! Here is your email:\n\n{"subject": "A", "body_html": "<p>{x}</p>"}\n\nEnjoy!',
        'Here it is ```json\n{"subject": "A", "body_html": "<p>{x}</p>"}``` hope it helps {',
        '  \n{"subject": "A", "body_html": "<p>{x}</p>"}  trailing words',
    ],
)
def test_the_json_object_is_found_however_it_is_wrapped(content: str) -> None:
    assert parse_json_object(content) == {"subject": "A", "body_html": "<p>{x}</p>"}


@pytest.mark.parametrize(
    "content",
    ["", "Sure! Here is a great email for your campaign.", '["subject", "A"]',
     '{"subject": "A", "body_html": "<p>cut off', "{not json}"],
)
def test_answers_without_a_json_object_are_rejected(content: str) -> None:
    with pytest.raises(InvalidOutputError, match="no JSON object"):
        parse_json_object(content)


def test_html_to_text_keeps_mailto_labels_and_bare_links() -> None:
    text = html_to_text(
        '<p>Write to <a href="mailto:hi@example.com">hi@example.com</a> or visit '
        '<a href="https://example.com"></a>.</p><hr><p>Bye</p>'
    )
    assert text == "Write to hi@example.com or visit https://example.com.\n\n----------\n\nBye"


def test_control_characters_are_removed_everywhere() -> None:
    email = validate_email(_answer(subject="Fresh\x00 bread\x07", preheader="Warm\x1b[31m",
                                   body_html="<p>Hi\x00 there</p>", body_text="Hi\x00\tthere\x7f"))
    assert email.subject == "Fresh bread"
    assert email.preheader == "Warm[31m"
    assert "\x00" not in email.body_html
    assert email.body_text == "Hi\tthere"
