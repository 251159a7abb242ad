"""The router-side tuning: cheap debug log arguments and the garbage collector's work."""

from __future__ import annotations

import gc
import importlib
from typing import Any

from router.tuning import HOT_MODULES, GcPauses, refreeze_young, skip_debug_log_args

_HELPER_NAMES = ("hl", "hlid", "hltype", "hlval", "hlflag", "pformat")


def test_debug_log_helpers_become_pass_throughs_and_other_logging_is_untouched() -> None:
    """After the swap, Crossbar's hot modules format no debug arguments; their loggers stay."""
    saved = {}
    for name in HOT_MODULES:
        module = importlib.import_module(name)
        for helper in ("hl", "hlid", "hltype", "hlval", "hlflag", "pformat"):
            if hasattr(module, helper):
                saved[(name, helper)] = getattr(module, helper)
    try:
        replaced = skip_debug_log_args()
        assert "crossbar.router.router.pformat" in replaced
        assert "crossbar.router.broker.hltype" in replaced
        broker = importlib.import_module("crossbar.router.broker")
        marker = object()
        assert broker.hltype(marker) is marker
        assert broker.hlflag(True, "GRANTED", "DENIED") is True
        assert hasattr(broker.Broker, "log")
    finally:
        for (name, helper), value in saved.items():
            setattr(importlib.import_module(name), helper, value)


def test_gc_pauses_are_counted_per_generation() -> None:
    """A full collection shows up in the generation-2 count with a CPU time and a pause."""
    pauses = GcPauses().install()
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(pauses)
    assert pauses.count[2] >= 1
    assert pauses.longest[2] >= 0.0 and pauses.cpu[2] >= 0.0


def test_refreeze_moves_survivors_out_of_the_collectors_reach() -> None:
    """Objects alive at a refreeze are frozen; unfreezing gives them back to the collector."""
    keep = [[i] for i in range(1000)]
    try:
        assert refreeze_young() >= len(keep)
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


def _router_with_client() -> tuple[Any, Any]:
    """A Crossbar router (one realm, everything allowed) and a WAMP-over-WebSocket client
    session joined to it over an in-memory connection; returns (session, pump)."""
    from autobahn.twisted.wamp import ApplicationSession, ApplicationSessionFactory
    from autobahn.twisted.websocket import WampWebSocketClientFactory
    from autobahn.wamp.types import ComponentConfig
    from crossbar.personality import Personality
    from crossbar.router.protocol import WampWebSocketServerFactory
    from crossbar.router.role import RouterRoleStaticAuth
    from crossbar.router.router import RouterFactory
    from crossbar.router.service import RouterServiceAgent
    from crossbar.router.session import RouterSessionFactory
    from crossbar.worker.types import RouterRealm
    from twisted.test.iosim import FakeTransport, connect

    router_factory = RouterFactory("node1", "worker1", None)

    class Realms:
        """What the router's authentication asks the worker about its realms."""

        personality = Personality

        def has_realm(self, realm: str) -> bool:
            return realm in router_factory

        def has_role(self, realm: str, role: str) -> bool:
            return realm in router_factory and bool(router_factory[realm].has_role(role))

    router_factory._worker = Realms()
    session_factory = RouterSessionFactory(router_factory)
    realm = RouterRealm(None, None, {"name": "r"})
    router = router_factory.start_realm(realm)
    realm.session = RouterServiceAgent(ComponentConfig("r", {}), router)
    everything = {
        "uri": "",
        "match": "prefix",
        "allow": dict.fromkeys(("call", "register", "publish", "subscribe"), True),
    }
    router.add_role(RouterRoleStaticAuth(router, "anonymous", default_permissions=everything))
    session_factory.add(realm.session, router, authrole="trusted")

    received: list[Any] = []

    class Client(ApplicationSession):  # type: ignore[misc]
        def onJoin(self, details: Any) -> Any:
            return self.subscribe(lambda *args: received.append(args), "t")

    client_factory = ApplicationSessionFactory(ComponentConfig("r", {}))
    client_factory.session = Client
    server = WampWebSocketServerFactory(session_factory, ".", {}, None).buildProtocol(None)
    client = WampWebSocketClientFactory(client_factory, url="ws://127.0.0.1/").buildProtocol(None)
    pump = connect(server, FakeTransport(server, True), client, FakeTransport(client, False), debug=False)
    pump.flush()
    assert client._session is not None and client._session.is_attached()
    client._session.received = received
    return client._session, pump


def test_no_log_formatting_helper_runs_per_frame_at_the_default_level() -> None:
    """With the helpers skipped, publishing and receiving WebSocket frames through the router
    calls none of Autobahn's or Crossbar's log-formatting helpers (hl*, pformat, click.style)."""
    import collections
    import pprint
    import sys
    import types

    import autobahn.util
    import click
    import crossbar._util
    import txaio
    from autobahn.wamp.types import PublishOptions

    helpers = [
        getattr(module, name)
        for module in (autobahn.util, crossbar._util)
        for name in dir(module)
        if name.startswith("hl") and isinstance(getattr(module, name), types.FunctionType)
    ]
    codes = {f.__code__: f"{f.__module__}.{f.__qualname__}" for f in [*helpers, pprint.pformat, click.style]}
    saved = {
        (name, h): getattr(importlib.import_module(name), h)
        for name in HOT_MODULES
        for h in _HELPER_NAMES
        if hasattr(importlib.import_module(name), h)
    }
    level = txaio.get_global_log_level()
    txaio.set_global_log_level("info")
    try:
        session, pump = _router_with_client()
        skip_debug_log_args()
        calls: collections.Counter[str] = collections.Counter()

        def profile(frame: Any, event: str, arg: Any) -> None:
            if event == "call" and frame.f_code in codes:
                calls[f"{codes[frame.f_code]} from {frame.f_back.f_code.co_name}"] += 1

        sys.setprofile(profile)
        try:
            for i in range(20):
                session.publish("t", i, options=PublishOptions(exclude_me=False, acknowledge=True))
                pump.flush()
        finally:
            sys.setprofile(None)
        assert [args for args in session.received] == [(i,) for i in range(20)]
        assert calls == {}, calls
    finally:
        txaio.set_global_log_level(level)
        for (name, helper), value in saved.items():
            setattr(importlib.import_module(name), helper, value)
