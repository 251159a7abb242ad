"""Authentication through a real node: client tickets, dev mode, backend credentials, secrets in logs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError

from kasagi.auth import verify_token
from kasagi.client import KasagiClient
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess
from tests.security.nodes import SECRET, start, token
from tests.security.wamp_raw import Login, Refused, close, connect_unix, connect_ws, when_served

pytestmark = pytest.mark.node


def backend_socket(node: NodeProcess) -> str:
    return str(node.options.data_dir.resolve() / "backend.sock")


@pytest_twisted.inlineCallbacks
def test_a_valid_ticket_logs_in_as_a_client(secure_node: NodeProcess):
    """In secure mode a valid ticket for alice logs in as alice with the client role."""
    session = yield connect_ws(secure_node.options.port, Login("alice", token("alice")))
    try:
        assert (session.welcome.authid, session.welcome.authrole) == ("alice", "client")
    finally:
        yield close(session)


REFUSALS = {
    "missing ticket": (Login("alice", ""), "malformed ticket"),
    "expired ticket": (Login("alice", token("alice", ttl=10, now=time.time() - 3600)), "ticket expired"),
    "malformed ticket": (Login("alice", "not-a-ticket"), "malformed ticket"),
    "tampered ticket": (Login("alice", token("alice")[:-4] + "AAAA"), "bad ticket signature"),
    "wrongly signed ticket": (Login("alice", token("alice", secret="another-secret")), "bad ticket signature"),
    "ticket of another member": (Login("alice", token("bob")), "issued for another authid"),
    "malformed authid": (Login("al ice", token("alice")), "malformed authid"),
    "no authid": (Login(None, token("alice")), "malformed authid"),
    "non-ASCII ticket": (Login("alice", "v1.é." + "ü" * 40), "malformed ticket"),
    "non-ASCII signature": (Login("alice", token("alice")[:-2] + "éé"), "malformed ticket"),
    "control characters": (Login("alice", "v1.\x00\x01\x1b.\x7f"), "malformed ticket"),
    "huge ticket": (Login("alice", "v1." + "A" * 60_000 + ".x"), "malformed ticket"),
    "ticket beyond the maximum lifetime": (
        Login("alice", token("alice", ttl=30 * 86_400.0, max_ttl=10**9)),
        "maximum ticket lifetime",
    ),
}


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("case", list(REFUSALS))
def test_secure_mode_refuses_bad_tickets_with_a_clear_reason(secure_node: NodeProcess, case: str):
    """A login with a missing, expired, malformed (non-ASCII, control characters, huge), wrongly
    signed, foreign or too long-lived ticket is refused with kasagi.error.not_authorized and a
    message naming the reason."""
    login, reason = REFUSALS[case]
    with pytest.raises(Refused) as info:
        yield connect_ws(secure_node.options.port, login)
    assert info.value.reason == "kasagi.error.not_authorized"
    assert reason in info.value.message
    assert SECRET not in info.value.message


@pytest_twisted.inlineCallbacks
def test_other_authentication_methods_are_refused_on_the_public_transport(secure_node: NodeProcess):
    """Anonymous, WAMP-CRA and cryptosign logins are refused: the public transport speaks ticket only."""
    for methods in (("anonymous",), ("wampcra",), ("cryptosign",)):
        with pytest.raises(Refused) as info:
            yield connect_ws(secure_node.options.port, Login("alice", authmethods=methods, secret="x"))
        assert info.value.reason.startswith("wamp.error."), info.value.reason


@pytest_twisted.inlineCallbacks
def test_the_python_client_reports_a_refused_login(secure_node: NodeProcess):
    """KasagiClient.connect with a bad ticket fails (no endless reconnect) and names the reason."""
    with pytest.raises(Exception, match="bad ticket signature"):
        yield KasagiClient.connect(secure_node.url, "alice", token("alice", secret="wrong"))


@pytest_twisted.inlineCallbacks
def test_a_refused_login_fails_connect_at_once(secure_node: NodeProcess):
    """KasagiClient.connect with a bad ticket fails with ConnectionLost naming the reason long
    before its connect deadline (30 s here): within 5 s."""
    from twisted.internet import reactor

    from kasagi.client import ClientOptions, ConnectionLost

    started = reactor.seconds()
    options = ClientOptions(connect_timeout=30.0)
    with pytest.raises(ConnectionLost, match=r"kasagi\.error\.not_authorized: .*bad ticket signature"):
        yield KasagiClient.connect(secure_node.url, "alice", token("alice", secret="wrong"), options=options)
    assert reactor.seconds() - started < 5.0


def test_dev_mode_is_announced_loudly_and_secure_mode_is_not_dev(secure_node: NodeProcess, limits_node: NodeProcess):
    """A node without a secret says DEV MODE in its log at warn level; a secure node says secure mode."""
    dev_log = Path(limits_node.log_path).read_text(errors="replace")
    secure_log = Path(secure_node.log_path).read_text(errors="replace")
    assert "DEV MODE" in dev_log and "any authid is accepted" in dev_log
    assert "secure mode" in secure_log and "DEV MODE" not in secure_log


def _kasagi(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("kasagi")
    return subprocess.Popen(
        [str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True
    )


def test_kasagi_up_announces_dev_mode_and_secure_needs_a_secret(tmp_path: Path):
    """`kasagi up` says DEV MODE in its start-up lines when no secret is set; `kasagi up --secure`
    without one refuses to start."""
    env = {k: v for k, v in os.environ.items() if k != "KASAGI_SECRET"}
    proc = _kasagi("up", "--port", str(free_port()), "--data-dir", str(tmp_path / "d"), "--loglevel", "warn", env=env)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while len(lines) < 15 and not any("DEV MODE" in line for line in lines):
            lines.append(proc.stdout.readline().decode())
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(timeout=30)
    assert any("DEV MODE" in line for line in lines), lines
    refused = _kasagi("up", "--secure", "--data-dir", str(tmp_path / "e"), env=env)
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 2 and b"KASAGI_SECRET" in err


def test_kasagi_token_mints_a_ticket_only_with_a_secret():
    """`kasagi token alice --ttl 60` prints a ticket valid for alice; without a secret it fails."""
    env = {**os.environ, "KASAGI_SECRET": SECRET}
    out, _ = _kasagi("token", "alice", "--ttl", "60", env=env).communicate(timeout=60)
    verify_token(out.decode().strip(), "alice", SECRET.encode(), time.time())
    no_secret = _kasagi("token", "alice", env={k: v for k, v in os.environ.items() if k != "KASAGI_SECRET"})
    no_secret.communicate(timeout=60)
    assert no_secret.returncode == 2


@pytest.mark.parametrize("ttl", ["0", "-5", "nan", "inf", "-inf", "1e12", "604801"])
def test_kasagi_token_refuses_a_ttl_out_of_bounds_with_one_line(ttl: str):
    """`kasagi token alice --ttl X` for 0, a negative, nan, inf or more than 7 days prints no
    ticket, one line naming the ttl, and exits 2."""
    env = {k: v for k, v in os.environ.items() if k != "KASAGI_MAX_TICKET_TTL"}
    proc = _kasagi("token", "alice", f"--ttl={ttl}", env={**env, "KASAGI_SECRET": SECRET})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == b""
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "ttl" in lines[0], lines


def test_kasagi_token_follows_the_configured_maximum_lifetime():
    """With KASAGI_MAX_TICKET_TTL=30 `kasagi token --ttl 31` is refused and `--ttl 30` mints."""
    env = {**os.environ, "KASAGI_SECRET": SECRET, "KASAGI_MAX_TICKET_TTL": "30"}
    refused = _kasagi("token", "alice", "--ttl", "31", env=env)
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 2 and b"maximum ticket lifetime" in err
    out, _ = _kasagi("token", "alice", "--ttl", "30", env=env).communicate(timeout=60)
    verify_token(out.decode().strip(), "alice", SECRET.encode(), time.time(), max_ttl=30)


# -- the backend role -----------------------------------------------------------------------------


@pytest_twisted.inlineCallbacks
def test_a_client_claiming_the_backend_identity_gets_the_client_role(limits_node: NodeProcess):
    """Even in dev mode, asking for authid kasagi_backend and role backend on the public transport
    gives the client role, which can't register or publish."""
    session = yield connect_ws(limits_node.options.port, Login("kasagi_backend", "anything", authrole="backend"))
    try:
        assert session.welcome.authrole == "client"
        with pytest.raises(ApplicationError) as info:
            yield session.register(lambda: None, "kasagi.room.stolen.join")
        assert info.value.error == "wamp.error.not_authorized"
    finally:
        yield close(session)


@pytest_twisted.inlineCallbacks
def test_the_backend_secret_is_no_client_credential(secure_node: NodeProcess):
    """Knowing the backend secret does not log in on the public transport, by ticket or by WAMP-CRA."""
    backend_secret = secure_node.env["KASAGI_BACKEND_SECRET"]
    with pytest.raises(Refused) as info:
        yield connect_ws(secure_node.options.port, Login("kasagi_backend", backend_secret))
    assert info.value.reason == "kasagi.error.not_authorized"
    with pytest.raises(Refused):
        yield connect_ws(
            secure_node.options.port, Login("kasagi_backend", authmethods=("wampcra",), secret=backend_secret)
        )


@pytest_twisted.inlineCallbacks
def test_client_credentials_are_refused_on_the_backend_socket(secure_node: NodeProcess):
    """On the backend socket a client ticket, a wrong secret or no credential is refused; only the
    backend secret (WAMP-CRA) gives the backend role."""
    path = backend_socket(secure_node)
    attempts = [
        Login("alice", token("alice")),
        Login("kasagi_backend", token("kasagi_backend")),
        Login("alice", authmethods=("wampcra",), secret=token("alice")),
        Login("kasagi_backend", authmethods=("wampcra",), secret="wrong"),
        Login("kasagi_backend", authmethods=("wampcra",), secret=SECRET),
        Login(None, authmethods=("anonymous",)),
    ]
    for login in attempts:
        with pytest.raises(Refused):
            yield connect_unix(path, login)
    good = yield connect_unix(
        path, Login("kasagi_backend", authmethods=("wampcra",), secret=secure_node.env["KASAGI_BACKEND_SECRET"])
    )
    try:
        assert good.welcome.authrole == "backend"
    finally:
        yield close(good)


@pytest_twisted.inlineCallbacks
def test_secrets_and_tickets_stay_out_of_the_log(secure_node: NodeProcess):
    """At log level info, after logins that present the backend secret and valid tickets, the log
    holds neither secret nor any ticket."""
    backend_secret = secure_node.env["KASAGI_BACKEND_SECRET"]
    ticket = token("alice")
    session = yield connect_ws(secure_node.options.port, Login("alice", ticket))
    yield close(session)
    with pytest.raises(Refused):
        yield connect_ws(secure_node.options.port, Login("kasagi_backend", backend_secret))
    with pytest.raises(Refused):
        yield connect_unix(backend_socket(secure_node), Login("kasagi_backend", backend_secret))
    log = Path(secure_node.log_path).read_text(errors="replace")
    for secret in (SECRET, backend_secret, ticket):
        assert secret not in log


@pytest_twisted.inlineCallbacks
def test_secrets_never_reach_the_log_even_at_debug_level(tmp_path: Path):
    """A secure node with the room service in its own process (backend login by WAMP-CRA), at log
    level debug, after good and bad logins on both transports: neither the client secret nor the
    backend secret is in its log. (At debug level Crossbar does log the tickets clients present.)"""
    node = start(
        tmp_path, secret=SECRET, loglevel="debug", component="process", service={"store": "memory", "tick": 0.005}
    )
    port, backend_secret = node.options.port, node.env["KASAGI_BACKEND_SECRET"]
    try:
        client = yield KasagiClient.connect(node.url, "alice", token("alice"))
        handle = yield when_served(lambda: client.join("logged"))
        yield handle.act("move", {"dx": 1, "dy": 1})
        yield client.close()
        for login in (
            Login("alice", token("alice", secret="nope")),
            Login("alice", token("bob")),
            Login("mallory", "guess"),
        ):
            with pytest.raises(Refused):
                yield connect_ws(port, login)
        for login in (
            Login("kasagi_backend", "guess"),
            Login("kasagi_backend", authmethods=("wampcra",), secret=SECRET),
            Login("kasagi_backend", authmethods=("wampcra",), secret="wrong"),
        ):
            with pytest.raises(Refused):
                yield connect_unix(backend_socket(node), login)
    finally:
        node.stop()
    log = Path(node.log_path).read_text(errors="replace")
    assert "room logged open" in log or "logged" in log, "the debug log was written"
    assert SECRET not in log
    assert backend_secret not in log


def admin_ticket(authid: str, secret: str = SECRET) -> str:
    from kasagi.auth import mint_token

    return mint_token(authid, secret.encode(), time.time(), 600, role="admin")


@pytest_twisted.inlineCallbacks
def test_an_admin_ticket_logs_in_with_the_admin_role(secure_node: NodeProcess):
    """A ticket minted with the admin role and the admin secret gives the admin role; a client ticket never does."""
    admin = yield connect_ws(secure_node.options.port, Login("ops", admin_ticket("ops")))
    client = yield connect_ws(secure_node.options.port, Login("ops", token("ops"), authrole="admin"))
    try:
        assert admin.welcome.authrole == "admin"
        assert client.welcome.authrole == "client"
    finally:
        yield close(admin)
        yield close(client)


@pytest_twisted.inlineCallbacks
def test_an_admin_ticket_that_does_not_verify_is_refused_not_downgraded(
    secure_node: NodeProcess, limits_node: NodeProcess
):
    """An admin ticket signed with another secret is refused at login, and a dev-mode node without an admin secret
    refuses every admin ticket (dev mode admits any client, never an admin)."""
    for node, ticket in (
        (secure_node, admin_ticket("ops", secret="kasagi-another-secret-0123456789")),
        (limits_node, admin_ticket("ops")),
    ):
        with pytest.raises(Refused):
            yield connect_ws(node.options.port, Login("ops", ticket))
