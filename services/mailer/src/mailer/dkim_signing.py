"""DKIM signatures (RFC 6376) with dkimpy, over the headers inbox providers look at."""

from __future__ import annotations

from dataclasses import dataclass

import dkim  # type: ignore[import-untyped]  # dkimpy ships no type hints

SIGNED_HEADERS: tuple[bytes, ...] = (
    b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Unsubscribe",
    b"List-Unsubscribe-Post", b"MIME-Version", b"Content-Type",
)


@dataclass(frozen=True)
class DkimSigner:
    selector: str
    domain: str
    private_key: bytes  # PEM

    def __post_init__(self) -> None:
        # Fail at start-up, not on the first message, when the key is unusable.
        probe = b"From: a@b.example\r\nSubject: probe\r\n\r\nprobe\r\n"
        self.sign(probe)

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature header in front."""
        signature: bytes = dkim.sign(
            message, self.selector.encode("ascii"), self.domain.encode("ascii"),
            self.private_key, include_headers=list(SIGNED_HEADERS),
            canonicalize=(b"relaxed", b"relaxed"),
        )
        return signature.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + message
