"""Router-side tuning, applied inside the router worker by a component hosted there.

Crossbar evaluates the arguments of its debug log calls on every routed message even when
debug logging is off: the call itself is a no-op, but ``hltype(...)`` (ANSI styling through
click), ``pformat(authorization)`` and friends run first. A profile of the router under
load put 14% (this project's workload) to 30% of its busy time there. When the node does not
log at debug level, :func:`skip_debug_log_args` swaps those helpers, in the router's hot
modules only, for a pass-through: debug messages were not being written anyway, and every
other log line keeps its text (only without colours).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["HOT_MODULES", "skip_debug_log_args"]

#: The modules on the path of every routed message.
HOT_MODULES = (
    "crossbar.router.router",
    "crossbar.router.broker",
    "crossbar.router.dealer",
    "crossbar.router.session",
    "crossbar.router.protocol",
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
