"""The router-side tuning: cheap debug log arguments and the garbage collector's work."""

from __future__ import annotations

import gc
import importlib

from router.tuning import HOT_MODULES, GcPauses, refreeze_young, skip_debug_log_args


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
