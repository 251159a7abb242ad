"""A TCP fault proxy for tests, in Twisted: it sits between clients and the router and can
delay, stall (a silent partition, in either or both directions), reset, or cut connections
after a number of bytes.

Semantics follow what TCP does on a real network:

- **latency** delays every chunk by a fixed time in each direction, keeping order;
- **partition** stops all traffic without telling anybody: data is held (TCP would keep
  retransmitting it) and delivered if the partition heals while both ends still hold the
  connection; a side that closes meanwhile is not noticed by the other (no FIN crosses a
  partition), and on heal the survivor is reset (its next segment would meet an RST).
  New connections are accepted but go nowhere until the heal (their SYN is "lost");
- **reset** aborts both sides at once (RST);
- **cut after N bytes** forwards N more bytes in one direction, then resets: a frame cut in
  the middle.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from twisted.internet import protocol
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

__all__ = ["FaultProxy"]

UP, DOWN = "up", "down"  # client -> router, router -> client
MAX_HELD = 8 * 1024 * 1024


class _Pipe:
    """One proxied connection: the client side, the router side, and what flows between."""

    def __init__(self, proxy: FaultProxy, client: _ClientSide) -> None:
        self.proxy = proxy
        self.client = client
        self.server: _ServerSide | None = None
        self.held: dict[str, list[bytes]] = {UP: [], DOWN: []}
        self.queue: dict[str, deque[tuple[float, bytes]]] = {UP: deque(), DOWN: deque()}
        self.timer: dict[str, IDelayedCall | None] = {UP: None, DOWN: None}
        self.cut: dict[str, int | None] = {UP: None, DOWN: None}
        self.gone: dict[str, bool] = {"client": False, "server": False}
        self.closed = False
        self.bytes = {UP: 0, DOWN: 0}

    # -- wiring --------------------------------------------------------------------------------
    def connect_upstream(self) -> None:
        reactor = self.proxy.reactor
        factory = protocol.ClientFactory.forProtocol(_ServerSide)
        factory.pipe = self  # type: ignore[attr-defined]
        reactor.connectTCP(self.proxy.target_host, self.proxy.target_port, factory, timeout=5)

    def upstream_failed(self) -> None:
        self.abort()

    def _transport(self, direction: str) -> Any:
        """Where data flowing in ``direction`` is written."""
        if direction == UP:
            return self.server.transport if self.server is not None else None
        return self.client.transport

    def _blocked(self, direction: str) -> bool:
        return direction in self.proxy.blocked or (direction == UP and self.server is None)

    # -- data ------------------------------------------------------------------------------------
    def received(self, direction: str, data: bytes) -> None:
        if self.closed:
            return
        if self._blocked(direction):
            held = self.held[direction]
            held.append(data)
            if sum(map(len, held)) > MAX_HELD:
                self.abort()
            return
        self._schedule(direction, data)

    def _schedule(self, direction: str, data: bytes) -> None:
        delay = self.proxy.latency
        if delay <= 0 and not self.queue[direction]:
            self._deliver(direction, data)
            return
        now = self.proxy.reactor.seconds()
        queue = self.queue[direction]
        due = max(now + delay, queue[-1][0] if queue else 0.0)
        queue.append((due, data))
        if self.timer[direction] is None:
            self.timer[direction] = self.proxy.reactor.callLater(max(0.0, due - now), self._drain, direction)

    def _drain(self, direction: str) -> None:
        self.timer[direction] = None
        queue = self.queue[direction]
        now = self.proxy.reactor.seconds()
        while queue and queue[0][0] <= now + 1e-6 and not self.closed:
            self._deliver(direction, queue.popleft()[1])
        if queue and not self.closed:
            self.timer[direction] = self.proxy.reactor.callLater(max(0.0, queue[0][0] - now), self._drain, direction)
        elif not queue:
            self._propagate_close()

    def _deliver(self, direction: str, data: bytes) -> None:
        transport = self._transport(direction)
        if transport is None or self.closed:
            return
        budget = self.cut[direction]
        if budget is not None:
            if len(data) >= budget:
                transport.write(data[:budget])
                self.bytes[direction] += budget
                self.abort()
                return
            self.cut[direction] = budget - len(data)
        self.bytes[direction] += len(data)
        self.proxy.bytes[direction] += len(data)
        transport.write(data)

    def heal(self) -> None:
        """The partition ended: reset a survivor whose peer left, else deliver what was held."""
        if self.closed:
            return
        if self.gone["client"] or self.gone["server"]:
            self.abort()
            return
        if self.server is None:
            self.connect_upstream()
            return
        for direction in (UP, DOWN):
            if not self._blocked(direction):
                held, self.held[direction] = self.held[direction], []
                for data in held:
                    self._schedule(direction, data)

    def upstream_ready(self, server: _ServerSide) -> None:
        self.server = server
        if self.closed or self.gone["client"]:
            self.abort()
            return
        self.proxy.connections += 1
        held, self.held[UP] = self.held[UP], []
        for data in held:
            self.received(UP, data)

    # -- closing ---------------------------------------------------------------------------------
    def side_lost(self, side: str) -> None:
        self.gone[side] = True
        if self.closed:
            return
        if self.server is None:  # never reached the router: nothing to tell
            self.closed = True
            self.proxy.pipes.discard(self)
            return
        toward = DOWN if side == "server" else UP  # the direction that would carry the FIN
        if toward in self.proxy.blocked:
            return  # silent: the other side learns nothing until the heal
        self._propagate_close()

    def _propagate_close(self) -> None:
        if self.closed or not (self.gone["client"] or self.gone["server"]):
            return
        if self.queue[UP] or self.queue[DOWN]:
            return  # delayed data still on its way; _drain calls back
        self.closed = True
        for transport in (self.client.transport, self.server.transport if self.server else None):
            if transport is not None:
                transport.loseConnection()
        self.proxy.pipes.discard(self)

    def abort(self) -> None:
        """Reset both sides (RST)."""
        if self.closed:
            return
        self.closed = True
        for direction in (UP, DOWN):
            timer = self.timer[direction]
            if timer is not None and timer.active():
                timer.cancel()
            self.timer[direction] = None
            self.queue[direction].clear()
        for transport in (self.client.transport, self.server.transport if self.server else None):
            if transport is not None:
                transport.abortConnection()
        self.proxy.pipes.discard(self)


class _ClientSide(protocol.Protocol):
    pipe: _Pipe

    def connectionMade(self) -> None:
        proxy: FaultProxy = self.factory.proxy  # type: ignore[attr-defined]
        self.pipe = _Pipe(proxy, self)
        proxy.pipes.add(self.pipe)
        proxy.accepted += 1
        if proxy.blocked:
            return  # the SYN is "lost": connect upstream on heal
        self.pipe.connect_upstream()

    def dataReceived(self, data: bytes) -> None:
        self.pipe.received(UP, data)

    def connectionLost(self, reason: Any = None) -> None:
        self.pipe.side_lost("client")


class _ServerSide(protocol.Protocol):
    def connectionMade(self) -> None:
        self.pipe: _Pipe = self.factory.pipe  # type: ignore[attr-defined]
        self.pipe.upstream_ready(self)

    def dataReceived(self, data: bytes) -> None:
        self.pipe.received(DOWN, data)

    def connectionLost(self, reason: Any = None) -> None:
        self.pipe.side_lost("server")


class _Listener(protocol.ServerFactory):
    protocol = _ClientSide

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy


class FaultProxy:
    """Listens on 127.0.0.1 and forwards every connection to ``target``; faults on demand."""

    log = Logger()

    def __init__(self, reactor: Any, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1") -> None:
        self.reactor = reactor
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self.latency = 0.0
        #: Directions that pass nothing (both: a partition).
        self.blocked: set[str] = set()
        self.pipes: set[_Pipe] = set()
        self.accepted = 0
        self.connections = 0
        self.bytes = {UP: 0, DOWN: 0}
        self._port: Any = None

    def start(self, port: int = 0) -> FaultProxy:
        self._port = self.reactor.listenTCP(port, _Listener(self), interface=self.listen_host)
        return self

    @property
    def port(self) -> int:
        return int(self._port.getHost().port)

    def url(self, path: str = "/ws") -> str:
        return f"ws://{self.listen_host}:{self.port}{path}"

    # -- faults ------------------------------------------------------------------------------------
    def partition(self, directions: tuple[str, ...] = (UP, DOWN)) -> None:
        """Stop traffic silently (both directions by default; ``("down",)`` loses only what the
        router sends)."""
        self.blocked |= set(directions)

    def heal(self) -> None:
        self.blocked.clear()
        for pipe in list(self.pipes):
            pipe.heal()

    def reset(self) -> int:
        """Abort every connection (RST on both sides); returns how many."""
        pipes = list(self.pipes)
        for pipe in pipes:
            pipe.abort()
        return len(pipes)

    def cut_after(self, nbytes: int, direction: str = DOWN) -> int:
        """Let each open connection pass ``nbytes`` more in ``direction``, then reset it."""
        pipes = [p for p in self.pipes if not p.closed]
        for pipe in pipes:
            pipe.cut[direction] = nbytes
        return len(pipes)

    def stop(self) -> Any:
        self.reset()
        return self._port.stopListening() if self._port is not None else None
