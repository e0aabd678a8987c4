import uuid

import pytest

from contracts.links import InvalidLink, LinkClaims, LinkSigner

SECRET = "s" * 40
CLAIMS = LinkClaims(uuid.uuid4(), uuid.uuid4(), 3, "ada@example.com")


def test_a_token_verifies_for_its_own_purpose_only() -> None:
    signer = LinkSigner(SECRET)
    token = signer.sign("unsubscribe", CLAIMS)
    assert signer.verify("unsubscribe", token) == CLAIMS
    with pytest.raises(InvalidLink):
        signer.verify("open", token)


def test_altered_or_foreign_tokens_are_rejected() -> None:
    token = LinkSigner(SECRET).sign("unsubscribe", CLAIMS)
    with pytest.raises(InvalidLink):
        LinkSigner("t" * 40).verify("unsubscribe", token)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(InvalidLink):
        LinkSigner(SECRET).verify("unsubscribe", tampered)


def test_a_click_token_carries_its_target() -> None:
    signer = LinkSigner(SECRET)
    claims = LinkClaims(CLAIMS.workspace_id, CLAIMS.campaign_id, 1, CLAIMS.email,
                        url="https://example.com/launch")
    assert signer.verify("click", signer.sign("click", claims)).url == "https://example.com/launch"
    with pytest.raises(ValueError, match="target url"):
        signer.sign("click", CLAIMS)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="LINK_SIGNING_KEY"):
        LinkSigner("short")
