import hashlib
import json
import uuid

import pytest
from itsdangerous import Signer, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from contracts.links import ConfirmClaims, InvalidLink, LinkClaims, LinkSigner

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


def test_recipient_tokens_each_serve_their_own_purpose() -> None:
    signer = LinkSigner(SECRET)
    tokens = signer.recipient_tokens(CLAIMS)
    assert signer.verify("unsubscribe", tokens.unsubscribe) == CLAIMS
    assert signer.verify("open", tokens.open) == CLAIMS
    for purpose, token in (("open", tokens.unsubscribe), ("unsubscribe", tokens.open),
                           ("unsubscribe", tokens.click)):
        with pytest.raises(InvalidLink):
            signer.verify(purpose, token)  # type: ignore[arg-type]
    # Without its target a recipient's click token leads nowhere.
    with pytest.raises(InvalidLink, match="wrong shape"):
        signer.verify("click", tokens.click)


def test_a_click_link_is_the_recipient_token_and_the_email_target() -> None:
    signer = LinkSigner(SECRET)
    tokens = signer.recipient_tokens(CLAIMS)
    target = signer.sign_target(CLAIMS.campaign_id, CLAIMS.sequence, "https://example.com/a")
    claims = signer.verify_click(tokens.click, target)
    assert claims == LinkClaims(CLAIMS.workspace_id, CLAIMS.campaign_id, CLAIMS.sequence,
                                CLAIMS.email, url="https://example.com/a")
    other_email = signer.sign_target(CLAIMS.campaign_id, CLAIMS.sequence + 1, "https://evil.io")
    other_campaign = signer.sign_target(uuid.uuid4(), CLAIMS.sequence, "https://evil.io")
    for bad in (other_email, other_campaign):
        with pytest.raises(InvalidLink, match="another email"):
            signer.verify_click(tokens.click, bad)
    with pytest.raises(InvalidLink):  # the pieces swapped or misused
        signer.verify_click(target, tokens.click)
    with pytest.raises(InvalidLink):
        signer.verify_click(tokens.unsubscribe, target)
    with pytest.raises(InvalidLink):
        LinkSigner("t" * 40).verify_click(tokens.click, target)


def test_tokens_of_the_first_format_still_verify() -> None:
    # How tokens were made before the two-token click links: emails already out keep working.
    claims = LinkClaims(CLAIMS.workspace_id, CLAIMS.campaign_id, 1, CLAIMS.email,
                        url="https://example.com/launch")
    legacy = {p: URLSafeTimedSerializer(SECRET, salt=f"campaign-builder.{p}")
              for p in ("unsubscribe", "open", "click")}
    fields = [str(CLAIMS.workspace_id), str(CLAIMS.campaign_id), 1, CLAIMS.email]
    signer = LinkSigner(SECRET)
    assert signer.verify("unsubscribe", legacy["unsubscribe"].dumps(fields)).email == CLAIMS.email
    assert signer.verify("click", legacy["click"].dumps([*fields, claims.url])) == claims
    with pytest.raises(InvalidLink):
        signer.verify("unsubscribe", legacy["open"].dumps(fields))


def test_tokens_are_exactly_what_itsdangerous_signs() -> None:
    signer = LinkSigner(SECRET)
    key = Signer(SECRET, salt="campaign-builder.v2.open", digest_method=hashlib.sha256)
    reference = TimestampSigner(key.derive_key(), key_derivation="none",
                                digest_method=hashlib.sha256)
    token = signer.recipient_tokens(CLAIMS).open
    payload, stamp, signature = token.split(".")
    assert reference.get_signature(f"{payload}.{stamp}").decode() == signature
    assert reference.unsign(token, max_age=60).decode() == payload
    # The stamp is now, as TimestampSigner writes it.
    assert abs(int.from_bytes(base64_decode(stamp), "big") - reference.get_timestamp()) <= 1


@pytest.mark.parametrize("email", ["ada@example.com", 'a"b\\c@example.com', "zoë@bücher.example",
                                   "x\u2028y@example.com"])
def test_an_emails_tokens_are_exactly_what_itsdangerous_signs(email: str) -> None:
    # Claims encoded in two halves (per email, per recipient) and HMACs from pre-hashed keys
    # must still make TimestampSigner's token over json.dumps of the whole claims.
    signer = LinkSigner(SECRET)
    fields = [str(CLAIMS.workspace_id), str(CLAIMS.campaign_id), CLAIMS.sequence, email]
    payload = base64_encode(json.dumps(fields, separators=(",", ":"), ensure_ascii=False))
    tokens = signer.email_tokens(CLAIMS.workspace_id, CLAIMS.campaign_id,
                                 CLAIMS.sequence).recipient(email)
    for purpose, token in zip(("unsubscribe", "open", "click", "preferences"), tokens,
                              strict=True):
        key = Signer(SECRET, salt=f"campaign-builder.v2.{purpose}", digest_method=hashlib.sha256)
        reference = TimestampSigner(key.derive_key(), key_derivation="none",
                                    digest_method=hashlib.sha256)
        signed, stamp, signature = token.rsplit(".", 2)
        assert signed.encode() == payload
        assert reference.get_signature(f"{signed}.{stamp}").decode() == signature
    assert signer.verify("open", tokens.open).email == email


def test_the_preference_centre_token_carries_the_recipients_claims_for_that_purpose_only() -> None:
    signer = LinkSigner(SECRET)
    tokens = signer.recipient_tokens(CLAIMS)
    assert signer.verify("preferences", tokens.preferences) == CLAIMS
    for token in (tokens.unsubscribe, tokens.open):
        with pytest.raises(InvalidLink):
            signer.verify("preferences", token)
    with pytest.raises(InvalidLink):
        signer.verify("unsubscribe", tokens.preferences)


def test_a_confirm_token_names_the_list_and_expires() -> None:
    signer = LinkSigner(SECRET)
    claims = ConfirmClaims(uuid.uuid4(), uuid.uuid4(), "ada@example.com")
    token = signer.sign_confirm(claims)
    assert signer.verify_confirm(token) == claims
    with pytest.raises(InvalidLink, match="expired"):
        signer.verify_confirm(token, max_age=-1)
    with pytest.raises(InvalidLink):
        LinkSigner("t" * 40).verify_confirm(token)
    # Neither kind of token passes for the other.
    with pytest.raises(InvalidLink):
        signer.verify("preferences", token)
    with pytest.raises(InvalidLink):
        signer.verify_confirm(signer.recipient_tokens(CLAIMS).preferences)
