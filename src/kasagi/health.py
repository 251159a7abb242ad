"""The health endpoints: ``/health/live`` and ``/health/ready``, in plain text or JSON.

``/health/live`` is 200 while the process runs. ``/health/ready`` asks the process's
readiness: a list of :class:`Check` (or the short form ``(ready, reason)``, one check named
``ready``), and answers 200 when every check passes, else 503. Both answer ``text/plain``
(``ready``, or ``not ready: <what failed>``) unless the request asks for JSON with
``Accept: application/json`` or ``?format=json``; then a small object::

    {"status": "ready" | "not_ready" | "live",
     "checks": {"<name>": {"ok": true, "detail": "..."}, ...}}

Any other ``format`` is a 400; any other path a 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeAlias

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

__all__ = ["Check", "HealthResource", "Outcome", "Readiness", "checks_of", "wants_json"]

_log = Logger()

TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"


class Check(NamedTuple):
    """One thing readiness depends on: its name, whether it passes, and what was seen."""

    name: str
    ok: bool
    detail: str = ""


#: What a readiness callable returns: the checks, or ``(ready, reason)``.
Outcome: TypeAlias = "Sequence[Check] | tuple[bool, str]"
#: Readiness: its outcome, or a Deferred of it.
Readiness: TypeAlias = "Callable[[], Outcome | Deferred[Outcome]]"


def checks_of(outcome: Outcome) -> list[Check]:
    """The checks of a readiness outcome (``(ready, reason)`` is one check, ``ready``)."""
    if isinstance(outcome, tuple) and len(outcome) == 2 and isinstance(outcome[0], bool):
        return [Check("ready", outcome[0], str(outcome[1]))]
    return [c for c in outcome if isinstance(c, Check)]


def wants_json(request: Request) -> bool | None:
    """True when ``request`` asks for JSON, False for text, None for an unknown ``format``."""
    fmt = request.args.get(b"format") if request.args else None
    if fmt:
        return {b"json": True, b"text": False}.get(fmt[-1].lower())
    best, best_q = "text/plain", 0.0
    accept = (request.getHeader(b"accept") or b"").decode("latin-1")
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if kind.lower() in ("application/json", "text/plain") and q > best_q:
            best, best_q = kind.lower(), q
    return best == "application/json"


def _render(request: Request, as_json: bool, code: int, status: str, checks: Sequence[Check]) -> bytes:
    request.setResponseCode(code)
    if as_json:
        request.setHeader(b"Content-Type", JSON)
        body = {"status": status, "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks}}
        return json.dumps(body).encode("utf-8") + b"\n"
    request.setHeader(b"Content-Type", TEXT)
    failed = "; ".join(c.detail or c.name for c in checks if not c.ok)
    return (status.replace("_", " ") + (f": {failed}" if failed else "") + "\n").encode("utf-8")


class HealthResource(Resource):
    """``/health/live`` and ``/health/ready`` over a readiness callable."""

    isLeaf = True

    def __init__(self, ready: Readiness) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web is unannotated
        self._ready = ready

    def render_GET(self, request: Request) -> bytes | int:
        as_json = wants_json(request)
        if as_json is None:
            request.setResponseCode(400)
            request.setHeader(b"Content-Type", TEXT)
            return b"format must be text or json\n"
        if request.postpath == [b"live"]:
            return _render(request, as_json, 200, "live", [])
        if request.postpath != [b"ready"]:
            request.setResponseCode(404)
            request.setHeader(b"Content-Type", TEXT)
            return b"not found\n"

        def answer(outcome: Outcome) -> None:
            if request.finished or getattr(request, "_disconnected", False):
                return
            checks = checks_of(outcome)
            ok = all(c.ok for c in checks)
            request.write(_render(request, as_json, 200 if ok else 503, "ready" if ok else "not_ready", checks))
            request.finish()

        def failed(failure: Failure) -> None:
            answer((False, failure.getErrorMessage()))

        maybeDeferred(self._ready).addCallbacks(answer, failed).addErrback(
            lambda f: _log.failure("health check failed to answer", f)
        )
        return NOT_DONE_YET
