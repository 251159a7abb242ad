"""Client tickets (pure): minting and every way a ticket is refused."""

from __future__ import annotations

import base64
import json

import pytest

from kasagi.auth import TokenError, check_authid, mint_token, verify_token

SECRET = b"s3cret-for-tests"
NOW = 1_700_000_000.0


def test_a_fresh_ticket_verifies_for_its_authid():
    """A ticket minted for alice is accepted for alice until it expires."""
    token = mint_token("alice", SECRET, NOW, 60)
    verify_token(token, "alice", SECRET, NOW + 59)


@pytest.mark.parametrize(
    ("token", "authid", "secret", "now", "reason"),
    [
        (None, "alice", SECRET, NOW, "malformed ticket"),
        ("", "alice", SECRET, NOW, "malformed ticket"),
        ("x" * 2000, "alice", SECRET, NOW, "malformed ticket"),
        ("v2.abc.def", "alice", SECRET, NOW, "malformed ticket"),
        ("v1.abc", "alice", SECRET, NOW, "malformed ticket"),
        (mint_token("alice", SECRET, NOW, 60), "alice", b"another-secret", NOW, "bad ticket signature"),
        (mint_token("alice", SECRET, NOW, 60), "bob", SECRET, NOW, "another authid"),
        (mint_token("alice", SECRET, NOW, 60), "alice", SECRET, NOW + 60, "expired"),
    ],
    ids=["none", "empty", "too-long", "version", "two-parts", "wrong-secret", "other-authid", "expired"],
)
def test_bad_tickets_are_refused_with_a_reason(token, authid, secret, now, reason):
    """Each kind of bad ticket is refused with a message naming why, never the secret."""
    with pytest.raises(TokenError) as info:
        verify_token(token, authid, secret, now)
    assert reason in str(info.value)
    assert secret.decode() not in str(info.value)


def test_a_tampered_payload_fails_the_signature():
    """Changing the payload (a later expiry, another member) breaks the signature."""
    token = mint_token("alice", SECRET, NOW, 60)
    version, _payload, signature = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"sub": "alice", "exp": NOW + 10**6}).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="signature"):
        verify_token(f"{version}.{forged}.{signature}", "alice", SECRET, NOW)


def test_no_secret_mints_nothing():
    """Without a secret no ticket can be minted."""
    with pytest.raises(TokenError, match="no secret"):
        mint_token("alice", b"", NOW, 60)


@pytest.mark.parametrize("authid", ["", "a b", "x" * 65, "é", None, 5, "alice\n"])
def test_malformed_authids_are_refused(authid):
    """Member ids outside the documented pattern are refused."""
    with pytest.raises(TokenError, match="malformed authid"):
        check_authid(authid)
