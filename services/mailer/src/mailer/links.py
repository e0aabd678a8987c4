"""Each recipient's tracked links: signed tokens (contracts.links) under the public base URL.

campaign-api serves them: `/u/{token}` unsubscribes (GET page and RFC 8058 POST), `/o/{token}.gif`
records an open, `/c/{token}/{target}` records a click and redirects to the URL the target
token carries, `/p/{token}` is the recipient's preference centre, `/t/{token}` (the
recipient's click token alone) is the trap link hidden in every tracked HTML email, which only
link scanners follow. A target token names the email and the URL, not the recipient, so one is
signed per link of an email and shared by all its recipients.
"""

from __future__ import annotations

import uuid

from contracts.links import LinkClaims, LinkSigner, RecipientTokens

# Target tokens kept per email: links that differ per recipient (a merge field in the URL)
# are signed each time once this many are cached.
_MAX_TARGETS = 256


class EmailLinks:
    """The links of one email, for each of its recipients."""

    def __init__(
        self, signer: LinkSigner, base_url: str, workspace_id: uuid.UUID,
        campaign_id: uuid.UUID, sequence: int,
    ) -> None:
        """`base_url` without a trailing slash."""
        self.base_url = base_url
        self._signer = signer
        self._tokens = signer.email_tokens(workspace_id, campaign_id, sequence)
        self._campaign_id = campaign_id
        self._sequence = sequence
        self._targets: dict[str, str] = {}

    def recipient(self, email: str) -> RecipientLinks:
        return RecipientLinks(self, self.tokens(email))

    def tokens(self, email: str) -> RecipientTokens:
        """The recipient's unsubscribe, open and click tokens."""
        return self._tokens.recipient(email)

    def target(self, url: str) -> str:
        """The email's target token for `url`."""
        target = self._targets.get(url)
        if target is None:
            target = self._signer.sign_target(self._campaign_id, self._sequence, url)
            if len(self._targets) < _MAX_TARGETS:
                self._targets[url] = target
        return target


class RecipientLinks:
    """One recipient's links in one email."""

    __slots__ = ("_email", "_tokens")

    def __init__(self, email: EmailLinks, tokens: RecipientTokens) -> None:
        self._email = email
        self._tokens = tokens

    def unsubscribe(self) -> str:
        return f"{self._email.base_url}/u/{self._tokens.unsubscribe}"

    def open_pixel(self) -> str:
        return f"{self._email.base_url}/o/{self._tokens.open}.gif"

    def preferences(self) -> str:
        return f"{self._email.base_url}/p/{self._tokens.preferences}"

    def click(self, url: str) -> str:
        return f"{self._email.base_url}/c/{self._tokens.click}/{self._email.target(url)}"

    def trap(self) -> str:
        return f"{self._email.base_url}/t/{self._tokens.click}"


class SignedLinks(RecipientLinks):
    """One recipient's links on their own, for a single message."""

    __slots__ = ()

    def __init__(self, signer: LinkSigner, base_url: str, claims: LinkClaims) -> None:
        email = EmailLinks(signer, base_url, claims.workspace_id, claims.campaign_id,
                           claims.sequence)
        super().__init__(email, email.tokens(claims.email))
