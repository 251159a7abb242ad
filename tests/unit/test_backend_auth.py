"""The backend transport's WAMP-CRA principal (the function Crossbar calls in the router)."""

from __future__ import annotations

import pytest
from autobahn.wamp.exception import ApplicationError

from router.backend_auth import create_authenticator


def test_only_the_backend_principal_gets_the_secret_and_role(monkeypatch: pytest.MonkeyPatch):
    """kasagi_backend gets the backend role and the secret from the environment; any other authid or
    realm is refused."""
    monkeypatch.setenv("KASAGI_BACKEND_SECRET", "s" * 32)
    authenticate = create_authenticator({"secret_env": "KASAGI_BACKEND_SECRET"})
    assert authenticate("kasagi", "kasagi_backend", {}) == {"secret": "s" * 32, "role": "backend"}
    for realm, authid in (
        ("kasagi", "alice"),
        ("kasagi", None),
        ("other", "kasagi_backend"),
        ("kasagi", "kasagi_backend "),
    ):
        with pytest.raises(ApplicationError) as info:
            authenticate(realm, authid, {})
        assert info.value.error == "kasagi.error.not_authorized"


@pytest.mark.parametrize("secret", [None, "", "short"])
def test_a_missing_or_short_backend_secret_refuses_to_start(monkeypatch: pytest.MonkeyPatch, secret):
    """Without a backend secret of at least 16 characters the backend transport admits no one."""
    if secret is None:
        monkeypatch.delenv("KASAGI_BACKEND_SECRET", raising=False)
    else:
        monkeypatch.setenv("KASAGI_BACKEND_SECRET", secret)
    with pytest.raises(RuntimeError, match="at least 16"):
        create_authenticator({"secret_env": "KASAGI_BACKEND_SECRET"})
