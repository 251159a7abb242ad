"""Client tickets (pure): minting and every way a ticket is refused."""

from __future__ import annotations

import base64
import json
import math

import pytest

from kasagi.auth import MAX_TICKET_TTL, TokenError, check_authid, check_ttl, max_ttl_from, mint_token, verify_token

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


@pytest.mark.parametrize(
    "ticket",
    [
        "é",
        "v1.é.ü",
        "v1.abc." + "é" * 43,
        mint_token("alice", SECRET, NOW, 60)[:-1] + "\u00ff",
        "v1.\x00.\x01",
        "v1.abc.def\n",
        "\ud800",
        "v1." + "A" * 100_000 + ".B",
        b"v1.abc.def",
        bytearray(b"\xff\xfe"),
        ["v1", "a", "b"],
        7,
    ],
    ids=[
        "non-ascii",
        "non-ascii-parts",
        "non-ascii-signature",
        "latin1-tail",
        "nul",
        "newline",
        "lone-surrogate",
        "huge",
        "bytes",
        "bytearray",
        "list",
        "int",
    ],
)
def test_any_ticket_text_is_refused_as_malformed_never_crashing(ticket):
    """Every ticket text or type that is not a v1 base64url ticket is refused with TokenError
    "malformed ticket" (nothing else escapes: the authenticator answers not_authorized)."""
    with pytest.raises(TokenError, match="malformed ticket"):
        verify_token(ticket, "alice", SECRET, NOW)


def test_a_ticket_living_longer_than_the_maximum_is_refused():
    """A validly signed ticket expiring further away than the maximum lifetime (plus the clock
    skew allowance) is refused; one at the maximum is accepted."""
    long_lived = mint_token("alice", SECRET, NOW, 30 * 86_400, max_ttl=10**9)
    with pytest.raises(TokenError, match="maximum ticket lifetime"):
        verify_token(long_lived, "alice", SECRET, NOW)
    verify_token(mint_token("alice", SECRET, NOW, MAX_TICKET_TTL), "alice", SECRET, NOW)
    with pytest.raises(TokenError, match="maximum ticket lifetime"):
        verify_token(mint_token("alice", SECRET, NOW, 3600), "alice", SECRET, NOW, max_ttl=60)


@pytest.mark.parametrize("ttl", [0, -1, math.nan, math.inf, -math.inf, 1e12, MAX_TICKET_TTL + 1, True, "60"])
def test_mint_refuses_a_ttl_out_of_bounds(ttl):
    """Minting refuses a ttl that is not a finite number of seconds above 0 and within the maximum."""
    with pytest.raises(TokenError, match="ttl"):
        mint_token("alice", SECRET, NOW, ttl)
    with pytest.raises(TokenError, match="ttl"):
        check_ttl(ttl)


def test_the_maximum_lifetime_is_configurable():
    """KASAGI_MAX_TICKET_TTL's text gives the maximum (unset: 7 days); a non-positive or
    non-finite value is refused."""
    assert max_ttl_from(None) == max_ttl_from("") == MAX_TICKET_TTL == 7 * 86_400
    assert max_ttl_from("3600") == 3600.0
    assert check_ttl(3600, max_ttl_from("3600")) == 3600.0
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(TokenError, match="KASAGI_MAX_TICKET_TTL"):
            max_ttl_from(bad)
