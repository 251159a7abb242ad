"""A joined room: its local copy kept in sync by one sync loop, and the member's actions,
retried as the error policy says (:mod:`kasagi.client._retry`)."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autobahn.wamp.exception import ApplicationError
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from kasagi import wire
from kasagi.client._errors import ConnectionLost, ServerError, as_client_error
from kasagi.client._retry import RETRY_ERRORS, Recovery, backoff_delay, recovery_of, retry_after_of
from kasagi.core.replica import RoomReplica, Verdict
from kasagi.deadline import within

if TYPE_CHECKING:
    from kasagi.client._connection import KasagiClient, _Session

__all__ = ["RoomHandle", "new_instance"]


def new_instance() -> int:
    """A new client instance id: the time in microseconds plus a random part, so an instance
    started later is above those before it (``docs/protocol.md``, Exactly once)."""
    return int(time.time() * 1_000_000) + random.randrange(1000)


class RoomHandle:
    """A joined room: its local state, its events, and the member's actions in it.

    One sync loop per room keeps it joined: it (re)subscribes on the current session and calls
    ``join(since)``, retrying with backoff through disconnects, owner restarts (re-opening the
    room) and timeouts, until the local copy is in sync; gaps, new epochs and reconnects all
    go through it.
    """

    log = Logger()

    def __init__(self, client: KasagiClient, room: str, type: str, options: dict[str, Any]) -> None:
        self.client = client
        self.room = room
        self.type = type
        self.options = options
        self.replica = RoomReplica(room)
        # Time-seeded (microseconds), so a member's cseqs stay unique across reloads and tabs.
        self._cseq = int(time.time() * 1_000_000)
        #: This handle's client instance id: results are kept per (member, instance), so
        #: several clients of one member never push each other's results out.
        self.instance = new_instance()
        self._listeners: list[Callable[[Any], None]] = []
        #: Fast-path inputs waiting for their acknowledgement: cseq -> Deferred.
        self._inputs: dict[int, Deferred[dict[str, Any]]] = {}
        self._subscription: Any = None
        self._subscribed_on: _Session | None = None
        #: The session on which the room was last joined (acts wait until it is the current one).
        self._joined_on: _Session | None = None
        self._syncing = False
        self._resync_again = False
        #: The backoff a sync loop is sleeping in: (wake-up Deferred, its timer).
        self._waking: tuple[Deferred[None], IDelayedCall] | None = None
        self._sync_waiters: list[Deferred[None]] = []
        self._stopped = False
        self.synced_once = False
        self._last_heard = client.clock.seconds()
        self._watchdog: IDelayedCall | None = None
        #: Client clock (seconds) until which the room service asked for no action (the
        #: ``retry_after`` of a ``kasagi.error.rate_limited``): acts wait for it, or fail at
        #: once when it ends past their deadline; fast inputs fail at once.
        self.hold_until = 0.0
        #: Acts sent and not yet answered (at most ``max_unanswered``), and the acts waiting,
        #: in order, for one of them to be answered (each: its turn, and its deadline's timer).
        self._unanswered = 0
        self._waiting: deque[tuple[Deferred[bool], IDelayedCall]] = deque()
        self.stats = dict.fromkeys(
            (
                "events",
                "dropped",
                "resyncs",
                "snapshots",
                "catchups",
                "sync_retries",
                "act_retries",
                "quiet_rejoins",
                "held",
            ),
            0,
        )

    # -- views -------------------------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        return self.replica.state

    @property
    def seq(self) -> int:
        return self.replica.seq

    @property
    def epoch(self) -> int | None:
        return self.replica.epoch

    @property
    def member(self) -> str | None:
        return self.replica.member

    @property
    def in_sync(self) -> bool:
        """Joined on the current session, with no gap or resync outstanding."""
        return (
            self._joined_on is not None
            and self._joined_on is self.client.session
            and not self._syncing
            and not self.replica.needs_snapshot
        )

    def on_change(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener(event)`` after each applied event (``None`` after a snapshot)."""
        self._listeners.append(listener)

    def _notify(self, event: Any) -> None:
        if self._inputs and isinstance(event, dict):
            mine = (event.get("acks") or {}).get(self.member)
            for cseq in mine or ():
                d = self._inputs.pop(cseq, None)
                if d is not None:
                    d.callback({"seq": event["seq"], "cseq": cseq})
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 -- a listener's bug must not break syncing
                self.log.failure("room {room}: change listener failed", room=self.room)

    # -- syncing -------------------------------------------------------------------------------
    def _resume(self) -> None:
        """After a reconnect: subscribe again and catch up from the last position."""
        if not self._stopped:
            self._sync().addErrback(self._sync_failed)

    def _sync_failed(self, failure: Failure) -> None:
        if not self._stopped and not self.client.closing:
            self.log.warn("room {room}: sync failed: {why}", room=self.room, why=failure.getErrorMessage())

    def _on_event(self, event: Any = None, *args: Any, **kwargs: Any) -> None:
        if event is None and isinstance(kwargs.get("reply"), dict):
            # The owner's answer to one of this session's fast-path inputs (not an event).
            self._on_reply(kwargs["reply"])
            return
        tap = self.client.event_tap
        if tap is not None:
            tap(self.room, event, self._take_event)
        else:
            self._take_event(event)

    def _take_event(self, event: Any) -> None:
        if self._stopped:
            return
        self._last_heard = self.client.clock.seconds()
        verdict = self.replica.offer(event)
        for applied in self.replica.pop_applied():
            self.stats["events"] += 1
            self._notify(applied)
        if verdict is Verdict.DROPPED:
            self.stats["dropped"] += 1
        elif verdict is Verdict.RESYNC and self.replica.synced:
            self.stats["resyncs"] += 1
            self._sync().addErrback(self._sync_failed)

    def _sync(self) -> Deferred[None]:
        """Fires once the room is joined on the current session and in sync (join(since):
        catch up from the replica's position, or take a snapshot). Concurrent requests share
        one loop; fails only on an error that retrying can't fix, or when the room stops."""
        d: Deferred[None] = Deferred()
        self._sync_waiters.append(d)
        if self._syncing:
            self._resync_again = True
            self._wake_up()  # news (e.g. an event of a new owner): no need to finish a backoff
        else:
            self._syncing = True
            self._sync_loop().addBoth(self._sync_done)
        return d

    def _backoff(self, delay: float) -> Deferred[None]:
        """Wait ``delay`` seconds before retrying a sync, or less if :meth:`_wake_up` is called."""
        wake: Deferred[None] = Deferred()
        timer = self.client.clock.callLater(delay, self._wake_up)
        self._waking = (wake, timer)
        return wake

    def _wake_up(self) -> None:
        waking, self._waking = self._waking, None
        if waking is not None:
            wake, timer = waking
            if timer.active():
                timer.cancel()
            wake.callback(None)

    def _sync_done(self, outcome: Any) -> None:
        self._syncing = False
        waiters, self._sync_waiters = self._sync_waiters, []
        for d in waiters:
            if isinstance(outcome, Failure):
                d.errback(outcome)
            else:
                d.callback(None)

    @inlineCallbacks
    def _sync_loop(self):  # type: ignore[no-untyped-def]
        attempt = 0
        while True:
            if self._stopped or self.client.closing:
                raise ConnectionLost("the room was left or the client closed")
            self._resync_again = False
            try:
                session, reply = yield self._join_once()
            except RETRY_ERRORS:
                # A re-join needs nothing more than this join: every recovery but giving up
                # is to try again, after re-opening the room if the table says so.
                recovery = recovery_of(Failure())
                if recovery.final:
                    raise
                yield self._before_retry(recovery, attempt)
                attempt += 1
                continue
            if self._load_join_reply(session, reply):
                return

    @inlineCallbacks
    def _join_once(self):  # type: ignore[no-untyped-def]
        """Subscribe to the room's topic on the current session (once per session) and join;
        fires with ``(session, reply)``."""
        options, clock = self.client.options, self.client.clock
        session = yield self.client.wait_connected()
        if self._subscribed_on is not session:
            subscribing = session.subscribe(self._on_event, wire.room_topic(self.room))
            self._subscription = yield within(subscribing, options.call_timeout, clock, "subscribe")
            self._subscribed_on = session
        since = self.replica.position
        since_arg = None if since is None else {"epoch": since.epoch, "seq": since.seq}
        reply = yield self.client.call(wire.room_procedure(self.room, "join"), since_arg)
        return session, reply

    @inlineCallbacks
    def _before_retry(self, recovery: Recovery, attempt: int):  # type: ignore[no-untyped-def]
        """After the ``attempt``-th failed join: re-open the room if ``recovery`` says so, then
        back off. Fails only when re-opening fails for good."""
        options = self.client.options
        self.stats["sync_retries"] += 1
        if recovery is Recovery.REOPEN:
            try:
                yield self.client.open(self.room, self.type, self.options)
            except RETRY_ERRORS:
                failure = Failure()
                if recovery_of(failure).final:
                    raise
                self._hold(retry_after_of(failure.value))
        delay = backoff_delay(attempt, options.initial_retry_delay, options.max_retry_delay)
        yield self._backoff(max(delay, self.hold_until - self.client.clock.seconds()))

    def _load_join_reply(self, session: _Session, reply: dict[str, Any]) -> bool:
        """Bring the replica to a join's reply and tell the listeners; whether the sync is done
        (False: the reply did not fit, or news asks for another join)."""
        self.stats["snapshots" if "state" in reply else "catchups"] += 1
        try:
            applied = self.replica.load(reply)
        except ValueError:
            self.replica.needs_snapshot = True
            return False
        self._joined_on = session
        self.synced_once = True
        self._last_heard = self.client.clock.seconds()
        self._watch()
        if "state" in reply:
            self._notify(None)
        for event in applied:
            self._notify(event)
        return not self._resync_again and not self.replica.needs_snapshot

    # -- actions -------------------------------------------------------------------------------
    def next_cseq(self) -> int:
        self._cseq += 1
        return self._cseq

    def _hold(self, seconds: float) -> None:
        """The room service asked for no action for ``seconds``."""
        if seconds > 0:
            self.hold_until = max(self.hold_until, self.client.clock.seconds() + seconds)

    def _held_error(self, wait: float) -> ServerError:
        seconds = round(wait, 3)
        return ServerError(
            wire.ErrorURI.RATE_LIMITED,
            f"room {self.room}: the room service asked for no action for {seconds} s more",
            field="service",
            expected="spare capacity",
            got="held by the client",
            retry_after=seconds,
            retryable=True,
            held=True,
        )

    def _window_error(self) -> ServerError:
        """The refusal of an act or fast input the window kept from being sent."""
        limit = self.client.options.max_unanswered
        return ServerError(
            wire.ErrorURI.RATE_LIMITED,
            f"room {self.room}: {limit} actions of this room are unanswered; this one was not sent",
            field="window",
            expected=f"fewer than {limit} unanswered actions",
            got=f"{limit} unanswered",
            retryable=True,
            held=True,
        )

    def _turn(self, ends: float) -> Deferred[bool]:
        """Fires True once an act may be sent (fewer than ``max_unanswered`` are unanswered),
        False if its deadline (``ends``, client clock) comes first; acts take turns in order."""
        if self._unanswered < self.client.options.max_unanswered and not self._waiting:
            self._unanswered += 1
            return succeed(True)
        turn: Deferred[bool] = Deferred()

        def too_late() -> None:
            self._waiting.remove(entry)
            turn.callback(False)

        clock = self.client.clock
        entry = (turn, clock.callLater(max(0.0, ends - clock.seconds()), too_late))
        self._waiting.append(entry)
        return turn

    def _answered(self, outcome: Any) -> Any:
        """An act was answered or gave up: its turn passes to the next waiting act."""
        if self._waiting:
            turn, timer = self._waiting.popleft()
            timer.cancel()
            turn.callback(True)
        else:
            self._unanswered -= 1
        return outcome

    def act(
        self,
        action: str,
        args: dict[str, Any] | None = None,
        *,
        cseq: int | None = None,
        deadline: float | None = None,
    ) -> Deferred[dict[str, Any]]:
        """Send an action; fires with ``{"seq", "cseq"}`` once it is durable, or fails with
        the server's :class:`~kasagi.client.ServerError` (an ``ApplicationError``: ``.error`` is
        the ``kasagi.error.*`` URI, ``.details`` the field, expected and got).
        Retries with the same cseq (applied once) through disconnects and failovers until its
        deadline (``deadline`` seconds, default the client's ``act_deadline``); each attempt
        waits until the room is joined on the current session. A ``kasagi.error.rate_limited``
        with ``retry_after`` holds the room: this act and the room's next ones wait that long
        before they are sent, and one whose deadline ends first fails at once with
        ``rate_limited`` (``details["retry_after"]``: the seconds still to wait).
        At most the client's ``max_unanswered`` acts are sent and unanswered at once: the next
        ones wait, in order, and one whose deadline ends while it waits fails unsent with
        ``rate_limited`` (``details["held"]`` true, ``details["field"]`` ``"window"``)."""
        if deadline is not None and not (isinstance(deadline, int | float) and deadline > 0):
            raise ValueError(f"deadline must be a number of seconds > 0, not {deadline!r}")
        if cseq is None:
            cseq = self.next_cseq()
        instance = self.instance
        clock, options = self.client.clock, self.client.options
        ends = clock.seconds() + (deadline if deadline is not None else options.act_deadline)

        def take_turn(sending: bool) -> Deferred[dict[str, Any]]:
            if not sending:
                self.stats["held"] += 1
                raise self._window_error()
            return self._send_act(action, args or {}, cseq, instance, ends).addBoth(self._answered)

        return self._turn(ends).addCallback(take_turn)

    def _send_act(
        self, action: str, args: dict[str, Any], cseq: int, instance: int, ends: float
    ) -> Deferred[dict[str, Any]]:
        """Send one act now, retried as :meth:`act` says until ``ends`` (client clock)."""
        clock, options = self.client.clock, self.client.options
        result: Deferred[dict[str, Any]] = Deferred()
        if self._stopped:
            result.errback(Failure(ConnectionLost(f"room {self.room} left")))
            return result
        attempt = [0]
        held: list[Failure] = []
        uri = wire.room_procedure(self.room, "act")

        def send() -> None:
            attempt[0] += 1
            if self._joined_on is not None and self._joined_on is self.client.session:
                d = self.client.call(uri, action, args, cseq, instance)
            else:
                remaining = max(0.1, ends - clock.seconds())
                d = within(self._sync(), remaining, clock, "rejoin")
                d.addCallback(lambda _: self.client.call(uri, action, args, cseq, instance))
            d.addCallbacks(result.callback, retry)

        def send_when_free() -> None:
            # Now, or once the room's hold ends; at once with rate_limited if that is too late.
            wait = self.hold_until - clock.seconds()
            if wait <= 0:
                send()
            elif self.hold_until >= ends:
                self.stats["held"] += 1
                result.errback(held[-1] if held else Failure(self._held_error(wait)))
            else:
                clock.callLater(wait, send_when_free)

        def retry(failure: Failure) -> None:
            now = clock.seconds()
            recovery = recovery_of(failure)
            after = retry_after_of(failure.value)
            self._hold(after)
            if self._stopped or recovery.final or now >= ends or now + after >= ends:
                self._outcome_unknown(failure.value)
                result.errback(failure)
                return
            if after > 0:
                held.append(failure)
            self.stats["act_retries"] += 1
            if recovery in (Recovery.REJOIN, Recovery.REOPEN) and self._joined_on is self.client.session:
                # The owner forgot this session or the room: join again first (the sync loop
                # re-opens the room when its join says so).
                self._joined_on = None
            delay = max(backoff_delay(attempt[0] - 1, 0.1, options.max_retry_delay), after)
            clock.callLater(min(delay, max(0.0, ends - now)), send_when_free)

        send_when_free()
        return result

    def send(
        self, action: str, args: dict[str, Any] | None = None, *, cseq: int | None = None, timeout: float | None = None
    ) -> Deferred[dict[str, Any]]:
        """The fast input path: publish the action on ``kasagi.input.<room>``. Fires with
        ``{"seq", "cseq"}`` when an event acknowledges it, fails with the owner's
        :class:`~kasagi.client.ServerError` if it is refused, or with :class:`CallTimeout` if neither arrives
        within ``timeout`` (then sending it again with the same ``cseq`` is safe). While the
        room is held (a refusal's ``retry_after``), or while ``max_unanswered`` inputs wait for
        their answer, it fails at once with ``rate_limited``, unsent."""
        if cseq is None:
            cseq = self.next_cseq()
        wait = self.hold_until - self.client.clock.seconds()
        if wait > 0 or len(self._inputs) >= self.client.options.max_unanswered:
            self.stats["held"] += 1
            refused: Deferred[dict[str, Any]] = Deferred()
            refused.errback(Failure(self._held_error(wait) if wait > 0 else self._window_error()))
            return refused
        instance = self.instance
        pending: Deferred[dict[str, Any]] = Deferred()
        self._inputs[cseq] = pending

        def publish(session: _Session) -> None:
            session.publish(wire.input_topic(self.room), action, args or {}, cseq, instance)

        def forget(result: Any) -> Any:
            self._inputs.pop(cseq, None)
            return result

        self.client.wait_connected().addCallbacks(publish, lambda f: pending.errback(f) if not pending.called else None)
        limit = timeout if timeout is not None else self.client.options.call_timeout
        return within(pending, limit, self.client.clock, "input").addBoth(forget).addErrback(as_client_error)

    def _on_reply(self, reply: dict[str, Any]) -> None:
        d = self._inputs.pop(reply.get("cseq"), None)  # type: ignore[arg-type]
        if d is None:
            return
        if "error" in reply:
            details = reply.get("details") or {}
            error = ServerError(reply["error"], reply.get("message", ""), **details)
            self._outcome_unknown(error)
            self._hold(retry_after_of(error))
            d.errback(Failure(error))
        else:
            d.callback({"seq": reply.get("seq"), "cseq": reply.get("cseq")})

    def _outcome_unknown(self, error: object) -> None:
        """After ``kasagi.error.outcome_unknown`` (final: the caller looks at the state to see
        whether the action happened): if the room dropped this client instance, act as a new
        one from now on, with an id above the floor the room named."""
        if not isinstance(error, ApplicationError) or error.error != wire.ErrorURI.OUTCOME_UNKNOWN:
            return
        details = error.kwargs or {}
        floor = details.get("floor")
        if details.get("field") == "instance" and isinstance(floor, int) and self.instance <= floor:
            self.instance = max(new_instance(), floor + 1)

    def leave(self) -> Deferred[Any]:
        """Leave the room (the member goes offline for the grace period)."""
        self._stop()
        self.client.rooms.pop(self.room, None)
        d = self.client.call(wire.room_procedure(self.room, "leave"))
        subscription = self._subscription
        if subscription is not None and subscription.active:
            clock, limit = self.client.clock, self.client.options.call_timeout

            def unsubscribe(result: Any) -> Deferred[Any]:
                done = within(subscription.unsubscribe(), limit, clock, "unsubscribe")
                return done.addBoth(lambda _: result)

            d.addBoth(unsubscribe)
        return d

    def _stop(self) -> None:
        self._stopped = True
        # Acts waiting for their turn go now, to fail at once (taken off the queue first, so
        # that each one's answer frees only its own place).
        waiting, self._waiting = self._waiting, deque()
        for turn, timer in waiting:
            timer.cancel()
            self._unanswered += 1
            turn.callback(True)
        if self._watchdog is not None and self._watchdog.active():
            self._watchdog.cancel()
        self._watchdog = None

    # -- silence -------------------------------------------------------------------------------
    def _watch(self) -> None:
        quiet = self.client.options.quiet_rejoin
        if quiet > 0 and self._watchdog is None and not self._stopped:
            self._watchdog = self.client.clock.callLater(quiet / 2, self._check_quiet)

    def _check_quiet(self) -> None:
        self._watchdog = None
        if self._stopped or self.client.closing:
            return
        silent_for = self.client.clock.seconds() - self._last_heard
        if not self._syncing and self.client.session is not None and silent_for >= self.client.options.quiet_rejoin:
            self.stats["quiet_rejoins"] += 1
            self._last_heard = self.client.clock.seconds()
            self._joined_on = None
            self._sync().addErrback(self._sync_failed)
        self._watch()
