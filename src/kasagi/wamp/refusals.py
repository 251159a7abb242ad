"""Counting refusals at the WAMP edge: every domain error a procedure raises (at once or in
its Deferred) is reported by URI, whichever layer raised it (argument parsing, the room's
rules, the store)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from kasagi.core.errors import KasagiError

__all__ = ["counting_refusals"]


def counting_refusals(fn: Callable[..., Any], refused: Callable[[str], None] | None) -> Callable[..., Any]:
    """``fn``, reporting each refusal's URI to ``refused`` (``fn`` itself when None)."""
    if refused is None:
        return fn
    report = refused

    def count(failure: Failure) -> Failure:
        if failure.check(KasagiError):
            report(failure.value.uri)  # type: ignore[union-attr]
        return failure

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
        except KasagiError as exc:
            report(exc.uri)
            raise
        if isinstance(result, Deferred):
            result.addErrback(count)
        return result

    return call
