"""Kasagi: real-time room state synchronization over WAMP.

Layers, innermost first:

- :mod:`kasagi.wire` -- the wire vocabulary: URIs, error URIs, op codes.
- :mod:`kasagi.core` -- the pure room state machine (no Twisted, no Autobahn; imports only the wire).
- :mod:`kasagi.rooms` -- the room-type API, the one module a room type imports; the built-in
  types written with it are in :mod:`kasagi.roomtypes`.
- :mod:`kasagi.service` / :mod:`kasagi.store` -- Twisted services around the core (ticks,
  commits) and the stores behind one interface.
- :mod:`kasagi.wamp` / :mod:`kasagi.auth` -- helpers for the thin WAMP sessions in
  ``components/`` and ``router/``, and the router-side rules (tickets, authorization).
- :mod:`kasagi.cluster` -- room-service workers sharing rooms over leases.
- :mod:`kasagi.client` -- the Python client (bots, tests, the benchmark).
- :mod:`kasagi.cli` / :mod:`kasagi.node` -- deployment: the ``kasagi`` command and the Crossbar node.

Tooling, not product (nothing above imports it; ``tests/unit/test_layering.py`` checks):

- :mod:`kasagi.testing` -- ``RoomKit`` for room types, fakes and factories, node and topology
  processes, the history checker, the shared vectors.
- :mod:`kasagi.bench` -- ``kasagi bench`` and the store, scale-out and probe measurements.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
