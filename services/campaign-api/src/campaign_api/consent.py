"""Pure rules of consent: what a hosted sign-up form accepts, how a bot gives itself away, the
confirmation mail of double opt-in and the form a marketer embeds in their own site. No I/O.

A sign-up is only a request: the contact is subscribed to the list when they follow the
signed confirm link the confirmation mail carries (contracts.links.ConfirmClaims)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from campaign_api.contacts_domain import InvalidContact, email_of, name_of

# A field people never see (hidden by CSS, skipped by keyboard and screen readers) that form-
# filling bots fill in. Named like something a bot wants to fill.
HONEYPOT = "website"
# What a consent record keeps of a user agent: enough to recognise it, bounded.
MAX_USER_AGENT = 500
SUBJECT_LIMIT = 200


# The status a contact takes while its address is on the suppression list for a reason; taken
# off the list, a contact in that status is subscribed again.
SUPPRESSED_STATUS = {"unsubscribed": "unsubscribed", "bounced": "bounced",
                     "complained": "complained", "manual": "unsubscribed"}


@dataclass(frozen=True)
class SignUp:
    email: str
    name: str


def is_bot(form: Mapping[str, str]) -> bool:
    """The honeypot holds something: a person never saw it."""
    return bool(form.get(HONEYPOT, "").strip())


def sign_up(form: Mapping[str, str]) -> SignUp:
    """The form's address and name, checked as any contact's are; InvalidContact names the
    field."""
    return SignUp(email=email_of(form.get("email"), path="email"),
                  name=name_of(form.get("name"), path="name"))


def user_agent(raw: str | None) -> str | None:
    return raw[:MAX_USER_AGENT] if raw else None


def confirmation_subject(list_name: str) -> str:
    subject = f"Please confirm your subscription to {' '.join(list_name.split())}"
    return subject if len(subject) <= SUBJECT_LIMIT else subject[:SUBJECT_LIMIT - 1] + "…"


def confirmation_bodies(
    *, list_name: str, sender_name: str, consent_text: str, confirm_url: str
) -> tuple[str, str]:
    """(HTML, text) of the confirmation mail: the one link that subscribes them, what they
    agree to, and that nothing happens if they do nothing."""
    text = (
        f"Someone, hopefully you, asked to receive {list_name} from {sender_name}.\n\n"
        f"Confirm your subscription:\n{confirm_url}\n\n"
        + (f"By confirming you agree: {consent_text}\n\n" if consent_text else "")
        + "If you did not ask for this, ignore this email: you will not be subscribed.\n"
    )
    agree = (f'<p style="color:#4a5366">By confirming you agree: {escape(consent_text)}</p>'
             if consent_text else "")
    html = (
        '<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#1d2330">'
        f"<p>Someone, hopefully you, asked to receive <strong>{escape(list_name)}</strong> "
        f"from {escape(sender_name)}.</p>"
        f'<p><a href="{escape(confirm_url)}" style="display:inline-block;background:#3754db;'
        'color:#ffffff;padding:10px 18px;border-radius:8px;text-decoration:none">'
        "Confirm your subscription</a></p>"
        f"{agree}"
        '<p style="color:#4a5366">If you did not ask for this, ignore this email: you will not '
        "be subscribed.</p></body></html>"
    )
    return html, text


def embed_snippet(action_url: str, list_name: str, consent_text: str) -> str:
    """The sign-up form as HTML to paste into any page: it posts to the hosted form, which
    answers with its own page. The honeypot is hidden from people, not from bots."""
    consent = f"\n  <p>{escape(consent_text)}</p>" if consent_text else ""
    return (
        f'<form action="{escape(action_url)}" method="post" accept-charset="utf-8">\n'
        f"  <p><strong>{escape(list_name)}</strong></p>\n"
        '  <label>Email <input type="email" name="email" required maxlength="254"></label>\n'
        '  <label>Name <input type="text" name="name" maxlength="200"></label>\n'
        f'  <div style="position:absolute;left:-10000px" aria-hidden="true">'
        f'<input type="text" name="{HONEYPOT}" tabindex="-1" autocomplete="off"></div>'
        f"{consent}\n"
        '  <button type="submit">Subscribe</button>\n'
        "</form>\n"
    )


__all__ = ["HONEYPOT", "SUPPRESSED_STATUS", "InvalidContact", "SignUp", "confirmation_bodies",
           "confirmation_subject", "embed_snippet", "is_bot", "sign_up", "user_agent"]
