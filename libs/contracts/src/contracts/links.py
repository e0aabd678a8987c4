"""Signed tokens in the links of every email: unsubscribe, open pixel, click redirect.

The mailer signs them, campaign-api verifies them; both hold the same `LINK_SIGNING_KEY`.
A key per purpose keeps a token made for one purpose from being accepted for another, and the
HMAC keeps anyone from forging or altering one (a click link carries its own target URL, so a
redirect can only ever lead where the email linked).

A token is itsdangerous's `TimestampSigner` (HMAC-SHA256) over the base64 of the claims as a
JSON list. The mailer signs three for every recipient, so it encodes the claims once and makes
each token with one `hmac.digest` under the purpose's key (derived once); the tests check that
these are exactly the tokens `TimestampSigner.sign` makes, and verifying is itsdangerous's own.
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
import json
import time
import uuid
from dataclasses import dataclass
from typing import Literal, get_args

from itsdangerous import (
    BadSignature,
    SignatureExpired,
    Signer,
    TimestampSigner,
    URLSafeTimedSerializer,
)

Purpose = Literal["unsubscribe", "open", "click"]

# CAN-SPAM asks unsubscribe links to keep working for at least 30 days; keep a year.
MAX_AGE_SECONDS = 365 * 24 * 3600
# A target token is signed for a click link of an email; the campaign and sequence it names
# must be those of the recipient's click token it is presented with.
_TARGET = "target"


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
class RecipientTokens:
    """One recipient's tokens for one email; `click` is completed by each link's target."""

    unsubscribe: str
    open: str
    click: str


class LinkSigner:
    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("LINK_SIGNING_KEY: at least 32 characters")
        # Keys derived once: signing is then one HMAC per token.
        self._keys = {
            name: Signer(secret, salt=f"campaign-builder.v2.{name}",
                         digest_method=hashlib.sha256).derive_key()
            for name in (*get_args(Purpose), _TARGET)
        }
        self._signers = {
            name: TimestampSigner(key, key_derivation="none", digest_method=hashlib.sha256)
            for name, key in self._keys.items()
        }
        self._legacy = {
            purpose: URLSafeTimedSerializer(secret, salt=f"campaign-builder.{purpose}")
            for purpose in get_args(Purpose)
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
        payload = _encode([str(claims.workspace_id), str(claims.campaign_id), claims.sequence,
                           claims.email]) + b"." + _timestamp()
        keys = self._keys
        return RecipientTokens(_stamp(keys["unsubscribe"], payload),
                               _stamp(keys["open"], payload), _stamp(keys["click"], payload))

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

    def _sign(self, name: str, payload: bytes) -> str:
        return _stamp(self._keys[name], payload + b"." + _timestamp())

    def _unsign(self, name: str, token: str, max_age: int) -> object:
        try:
            return _decode(self._signers[name].unsign(token, max_age=max_age))
        except SignatureExpired as exc:
            raise InvalidLink("link expired") from exc
        except BadSignature as exc:
            raise InvalidLink("link signature does not verify") from exc

    def _verify_legacy(self, purpose: Purpose, token: str, max_age: int) -> object:
        try:
            return self._legacy[purpose].loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise InvalidLink("link expired") from exc
        except BadSignature as exc:
            raise InvalidLink("link signature does not verify") from exc


def _timestamp() -> bytes:
    """Now, as TimestampSigner writes it: big-endian seconds, base64 without padding."""
    now = int(time.time())
    return _base64(now.to_bytes((now.bit_length() + 7) // 8 or 1, "big"))


def _stamp(key: bytes, value: bytes) -> str:
    """`value` (payload.timestamp) with its signature, as TimestampSigner.sign makes it."""
    return (value + b"." + _base64(hmac.digest(key, value, "sha256"))).decode("ascii")


def _base64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _encode(data: list[object]) -> bytes:
    return _base64(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


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
