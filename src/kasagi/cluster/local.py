"""A room-service worker of a many-router node (``kasagi up --routers N``): the cluster
worker of :mod:`kasagi.cluster.process`, joined to every router of this machine over their
backend Unix sockets, run by the node's controller as a guest worker.

``python -m kasagi.cluster.local JSON`` -- the JSON object is written by
:func:`kasagi.node.build_config` (routers, service settings, the leases file, metrics port,
room types, log level); the backend secret comes from ``KASAGI_BACKEND_SECRET``, which the
controller's environment hands down.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from kasagi.cluster.process import WorkerOptions, run_worker

__all__ = ["main", "worker_options"]


def worker_options(spec: Mapping[str, Any], secret: str) -> WorkerOptions:
    """The worker the node's config describes (``spec``), logging in with ``secret``."""
    return WorkerOptions(
        routers=tuple(spec["routers"]),
        service=dict(spec["service"]),
        secret=secret,
        coordination=str(spec.get("coordination", "")),
        name=str(spec.get("name", "")),
        metrics_port=int(spec.get("metrics_port", 0)),
        metrics_host=str(spec.get("metrics_host", "127.0.0.1")),
        room_types=tuple(spec.get("room_types", ())),
        app_dir=spec.get("app_dir"),
    )


def _start_logging(level: str) -> None:
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    observer = FilteringLogObserver(textFileLogObserver(sys.stdout), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m kasagi.cluster.local JSON (written by the node's config)", file=sys.stderr)
        return 2
    spec = json.loads(args[0])
    _start_logging(str(spec.get("loglevel", "info")))
    return run_worker(worker_options(spec, os.environ.get("KASAGI_BACKEND_SECRET", "")))


if __name__ == "__main__":
    sys.exit(main())
