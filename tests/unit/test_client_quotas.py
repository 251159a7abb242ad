"""The router's per-member and per-session quotas, and the byte count of a client's unsent buffer."""

from __future__ import annotations

from types import SimpleNamespace

from kasagi.auth import SessionQuota, session_refusal, subscription_refusal
from router.backpressure import OutgoingBufferGuard, buffered_bytes


def test_a_member_beyond_its_session_quota_is_refused_until_one_leaves() -> None:
    """The third session of a member with a quota of two is refused; once one left, a new one fits."""
    quota = SessionQuota(2)
    assert quota.joined("alice", 1) and quota.joined("alice", 2) and quota.joined("bob", 3)
    assert not quota.joined("alice", 4)
    quota.left(4)
    quota.left(1)
    assert quota.joined("alice", 5)
    assert (quota.count("alice"), quota.refused) == (2, 1)
    reason, message = session_refusal(2, "alice")
    assert reason == "kasagi.error.full" and "sessions_per_member" in message


def test_no_session_quota_when_the_limit_is_zero() -> None:
    """A limit of 0 admits any number of sessions."""
    quota = SessionQuota(0)
    assert all(quota.joined("alice", i) for i in range(1000))


def test_subscriptions_beyond_the_quota_are_refused_counting_those_being_decided() -> None:
    """A session at its subscription quota, or reaching it with decisions in flight, is refused naming the quota."""
    assert subscription_refusal(4, 0, 5) is None
    assert "subscriptions_per_session" in (subscription_refusal(5, 0, 5) or "")
    assert subscription_refusal(3, 2, 5) is not None
    assert subscription_refusal(10**6, 0, 0) is None


def test_the_unsent_bytes_of_a_transport_are_counted() -> None:
    """Bytes in the transport's write buffer past its offset plus the bytes not yet joined to it are unsent."""
    transport = SimpleNamespace(dataBuffer=b"x" * 100, offset=40, _tempDataLen=7)
    assert buffered_bytes(SimpleNamespace(transport=transport)) == 67
    assert buffered_bytes(SimpleNamespace()) == 0


def test_the_guard_closes_a_client_over_the_limit_and_writes_it_nothing_more() -> None:
    """A message to a client holding more than the limit unsent closes it with code 4008 instead of being sent."""
    sent: list[object] = []
    closes: list[tuple[int, str]] = []
    router = SimpleNamespace(send=lambda session, msg: sent.append(msg))
    guard = OutgoingBufferGuard(limit=50)
    guard.install(router)
    transport = SimpleNamespace(dataBuffer=b"", offset=0, _tempDataLen=10)
    protocol = SimpleNamespace(transport=transport, sendClose=lambda code, reason: closes.append((code, reason)))
    session = SimpleNamespace(_transport=protocol, _authid="slow", _session_id=1)
    router.send(session, "a")
    transport._tempDataLen = 51
    router.send(session, "b")
    transport._tempDataLen = 0
    router.send(session, "c")
    assert sent == ["a"]
    assert closes and closes[0][0] == 4008 and "50 bytes" in closes[0][1]
    assert (guard.dropped, guard.largest) == (1, 51)
