"""Each recipient's tracked links: signed tokens (contracts.links) under the public base URL.

campaign-api serves them: `/u/{token}` unsubscribes (GET page and RFC 8058 POST), `/o/{token}.gif`
records an open, `/c/{token}` records a click and redirects to the URL the token carries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts.links import LinkClaims, LinkSigner


@dataclass(frozen=True)
class SignedLinks:
    signer: LinkSigner
    base_url: str  # without a trailing slash
    claims: LinkClaims

    def unsubscribe(self) -> str:
        return f"{self.base_url}/u/{self.signer.sign('unsubscribe', self.claims)}"

    def open_pixel(self) -> str:
        return f"{self.base_url}/o/{self.signer.sign('open', self.claims)}.gif"

    def click(self, url: str) -> str:
        token = self.signer.sign("click", replace(self.claims, url=url))
        return f"{self.base_url}/c/{token}"
