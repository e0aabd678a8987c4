"""Signed tokens in the links of every email: unsubscribe, open pixel, click redirect.

The mailer signs them, campaign-api verifies them; both hold the same `LINK_SIGNING_KEY`.
A salt per purpose keeps a token made for one purpose from being accepted for another, and the
HMAC keeps anyone from forging or altering one (a click token carries its own target URL, so a
redirect can only ever lead where the email linked).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal, get_args

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

Purpose = Literal["unsubscribe", "open", "click"]

# CAN-SPAM asks unsubscribe links to keep working for at least 30 days; keep a year.
MAX_AGE_SECONDS = 365 * 24 * 3600


class InvalidLink(ValueError):  # noqa: N818 - reads as what it is
    """The token was forged, altered, expired or made for another purpose."""


@dataclass(frozen=True)
class LinkClaims:
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    sequence: int
    email: str
    url: str | None = None  # click tokens only


class LinkSigner:
    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("LINK_SIGNING_KEY: at least 32 characters")
        # Built once: the mailer signs several links for every recipient.
        self._serializers = {
            purpose: URLSafeTimedSerializer(secret, salt=f"campaign-builder.{purpose}")
            for purpose in get_args(Purpose)
        }

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        return self._serializers[purpose]

    def sign(self, purpose: Purpose, claims: LinkClaims) -> str:
        data = [str(claims.workspace_id), str(claims.campaign_id), claims.sequence, claims.email]
        if purpose == "click":
            if not claims.url:
                raise ValueError("a click token needs its target url")
            data.append(claims.url)
        return self._serializer(purpose).dumps(data)

    def verify(self, purpose: Purpose, token: str, *, max_age: int = MAX_AGE_SECONDS) -> LinkClaims:
        try:
            data = self._serializer(purpose).loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise InvalidLink("link expired") from exc
        except BadSignature as exc:
            raise InvalidLink("link signature does not verify") from exc
        expected = 5 if purpose == "click" else 4
        if not isinstance(data, list) or len(data) != expected:
            raise InvalidLink("link payload has the wrong shape")
        try:
            return LinkClaims(
                workspace_id=uuid.UUID(str(data[0])), campaign_id=uuid.UUID(str(data[1])),
                sequence=int(data[2]), email=str(data[3]),
                url=str(data[4]) if purpose == "click" else None,
            )
        except (ValueError, TypeError) as exc:
            raise InvalidLink("link payload has the wrong shape") from exc
