"""The lobby of one room-service process: keeps its rooms' listings, answers
``kasagi.lobby.list`` and ``kasagi.lobby.match``.

- **Listings follow commits.** After each commit of a room it serves (and when it opens one),
  the process asks the room for its listing (:meth:`~kasagi.core.room.Room.listing`: one hook
  call per commit) and compares it, with the member count and the seat limit, to what it last
  wrote for that room: only a change is written to the :class:`ListingStore` (fenced by the
  room's epoch) and published on ``kasagi.lobby.rooms.<type>``. A private room is never
  listed.
- **Listing** reads pages of the store (room-id order), filters them by metadata equality,
  and signs a cursor for the next page (:mod:`kasagi.lobby.cursor`).
- **Matching** reserves a seat in the store in one atomic step (a placeholder room when none
  fits), then opens the room as ``kasagi.lobby.open`` would and answers what open answers.
  The reservation counts against ``max_members`` until the member joins (its owner's next
  listing write ends it) or its TTL passes. If the open fails, the seat is released.
- **Limits.** Each member's matches pass a token bucket (``match_rate``/``match_burst``):
  beyond it ``kasagi.error.rate_limited`` with ``retry_after``. A member holds one live
  reservation per room type (matching again returns it).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from kasagi import wire
from kasagi.core.commands import OpenCommand
from kasagi.core.errors import InvalidArgument, RateLimited, Unavailable
from kasagi.core.listing import matches
from kasagi.core.ratelimit import RateLimiter
from kasagi.core.roomtypes.base import RoomType
from kasagi.deadline import within
from kasagi.lobby.cursor import CursorSigner
from kasagi.lobby.interface import ListedRoom, ListingStore, Seat
from kasagi.lobby.queries import ListQuery, MatchQuery
from kasagi.service.runner import Publish, RoomRunner
from kasagi.service.settings import ServiceSettings

__all__ = ["Lobby", "OpenRoom"]

#: ``open(cmd, member)``: what ``kasagi.lobby.open`` does (the deployment's rooms).
OpenRoom = Callable[[OpenCommand, str], "Deferred[dict[str, Any]]"]

#: Rooms read from the store per round while filling a page.
_SCAN = 200


class Lobby:
    """The lobby of one process (see the module docstring)."""

    log = Logger()

    def __init__(
        self,
        *,
        store: ListingStore,
        clock: IReactorTime,
        settings: ServiceSettings,
        now_ms: Callable[[], int],
        publish: Publish | None = None,
    ) -> None:
        self.store = store
        self._clock = clock
        self._settings = settings
        self._now_ms = now_ms
        self._publish = publish
        self._limiter = RateLimiter(settings.match_rate, settings.match_burst)
        self._open_limiter = RateLimiter(settings.open_rate, settings.open_burst)
        self._signer: CursorSigner | None = None
        #: room -> (epoch, what was last written for it: meta, members, max_members).
        self._written: dict[str, tuple[int, Any]] = {}
        self.stats = {"listing_writes": 0, "listing_fenced": 0, "matches": 0, "rooms_created": 0}

    def set_publish(self, publish: Publish) -> None:
        self._publish = publish

    # -- listings of the rooms served here ------------------------------------------------------
    def seats_of(self, room_type: type[RoomType] | RoomType) -> int:
        """The seat limit of a room of ``room_type`` (a listing's ``max_members``)."""
        return room_type.seats or self._settings.max_members

    def room_changed(self, runner: RoomRunner) -> None:
        """A room served here committed (or opened): write and publish its listing if it
        changed since the last write."""
        room = runner.room
        if room.access.is_private:
            return
        meta = room.listing()
        members = room.committed.get("members", {})
        shown = None if meta is None else (meta, len(members), self.seats_of(room.type))
        last = self._written.get(room.room_id)
        if last is not None and last == (room.epoch, shown):
            return
        if last is None and shown is None:
            return  # never listed by this process: nothing to take back
        self._written[room.room_id] = (room.epoch, shown)
        d: Deferred[Any]
        if shown is None:
            d = self.store.remove(room.room_id, room.type.name, room.epoch)
            d.addCallback(self._removed, room.room_id, room.type.name)
        else:
            listed = ListedRoom(room.room_id, room.type.name, room.epoch, meta or {}, shown[1], shown[2])
            d = self.store.put(listed, sorted(members), self._now_ms())
            d.addCallback(self._put, room.room_id)
        d.addErrback(self._write_failed, room.room_id)

    def _put(self, stored: ListedRoom | None, room: str) -> None:
        if stored is None:
            self.stats["listing_fenced"] += 1
            self.log.info("room {room}: a later owner's listing is stored; ours was not written", room=room)
            return
        self.stats["listing_writes"] += 1
        self._announce(stored.type, stored.to_wire())

    def _removed(self, removed: bool, room: str, type_name: str) -> None:
        if removed:
            self.stats["listing_writes"] += 1
            self._announce(type_name, {"room": room, "type": type_name, "gone": True})

    def _write_failed(self, failure: Failure, room: str) -> None:
        # Written again on the room's next change (forget what we believe is stored).
        self._written.pop(room, None)
        self.log.warn("room {room}: listing write failed: {why}", room=room, why=failure.getErrorMessage())

    def forget(self, room: str) -> None:
        """The room is no longer served here (its listing stays for the next owner)."""
        self._written.pop(room, None)

    def _announce(self, type_name: str, event: dict[str, Any]) -> None:
        if self._publish is None:
            return
        try:
            maybeDeferred(self._publish, wire.lobby_topic(type_name), event).addErrback(
                lambda f: self.log.warn("lobby publish failed: {why}", why=f.getErrorMessage())
            )
        except Exception as exc:  # noqa: BLE001 -- listeners re-read with list()
            self.log.warn("lobby publish failed: {why}", why=str(exc))

    # -- list ------------------------------------------------------------------------------------
    def _cursor_signer(self) -> Deferred[CursorSigner]:
        if self._signer is not None:
            return succeed(self._signer)

        def keep(secret: bytes) -> CursorSigner:
            self._signer = CursorSigner(secret)
            return self._signer

        return self._within(self.store.secret(), "lobby secret").addCallback(keep)

    @inlineCallbacks
    def list(self, query: ListQuery):  # type: ignore[no-untyped-def]
        """``{"rooms": [...], "next": cursor | None}`` (see docs/protocol.md)."""
        signer = yield self._cursor_signer()
        after = signer.after(query.cursor, query.type, query.filter)
        limit = self._settings.lobby_page
        rooms: list[ListedRoom] = []
        more = False
        while True:
            batch = yield self._within(self.store.page(query.type, after, _SCAN, self._now_ms()), "lobby page")
            for listed in batch:
                if listed.epoch == 0 and listed.reserved == 0:
                    continue  # a placeholder nobody will claim
                if not matches(listed.meta, query.filter):
                    continue
                if len(rooms) == limit:
                    more = True
                    break
                rooms.append(listed)
            if more or len(batch) < _SCAN:
                break
            after = batch[-1].room
        cursor = signer.make(query.type, query.filter, rooms[-1].room) if more else None
        return {"rooms": [r.to_wire() for r in rooms], "next": cursor}

    # -- match -----------------------------------------------------------------------------------
    @inlineCallbacks
    def match(self, query: MatchQuery, member: str, room_type: type[RoomType], open_room: OpenRoom):  # type: ignore[no-untyped-def]
        """Seat ``member`` in a fitting room of the type (or a new one); answers as open does."""
        seats = self.seats_of(room_type)
        if seats <= 0 or room_type.listing is RoomType.listing:
            raise InvalidArgument(
                "rooms of this type are not listed, so they can't be matched",
                field="type",
                expected="a room type with a listing and a seat limit",
                got=query.type,
            )
        self._check_rate(member)
        now = self._now_ms()
        new_room = f"{query.type.replace('-', '_')}_{secrets.token_hex(8)}"
        ttl_ms = int(self._settings.reservation_ttl * 1000)
        seat: Seat = yield self._within(
            self.store.reserve(
                query.type, query.criteria, member, seats=seats, now_ms=now, ttl_ms=ttl_ms, new_room=new_room
            ),
            "seat reservation",
        )
        self.stats["matches"] += 1
        if seat.created:
            self.stats["rooms_created"] += 1
        # A room still a placeholder opens with the options of the criteria it was made for
        # (its metadata): whichever of its matchers opens it first, it is the same room.
        options = room_type.match_options(seat.listed.meta) if seat.listed.epoch == 0 else {}
        try:
            info = yield open_room(OpenCommand(seat.room, query.type, options), member)
        except Exception:
            release = self.store.release(seat.room, query.type, member, self._now_ms())
            release.addErrback(lambda f: self.log.warn("seat release failed: {why}", why=f.getErrorMessage()))
            raise
        self._announce(query.type, seat.listed.to_wire())
        return info

    def _check_rate(self, member: str, limiter: RateLimiter | None = None, what: str = "matches") -> None:
        limiter = self._limiter if limiter is None else limiter
        wait = limiter.take(member, self._clock.seconds())
        if wait > 0:
            raise RateLimited(
                f"too many {what}; retry later",
                field="member",
                expected=f"at most {limiter.rate:g} {what} per second (bursts of {limiter.burst:g})",
                got=member,
                retry_after=round(wait, 3),
            )

    def check_open(self, member: str) -> None:
        """Count one ``kasagi.lobby.open`` of ``member`` (``open_rate``/``open_burst``)."""
        self._check_rate(member, self._open_limiter, "opens")

    def _within(self, d: Deferred[Any], what: str) -> Deferred[Any]:
        def unavailable(failure: Failure) -> Failure:
            why = failure.getErrorMessage()[:200]
            return Failure(Unavailable("the lobby's store did not answer", field="store", expected=what, got=why))

        return within(d, self._settings.store_deadline, self._clock, what).addErrback(unavailable)

    def close(self) -> Deferred[None]:
        return self.store.close()
