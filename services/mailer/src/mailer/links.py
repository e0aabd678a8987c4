"""Each recipient's tracked links: signed tokens (contracts.links) under the public base URL.

campaign-api serves them: `/u/{token}` unsubscribes (GET page and RFC 8058 POST), `/o/{token}.gif`
records an open, `/c/{token}/{target}` records a click and redirects to the URL the target
token carries. A target token names the email and the URL, not the recipient, so one is signed
per link of an email and shared by all its recipients.
"""

from __future__ import annotations

from contracts.links import LinkClaims, LinkSigner

# Target tokens kept per email: links that differ per recipient (a merge field in the URL)
# are signed each time once this many are cached.
_MAX_TARGETS = 256


class SignedLinks:
    def __init__(
        self, signer: LinkSigner, base_url: str, claims: LinkClaims,
        targets: dict[str, str] | None = None,
    ) -> None:
        """`base_url` without a trailing slash; `targets` caches the email's target tokens
        by URL across its recipients."""
        self._signer = signer
        self._base_url = base_url
        self._claims = claims
        self._tokens = signer.recipient_tokens(claims)
        self._targets = {} if targets is None else targets

    def unsubscribe(self) -> str:
        return f"{self._base_url}/u/{self._tokens.unsubscribe}"

    def open_pixel(self) -> str:
        return f"{self._base_url}/o/{self._tokens.open}.gif"

    def click(self, url: str) -> str:
        target = self._targets.get(url)
        if target is None:
            target = self._signer.sign_target(self._claims.campaign_id, self._claims.sequence,
                                              url)
            if len(self._targets) < _MAX_TARGETS:
                self._targets[url] = target
        return f"{self._base_url}/c/{self._tokens.click}/{target}"
