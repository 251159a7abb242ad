"""What ``kasagi up`` prints when it starts: a short banner (version, auth mode, addresses,
store, room types, metrics, where the log goes) and one ``ready`` line once clients can open
rooms. Pure: the lines are built from values; :mod:`kasagi.supervise` prints them."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Banner", "shown_host"]


def shown_host(host: str) -> str:
    """The host a client on another machine would use: the machine's name when the node
    listens on every interface."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 -- naming the wildcard, not binding it
        return socket.gethostname() or "localhost"
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class Banner:
    version: str
    host: str
    port: int
    secure: bool
    #: Whether ``host`` came from ``--host`` (else the default of the mode).
    host_given: bool
    store: str
    room_types: tuple[str, ...]
    #: None: the room service runs in workers (``--role router``).
    serves_rooms: bool
    metrics: str | None
    log: Path | None
    #: The processes of a many-router node (None: the single node, no line).
    processes: str | None = None

    @property
    def http_url(self) -> str:
        return f"http://{shown_host(self.host)}:{self.port}/"

    @property
    def ws_url(self) -> str:
        return f"ws://{shown_host(self.host)}:{self.port}/ws"

    def lines(self) -> list[str]:
        if self.secure:
            auth = "secure mode: signed tickets only (kasagi token USER)"
        else:
            auth = "DEV MODE: any authid is accepted without a valid ticket; do not expose this node"
        listen = self.host or "every interface"
        if not self.host_given:
            listen += " (dev mode default; --host to change)" if not self.secure else " (--host to change)"
        rooms = ", ".join(self.room_types) if self.serves_rooms else "served by workers (kasagi up --role worker)"
        out = [
            f"kasagi {self.version} -- {auth}",
            f"  demo     {self.http_url}",
            f"  clients  {self.ws_url} (realm kasagi)",
            f"  listens  {listen}",
            f"  store    {self.store}",
            f"  rooms    {rooms}",
            f"  metrics  {self.metrics or 'off (--metrics-port serves /metrics and /health)'}",
        ]
        if self.processes is not None:
            out.append(f"  routers  {self.processes}")
        if self.log is not None:
            out.append(f"  log      {self.log} (--loglevel debug shows it here)")
        return out

    def ready(self, seconds: float) -> str:
        what = "clients can open rooms" if self.serves_rooms else "workers and clients can connect"
        return f"kasagi: ready in {seconds:.1f} s: {what} at {self.ws_url}"
