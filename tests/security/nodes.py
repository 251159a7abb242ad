"""Helpers to start the security tests' nodes (imported by their conftest and the tests)."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from kasagi.auth import MAX_TICKET_TTL, mint_token
from kasagi.node import NodeOptions
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess

#: The deployment secret of the secure test nodes (fresh per test run).
SECRET = "kasagi-test-" + secrets.token_urlsafe(24)

LIMITS = {
    "store": "memory",
    "tick": 0.005,
    "action_rate": 5.0,
    "action_burst": 5.0,
    "max_members": 3,
    "max_state_bytes": 4096,
}


def token(
    authid: str, ttl: float = 600.0, secret: str = SECRET, now: float | None = None, max_ttl: float = MAX_TICKET_TTL
) -> str:
    return mint_token(authid, secret.encode(), time.time() if now is None else now, ttl, max_ttl)


def start(tmp: Path, *, secret: str | None, **options: object) -> NodeProcess:
    """Start a node on a free port; ``secret`` set means secure mode."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KASAGI_SECRET", "KASAGI_BACKEND_SECRET")}
    if secret is not None:
        env["KASAGI_SECRET"] = secret
    opts = NodeOptions(port=port, data_dir=tmp / f"node-{port}", secure=secret is not None, **options)  # type: ignore[arg-type]
    return NodeProcess(opts, env=env).start(timeout=120)
