"""An erased address is remembered only by its keyed digest, so that a later import or sign-up
recognises it without the address being stored anywhere.

HMAC-SHA-256 under the erasure key (`ERASURE_KEY`): a plain hash of an address could be
reversed by hashing candidate addresses; the key makes that impossible without it. Changing
the key forgets every erasure recorded under the old one, so it is kept like any secret.
No I/O here; the lookup is `db.erased_among`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

# Below this an erasure key is too easily guessed to protect the digests.
MIN_KEY_LENGTH = 32


class ErasureKey:
    """Digests of normalised addresses (as `domain.normalise_email` makes them and contacts
    store them); an address spelt another way would have another digest."""

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_KEY_LENGTH:
            raise ValueError(f"ERASURE_KEY: at least {MIN_KEY_LENGTH} characters")
        # The keyed state is made once and copied per address (an import digests a million).
        self._keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    def digest(self, address: str) -> str:
        mac = self._keyed.copy()
        mac.update(address.encode())
        return mac.hexdigest()

    def digests(self, addresses: Iterable[str]) -> dict[str, str]:
        """Each address's digest, by digest (what a lookup answers with, mapped back)."""
        return {self.digest(address): address for address in addresses}
