"""Router-side tuning, applied inside the router worker by :class:`RouterTuning`, a
component hosted there (``.crossbar/config.json``, options in its ``extra``).

Crossbar evaluates the arguments of its debug log calls on every routed message even when
debug logging is off: the call itself is a no-op, but ``hltype(...)`` (ANSI styling through
click), ``pformat(authorization)`` and friends run first. A profile of the router under
load put 14% (this project's workload) to 30% of its busy time there. When the node does not
log at debug level, :func:`skip_debug_log_args` swaps those helpers, in the router's hot
modules only, for a pass-through: debug messages were not being written anyway, and every
other log line keeps its text (only without colours).
"""

from __future__ import annotations

import gc
import importlib
import sys
import time
from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from .outgoing import allow_outgoing

__all__ = [
    "HOT_MODULES",
    "GcPauses",
    "RouterTuning",
    "freeze_startup_objects",
    "refreeze_young",
    "skip_debug_log_args",
]

#: The modules on the path of every routed message (every received and sent WebSocket frame
#: passes ``autobahn.twisted.websocket`` and ``autobahn.websocket.protocol``; a role's
#: authorization runs per message where its decision is not cached).
HOT_MODULES = (
    "crossbar.router.router",
    "crossbar.router.broker",
    "crossbar.router.dealer",
    "crossbar.router.session",
    "crossbar.router.protocol",
    "crossbar.router.role",
    "autobahn.twisted.websocket",
    "autobahn.wamp.websocket",
    "autobahn.wamp.protocol",
    "autobahn.websocket.protocol",
    "autobahn.wamp.serializer",
)
_HELPERS = ("hl", "hlid", "hltype", "hlval", "hlflag", "pformat")


def _passthrough(obj: Any, *args: Any, **kwargs: Any) -> Any:
    return obj


def skip_debug_log_args() -> list[str]:
    """Replace the log-argument helpers of :data:`HOT_MODULES`; return what was replaced."""
    replaced = []
    for name in HOT_MODULES:
        module = importlib.import_module(name)
        for helper in _HELPERS:
            if callable(getattr(module, helper, None)):
                setattr(module, helper, _passthrough)
                replaced.append(f"{name}.{helper}")
    return replaced


def freeze_startup_objects() -> int:
    """Move every object alive now (the router's and its libraries' startup state: Crossbar,
    Autobahn, web3, ...) out of the garbage collector's reach (``gc.freeze``). Full
    collections then walk only what was allocated since, which shortens their pauses.
    Returns the number of objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def refreeze_young() -> int:
    """Collect every object that is not frozen, then freeze the survivors; return how many
    objects are frozen now.

    The collection walks only what was allocated since the last freeze, so it is short; the
    rooms' history (up to 2 minutes of events) then no longer lengthens every full
    collection. The price: a reference cycle that becomes garbage *after* its objects were
    frozen is never collected (objects freed by reference counting, which is nearly all of
    them, are freed as usual). That is why it is an option, not a default.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class GcPauses:
    """Record the garbage collector's work (``gc.callbacks``): per generation, the number of
    collections, the CPU time they used and the longest pause (wall clock)."""

    def __init__(self) -> None:
        self._started = (0.0, 0.0)
        self.reset()

    def reset(self) -> None:
        self.count = [0, 0, 0]
        self.cpu = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = (time.perf_counter(), time.process_time())
            return
        gen = info.get("generation", 0)
        wall, cpu = time.perf_counter() - self._started[0], time.process_time() - self._started[1]
        self.count[gen] += 1
        self.cpu[gen] += cpu
        self.longest[gen] = max(self.longest[gen], wall)

    def install(self) -> GcPauses:
        gc.callbacks.append(self)
        return self


class RouterTuning(ApplicationSession):
    """Applies the tuning its ``extra`` asks for, in the router worker's process:

    - ``skip_debug_log_args``: :func:`skip_debug_log_args` (set when the node does not log at
      debug level);
    - ``direct_writes``: the router's WebSocket connections send at once when nothing is
      buffered (:mod:`router.direct_writes`; TLS connections keep Twisted's write);
    - ``shared_frames``: a message's WebSocket frame is built once and written to every
      client it goes to (:mod:`router.shared_frames`);
    - ``quick_unmasking``: clients' small frames are unmasked with one integer XOR
      (:mod:`router.unmasking`);
    - ``gc_freeze``: :func:`freeze_startup_objects` once the router is up, and again
      ``gc_freeze_after`` seconds later (default 5), when the other components have
      imported their libraries and opened their stores;
    - ``gc_refreeze_every``: every so many seconds, collect what is not frozen and freeze
      the survivors (:func:`refreeze`): full collections then only ever walk a few seconds'
      worth of objects, however much history the rooms keep. Off by default (see there);
    - ``gc_report_every``: every so many seconds, log the collector's longest pauses (warn
      when one exceeded 20 ms);
    - ``switch_interval``: seconds a thread may hold the interpreter while another waits
      for it (``sys.setswitchinterval``; Python's default is 5 ms). The store's writer
      thread runs a statement, gives the interpreter up while SQLite works, and must get it
      back for the next one: behind a busy reactor thread each such wait is up to the
      interval, so a group commit of 100 rooms took tens of milliseconds longer;
    - ``lean_connections``: a client connection no longer keeps its upgrade's HTTP request
      or its opening handshake, reads its WebSocket options from its class, makes its send
      queue only when it queues, and shares a logger and equal role features with other
      sessions (:mod:`router.lean_connections`);
    - ``local_calls``: clients' ``act`` calls are answered by the router session that read
      them, calling the room service of this process directly instead of through the dealer
      (:mod:`router.local_calls`, :mod:`kasagi.wamp.local_calls`);
    - ``early_refusal``: clients' ``act`` calls are refused by the router session that read
      them, before routing, while the room service of this process is backlogged
      (:mod:`router.early_refusal`);
    - ``max_outgoing_message_size``: the largest message the router's WebSocket connections
      send (:func:`router.outgoing.allow_outgoing`), apart from the incoming limit of the
      transport's ``max_message_size``.
    """

    log = Logger()

    def onJoin(self, details: Any) -> None:
        from twisted.internet import reactor

        extra = self.config.extra or {}
        outgoing = extra.get("max_outgoing_message_size")
        if outgoing is not None:
            allow_outgoing(int(outgoing))
            self.log.info("router tuning: messages sent up to {n} bytes", n=int(outgoing))
        self._log_imports()
        switch = float(extra.get("switch_interval") or 0)
        if switch > 0:
            sys.setswitchinterval(switch)
            self.log.info("router tuning: thread switch interval {ms} ms", ms=switch * 1000)
        if extra.get("skip_debug_log_args"):
            replaced = skip_debug_log_args()
            self.log.info("router tuning: {n} debug log-argument helpers replaced", n=len(replaced))
        if extra.get("lean_connections"):
            from autobahn.twisted.resource import WebSocketResource
            from autobahn.wamp.message import Hello
            from crossbar.router.protocol import WampWebSocketServerFactory, WampWebSocketServerProtocol
            from crossbar.router.session import RouterSession as Session

            from . import lean_connections as lean

            lean.release_handshake(WebSocketResource)
            lean.share_session_loggers(Session)
            lean.share_protocol_options(WampWebSocketServerFactory)
            lean.release_opening_handshake(WampWebSocketServerProtocol)
            lean.share_hello_roles(Hello)
            self.log.info("router tuning: lean connections")
        self._install_session_layers(extra)
        if extra.get("direct_writes"):
            from crossbar.router.protocol import WampWebSocketServerProtocol

            from .direct_writes import install

            install(WampWebSocketServerProtocol)
            self.log.info("router tuning: direct writes on WebSocket connections")
        if extra.get("shared_frames"):
            from crossbar.router.protocol import WampWebSocketServerProtocol

            from .shared_frames import install as install_shared_frames

            install_shared_frames(WampWebSocketServerProtocol)
            self.log.info("router tuning: one WebSocket frame per message for all its clients")
        if extra.get("quick_unmasking"):
            from .unmasking import install as install_unmasking

            install_unmasking()
            self.log.info("router tuning: small client frames unmasked with one integer XOR")
        if extra.get("gc_freeze"):
            self._freeze()
            reactor.callLater(float(extra.get("gc_freeze_after", 5.0)), self._freeze)
        refreeze = float(extra.get("gc_refreeze_every") or 0)
        if refreeze > 0:
            self._refreeze = LoopingCall(refreeze_young)
            self._refreeze.clock = reactor
            self._refreeze.start(refreeze, now=False).addErrback(lambda f: self.log.failure("gc refreeze failed", f))
        every = float(extra.get("gc_report_every") or 0)
        if every > 0:
            self._pauses = GcPauses().install()
            self._report = LoopingCall(self._report_gc)
            self._report.clock = reactor
            self._report.start(every, now=False).addErrback(lambda f: self.log.failure("gc report failed", f))

    def _install_session_layers(self, extra: dict[str, Any]) -> None:
        """What the router sessions do before routing a message (the last installed first)."""
        from crossbar.router.session import RouterSession

        if extra.get("local_calls"):
            from .local_calls import install as install_local_calls

            install_local_calls(RouterSession)  # before early refusal: its refusals come first
            self.log.info("router tuning: clients' acts called in this process, past the dealer")
        if extra.get("early_refusal"):
            from .early_refusal import install as install_early_refusal

            install_early_refusal(RouterSession)
            self.log.info("router tuning: backlogged acts refused before routing")

    def _log_imports(self) -> None:
        """Say which of the packages the node defers (:mod:`kasagi.lazy_imports`) this
        process has loaded after all, and what loaded each first."""
        from kasagi.lazy_imports import report

        imports = report()
        if not imports["installed"]:
            self.log.info("router imports: nothing deferred")
            return
        loaded = imports["loaded"]
        self.log.info(
            "router imports: {deferred} modules deferred, {n} deferred packages loaded{which}",
            deferred=imports["deferred"],
            n=len(loaded),
            which="".join(f"; {name} ({what})" for name, what in sorted(loaded.items())),
        )

    def _freeze(self) -> None:
        self.log.info("router tuning: {n} startup objects frozen", n=freeze_startup_objects())

    def _report_gc(self) -> None:
        p = self._pauses
        emit = self.log.warn if max(p.longest) > 0.02 else self.log.info
        emit(
            "router gc: collections {count}, cpu {cpu} ms, longest pause {longest} ms (gen 0/1/2; frozen {frozen})",
            count="/".join(str(c) for c in p.count),
            cpu="/".join(f"{x * 1000:.0f}" for x in p.cpu),
            longest="/".join(f"{x * 1000:.1f}" for x in p.longest),
            frozen=gc.get_freeze_count(),
        )
        p.reset()
