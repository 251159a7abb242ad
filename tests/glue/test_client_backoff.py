"""The Python client's reconnection, driven by a fake reactor: capped exponential backoff with
jitter, a bounded wait per connection attempt, and a reset after a successful join."""

from __future__ import annotations

import random

from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from kasagi.client import ClientOptions, KasagiClient, backoff_delay


def _fail_attempts(client: KasagiClient, reactor: MemoryReactorClock, n: int) -> list[float]:
    """Refuse ``n`` connection attempts in a row; return the wait before each retry."""
    delays = []
    for _ in range(n):
        factory = reactor.tcpClients[-1][2]
        factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        (pending,) = [c for c in reactor.getDelayedCalls() if c.active()]
        delay = pending.getTime() - reactor.seconds()
        delays.append(delay)
        reactor.advance(delay)
    return delays


class BackoffTests(SynchronousTestCase):
    def make(self, **options: float) -> tuple[KasagiClient, MemoryReactorClock]:
        reactor = MemoryReactorClock()
        client = KasagiClient("ws://127.0.0.1:9/ws", "alice", options=ClientOptions(**options), reactor=reactor)  # type: ignore[arg-type]
        client.start()
        return client, reactor

    def test_retry_delays_grow_with_jitter_and_never_exceed_the_cap(self) -> None:
        """Refused connection attempts are retried after waits that double (with jitter in [0.5, 1])
        up to at most 5 s."""
        client, reactor = self.make(initial_retry_delay=0.2, max_retry_delay=5.0)
        delays = _fail_attempts(client, reactor, 12)
        for i, delay in enumerate(delays):
            base = min(5.0, 0.2 * 2**i)
            self.assertTrue(
                0.5 * base - 1e-9 <= delay <= base + 1e-9, f"attempt {i}: {delay} not in [{0.5 * base}, {base}]"
            )
        self.assertLessEqual(max(delays), 5.0)
        self.assertGreater(max(delays), 2.0, "the delay does grow to the cap")
        self.assertEqual(len(reactor.tcpClients), 13)
        client.close()
        self.assertEqual([c for c in reactor.getDelayedCalls() if c.active()], [])

    def test_clients_spread_their_retries(self) -> None:
        """Clients failing together do not retry together: their waits differ (jitter)."""
        waits = []
        for _ in range(20):
            client, reactor = self.make()
            waits.append(round(_fail_attempts(client, reactor, 4)[-1], 6))
            client.close()
        self.assertGreater(len(set(waits)), 10)

    def test_each_attempt_has_a_bounded_dial_time(self) -> None:
        """A connection attempt is given up after the dial timeout (a silent network can hold a SYN for minutes)."""
        _, reactor = self.make(dial_timeout=3.0)
        self.assertEqual(reactor.tcpClients[-1][3], 3.0)

    def test_backoff_delay_is_capped_for_any_attempt(self) -> None:
        """The backoff formula stays within the cap even after many attempts."""
        rng = random.Random(7)
        for attempt in (0, 5, 30, 1000):
            delay = backoff_delay(attempt, 0.2, 5.0, rng)
            self.assertLessEqual(delay, 5.0)
            self.assertGreaterEqual(delay, min(5.0, 0.2 * 2 ** min(attempt, 32)) * 0.5)

    def test_close_stops_reconnecting(self) -> None:
        """A closed client makes no further connection attempts."""
        client, reactor = self.make()
        client.close()
        factory = reactor.tcpClients[-1][2]
        factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        reactor.advance(60)
        self.assertEqual(len(reactor.tcpClients), 1)


class RetryClassTests(SynchronousTestCase):
    """Which failures an ``act`` or a re-join retries (same cseq) and which end it."""

    def test_a_router_that_could_not_decide_is_retried_and_a_refusal_is_not(self) -> None:
        """``wamp.error.authorization_failed`` (the authorizer had no answer from the room
        service, e.g. while it restarts) is retried; ``wamp.error.not_authorized`` and the
        room's definite refusals are not."""
        from autobahn.wamp.exception import ApplicationError

        from kasagi.client import recovers

        def retried(uri: str) -> bool:
            return recovers(Failure(ApplicationError(uri)))

        self.assertTrue(retried("wamp.error.authorization_failed"))
        self.assertTrue(retried("kasagi.error.unavailable"))
        self.assertFalse(retried("wamp.error.not_authorized"))
        self.assertFalse(retried("kasagi.error.rejected"))

    def test_an_error_the_server_marks_final_is_not_retried(self) -> None:
        """kasagi.error.unavailable with retryable false (a room whose stored data is damaged)
        ends the action at once instead of retrying it until the deadline."""
        from autobahn.wamp.exception import ApplicationError

        from kasagi.client import recovers

        self.assertFalse(recovers(Failure(ApplicationError("kasagi.error.unavailable", "damaged", retryable=False))))
        self.assertTrue(recovers(Failure(ApplicationError("kasagi.error.unavailable", "busy", retryable=True))))
        reopen = ApplicationError("kasagi.error.no_such_room", "open it", retryable=False)
        self.assertTrue(recovers(Failure(reopen)), "the room is opened again, then the call retried")
