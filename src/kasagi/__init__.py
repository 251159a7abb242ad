"""Kasagi: real-time room state synchronization over WAMP.

Layers, innermost first:

- :mod:`kasagi.core` -- the pure room state machine (no Twisted, no Autobahn).
- :mod:`kasagi.service` -- Twisted services around the core: ticks, commits, stores.
- :mod:`kasagi.wamp` -- helpers for the thin WAMP sessions in ``components/`` and ``router/``.
- :mod:`kasagi.client` -- the Python client (bots, tests, the benchmark).
- :mod:`kasagi.cli` / :mod:`kasagi.node` -- deployment: the ``kasagi`` command and the Crossbar node.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
