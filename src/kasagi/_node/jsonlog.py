"""``crossbar start`` with its log as JSON lines on stdout (``kasagi up --log-format json``).

Crossbar's workers hand their log events to the node controller; this entry point replaces
the controller's text observers with Twisted's ``jsonFileLogObserver``, so every event of
every process of the node is one JSON object per line, with its format fields, for a log
shipper.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["main"]


def main() -> int:
    import crossbar
    import txaio
    from crossbar.node import main as node_main
    from twisted.logger import globalLogPublisher, jsonFileLogObserver

    def start_json_logging(options: Any, reactor: Any) -> None:
        level = getattr(options, "loglevel", "info")
        txaio.set_global_log_level(level)  # type: ignore[attr-defined]
        observer = jsonFileLogObserver(sys.stdout, recordSeparator="")
        globalLogPublisher.addObserver(observer)
        reactor.addSystemEventTrigger("after", "shutdown", globalLogPublisher.removeObserver, observer)
        txaio.start_logging(None, level)  # type: ignore[attr-defined]

    node_main._start_logging = start_json_logging
    sys.argv[0] = "crossbar"
    return int(crossbar.run() or 0)  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    sys.exit(main())
