"""Signed tokens in the links of every email: unsubscribe, open pixel, click redirect, the
preference centre; and the confirm link of a sign-up's confirmation mail.

The mailer signs them, campaign-api verifies them; both hold the same `LINK_SIGNING_KEY`.
A key per purpose keeps a token made for one purpose from being accepted for another, and the
HMAC keeps anyone from forging or altering one (a click link carries its own target URL, so a
redirect can only ever lead where the email linked).

A token is itsdangerous's `TimestampSigner` (HMAC-SHA256) over the base64 of the claims as a
JSON list. The mailer signs three for every recipient of an email, so `EmailTokens` encodes
what the recipients share once, each recipient's claims once for all three tokens, and each
HMAC starts from the purpose's keyed state, made once; the tests check that these are exactly
the tokens `TimestampSigner.sign` makes, and verifying is itsdangerous's own.
A click link is two tokens: the recipient's click token and the link's target token, which
binds campaign, sequence and URL and so is signed once per email, not once per recipient.

Tokens of the first format (`URLSafeTimedSerializer`, one salt per purpose) are still verified:
emails already delivered keep working links for as long as the tokens are valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import re
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple, get_args

from itsdangerous import (
    BadSignature,
    SignatureExpired,
    Signer,
    TimestampSigner,
    URLSafeTimedSerializer,
)

Purpose = Literal["unsubscribe", "open", "click", "preferences"]
# Tokens of the first format exist for these purposes only.
_LEGACY_PURPOSES = ("unsubscribe", "open", "click")

# CAN-SPAM asks unsubscribe links to keep working for at least 30 days; keep a year.
MAX_AGE_SECONDS = 365 * 24 * 3600
# A sign-up is confirmed within a week or not at all: an old confirmation mail found later must
# not subscribe anyone.
CONFIRM_MAX_AGE_SECONDS = 7 * 24 * 3600
_CONFIRM = "confirm"
# A target token is signed for a click link of an email; the campaign and sequence it names
# must be those of the recipient's click token it is presented with.
_TARGET = "target"
# json.dumps(..., separators=(",", ":"), ensure_ascii=False) without making an encoder per call.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_URLSAFE = bytes.maketrans(b"+/", b"-_")


# The links of an email's HTML that are tracked (the mailer makes each a click link); an
# email's number of distinct targets is what campaign-api's link-scanner rule reads.
TRACKED_LINK = re.compile(r"""(\bhref\s*=\s*)(["'])(https?://[^"'<>\s]+)\2""", re.IGNORECASE)


def tracked_urls(body_html: str) -> tuple[str, ...]:
    """The target of every tracked link of `body_html`, in order, as the mailer reads them."""
    return tuple(html.unescape(m.group(3)) for m in TRACKED_LINK.finditer(body_html))


class InvalidLink(ValueError):  # noqa: N818 - reads as what it is
    """The token was forged, altered, expired or made for another purpose."""


@dataclass(frozen=True)
class LinkClaims:
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    sequence: int
    email: str
    url: str | None = None  # click tokens only


@dataclass(frozen=True)
class ConfirmClaims:
    """Who signed up to which list of which workspace (the confirm link of double opt-in)."""

    workspace_id: uuid.UUID
    list_id: uuid.UUID
    email: str


class RecipientTokens(NamedTuple):
    """One recipient's tokens for one email; `click` is completed by each link's target."""

    unsubscribe: str
    open: str
    click: str
    preferences: str


class EmailTokens:
    """The recipient tokens of one email (workspace, campaign, sequence), recipient by
    recipient: the claims they share are encoded once."""

    def __init__(
        self, macs: dict[str, _Mac], workspace_id: uuid.UUID, campaign_id: uuid.UUID,
        sequence: int,
    ) -> None:
        """Made by `LinkSigner.email_tokens`."""
        # The JSON list up to the recipient's address: '["<workspace>","<campaign>",<sequence>,'
        self._head = _JSON([str(workspace_id), str(campaign_id), sequence])[:-1] + ","
        self._unsubscribe, self._open, self._click, self._preferences = (
            macs["unsubscribe"], macs["open"], macs["click"], macs["preferences"])

    def recipient(self, email: str) -> RecipientTokens:
        """The recipient's unsubscribe, open, click and preference-centre tokens, their claims
        encoded once."""
        payload = (_base64((self._head + _JSON(email) + "]").encode()) + b"."
                   + _timestamp(int(time.time())))
        return RecipientTokens(self._unsubscribe.stamp(payload), self._open.stamp(payload),
                               self._click.stamp(payload), self._preferences.stamp(payload))


class LinkSigner:
    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("LINK_SIGNING_KEY: at least 32 characters")
        # Keys derived once: signing is then one HMAC per token.
        self._keys = {
            name: Signer(secret, salt=f"campaign-builder.v2.{name}",
                         digest_method=hashlib.sha256).derive_key()
            for name in (*get_args(Purpose), _TARGET, _CONFIRM)
        }
        self._macs = {name: _Mac(key) for name, key in self._keys.items()}
        self._signers = {
            name: TimestampSigner(key, key_derivation="none", digest_method=hashlib.sha256)
            for name, key in self._keys.items()
        }
        self._legacy = {
            purpose: URLSafeTimedSerializer(secret, salt=f"campaign-builder.{purpose}")
            for purpose in _LEGACY_PURPOSES
        }

    def sign(self, purpose: Purpose, claims: LinkClaims) -> str:
        """One token carrying all the claims; a click token needs its target URL."""
        data: list[object] = [str(claims.workspace_id), str(claims.campaign_id), claims.sequence,
                              claims.email]
        if purpose == "click":
            if not claims.url:
                raise ValueError("a click token needs its target url")
            data.append(claims.url)
        return self._sign(purpose, _encode(data))

    def recipient_tokens(self, claims: LinkClaims) -> RecipientTokens:
        """The recipient's unsubscribe, open and click tokens, the claims encoded once."""
        return self.email_tokens(claims.workspace_id, claims.campaign_id,
                                 claims.sequence).recipient(claims.email)

    def email_tokens(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, sequence: int
    ) -> EmailTokens:
        """Signs the recipient tokens of one email, for each of its recipients."""
        return EmailTokens(self._macs, workspace_id, campaign_id, sequence)

    def sign_target(self, campaign_id: uuid.UUID, sequence: int, url: str) -> str:
        """The target of one link of one email, for every recipient of it."""
        return self._sign(_TARGET, _encode([str(campaign_id), sequence, url]))

    def verify(self, purpose: Purpose, token: str, *, max_age: int = MAX_AGE_SECONDS) -> LinkClaims:
        """The claims of a single token of `purpose`, of either format."""
        try:
            data = _decode(self._signers[purpose].unsign(token, max_age=max_age))
        except SignatureExpired as exc:
            raise InvalidLink("link expired") from exc
        except BadSignature:
            data = self._verify_legacy(purpose, token, max_age)
        return _claims(data, with_url=purpose == "click")

    def sign_confirm(self, claims: ConfirmClaims) -> str:
        """The confirm link's token of a sign-up; it expires after CONFIRM_MAX_AGE_SECONDS."""
        return self._sign(_CONFIRM, _encode([str(claims.workspace_id), str(claims.list_id),
                                             claims.email]))

    def verify_confirm(
        self, token: str, *, max_age: int = CONFIRM_MAX_AGE_SECONDS
    ) -> ConfirmClaims:
        data = self._unsign(_CONFIRM, token, max_age)
        if not isinstance(data, list) or len(data) != 3:
            raise InvalidLink("link payload has the wrong shape")
        try:
            return ConfirmClaims(workspace_id=uuid.UUID(str(data[0])),
                                 list_id=uuid.UUID(str(data[1])), email=str(data[2]))
        except (ValueError, TypeError) as exc:
            raise InvalidLink("link payload has the wrong shape") from exc

    def verify_click(
        self, token: str, target: str, *, max_age: int = MAX_AGE_SECONDS
    ) -> LinkClaims:
        """A two-token click link: the recipient's click token and the link's target."""
        claims = _claims(self._unsign("click", token, max_age), with_url=False)
        data = self._unsign(_TARGET, target, max_age)
        if not isinstance(data, list) or len(data) != 3:
            raise InvalidLink("link payload has the wrong shape")
        if [str(claims.campaign_id), claims.sequence] != data[:2]:
            raise InvalidLink("link target belongs to another email")
        return _claims([str(claims.workspace_id), *data[:2], claims.email, data[2]],
                       with_url=True)

    def verify_trap(self, token: str, *, max_age: int = MAX_AGE_SECONDS) -> LinkClaims:
        """The recipient's click token on its own: the trap link of their email, which the
        mailer hides where no person clicks it."""
        return _claims(self._unsign("click", token, max_age), with_url=False)

    def _sign(self, name: str, payload: bytes) -> str:
        return self._macs[name].stamp(payload + b"." + _timestamp(int(time.time())))

    def _unsign(self, name: str, token: str, max_age: int) -> object:
        try:
            return _decode(self._signers[name].unsign(token, max_age=max_age))
        except SignatureExpired as exc:
            raise InvalidLink("link expired") from exc
        except BadSignature as exc:
            raise InvalidLink("link signature does not verify") from exc

    def _verify_legacy(self, purpose: Purpose, token: str, max_age: int) -> object:
        if purpose not in self._legacy:
            raise InvalidLink("link signature does not verify")
        try:
            return self._legacy[purpose].loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise InvalidLink("link expired") from exc
        except BadSignature as exc:
            raise InvalidLink("link signature does not verify") from exc


class _Mac:
    """HMAC-SHA256 under one key: the keyed state is made once and copied for every message,
    rather than the key hashed in again each time."""

    def __init__(self, key: bytes) -> None:
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def stamp(self, value: bytes) -> str:
        """`value` (payload.timestamp) with its signature, as TimestampSigner.sign makes it."""
        mac = self._keyed.copy()
        mac.update(value)
        return (value + b"." + _base64(mac.digest())).decode("ascii")


@lru_cache(maxsize=2)
def _timestamp(now: int) -> bytes:
    """`now` as TimestampSigner writes it: big-endian seconds, base64 without padding."""
    return _base64(now.to_bytes((now.bit_length() + 7) // 8 or 1, "big"))


def _base64(data: bytes) -> bytes:
    """URL-safe base64 without padding, as itsdangerous writes it."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _encode(data: list[object]) -> bytes:
    return _base64(_JSON(data).encode())


def _decode(payload: bytes) -> object:
    try:
        return json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidLink("link payload has the wrong shape") from exc


def _claims(data: object, *, with_url: bool) -> LinkClaims:
    expected = 5 if with_url else 4
    if not isinstance(data, list) or len(data) != expected:
        raise InvalidLink("link payload has the wrong shape")
    try:
        return LinkClaims(
            workspace_id=uuid.UUID(str(data[0])), campaign_id=uuid.UUID(str(data[1])),
            sequence=int(data[2]), email=str(data[3]),
            url=str(data[4]) if with_url else None,
        )
    except (ValueError, TypeError) as exc:
        raise InvalidLink("link payload has the wrong shape") from exc
