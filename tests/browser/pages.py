"""What the browser tests share: the node that serves `web/`, Chromium's flags, and opening a page
until it says it is ready, with its uncaught errors kept on ``page.kasagi_errors``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kasagi.testing.node import NodeProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_READY = "window.kasagiDemo && window.kasagiDemo.ready === true"
LOBBY_READY = "window.kasagiLobby && window.kasagiLobby.ready === true"
TICTACTOE = "examples.tictactoe.rooms:TicTacToe"
CHASE = "examples.chase.rooms:Chase"
CARDS = "examples.cards.rooms:Cards"


def check_vendor() -> None:
    """Fail at once, saying what to run, when the pages' vendored Autobahn is missing."""
    assert (ROOT / "web" / "vendor" / "autobahn.min.js").is_file(), "web/vendor/ is missing: run `make js`"


def start_web_node(tmp: Path, *room_types: str) -> NodeProcess:
    """A node with the memory store and the default tick serving `web/` and these room types
    (besides the built-in ones)."""
    from tests.conftest import start_node

    check_vendor()
    return start_node(tmp, service={"store": "memory"}, room_types=room_types)


def base_url(node: NodeProcess) -> str:
    """The address of the node's `web/` (the demo index), ending in a slash."""
    return f"http://127.0.0.1:{node.options.port}/"


def page_url(node: NodeProcess, page: str = "", **query: str) -> str:
    """The address of ``page`` under the node's `web/`, with ``query`` as its parameters."""
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{base_url(node)}{page}?{params}"


def open_page(context: Any, url: str, ready: str = DEMO_READY) -> Any:
    """A new page at ``url`` once ``ready`` holds, collecting its uncaught errors in ``kasagi_errors``."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function(ready, timeout=20_000)
    page.kasagi_errors = errors
    return page
