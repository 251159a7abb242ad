"""The example games' pages in real headless Chromium against a real node serving their room types."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kasagi.testing.node import NodeProcess

pytestmark = [pytest.mark.browser, pytest.mark.node]

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
READY = "window.kasagiDemo && window.kasagiDemo.ready === true"
TICTACTOE = "examples.tictactoe.rooms:TicTacToe"
CHASE = "examples.chase.rooms:Chase"


def _node(tmp: Path, *room_types: str) -> NodeProcess:
    from tests.conftest import start_node

    assert (ROOT / "web" / "vendor" / "autobahn.min.js").is_file(), "web/vendor/ is missing: run `make js`"
    return start_node(tmp, service={"store": "memory"}, room_types=room_types)


@pytest.fixture(scope="module")
def tictactoe_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node serving the tictactoe example (besides the built-in types)."""
    proc = _node(tmp_path_factory.mktemp("tictactoe"), TICTACTOE)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def chase_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node serving the chase example only (besides the built-in types)."""
    proc = _node(tmp_path_factory.mktemp("chase"), CHASE)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert shutil.which(CHROMIUM), "Debian's chromium is missing: run `make chromium`"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _url(node: NodeProcess, page: str, **query: str) -> str:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"http://127.0.0.1:{node.options.port}/examples/{page}?{params}"


def _open(context: Any, url: str, ready: str = READY) -> Any:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function(ready, timeout=20_000)
    page.kasagi_errors = errors
    return page


def _state(page: Any) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(page.evaluate("JSON.stringify(kasagiDemo.room.state)"))
    return state


def test_two_pages_play_tictactoe_to_a_win(tictactoe_node: NodeProcess, browser: Any) -> None:
    """Alice (X) and bob (O) click cells in turns; X's top row wins and both pages show the result."""
    context = browser.new_context(viewport={"width": 900, "height": 640})
    alice = _open(context, _url(tictactoe_node, "tictactoe.html", room="ttt_browser", name="alice"))
    bob = _open(context, _url(tictactoe_node, "tictactoe.html", room="ttt_browser", name="bob"))
    for page in (alice, bob):
        page.wait_for_function("kasagiDemo.room.state.phase === 'playing'", timeout=10_000)
    assert _state(bob)["seats"] == {"X": "alice", "O": "bob"}
    assert bob.locator('[data-cell="0"]').is_disabled(), "it is not bob's turn"

    moves = [(alice, 0), (bob, 3), (alice, 1), (bob, 4), (alice, 2)]
    for n, (page, cell) in enumerate(moves, start=1):
        page.wait_for_function(f"!document.querySelector('[data-cell=\"{cell}\"]').disabled", timeout=10_000)
        page.click(f'[data-cell="{cell}"]')
        for each in (alice, bob):
            each.wait_for_function(f"kasagiDemo.room.state.moves === {n} || kasagiDemo.room.state.phase === 'over'")

    for page in (alice, bob):
        page.wait_for_function("kasagiDemo.room.state.phase === 'over'", timeout=10_000)
        assert page.locator("#board .win").count() == 3
        assert page.locator("#rematch").is_visible()
    assert alice.text_content("#message") == "You win!"
    assert bob.text_content("#message") == "X (alice) wins."
    assert _state(alice)["score"] == _state(bob)["score"] == {"alice": 1}
    assert [c.text_content() for c in bob.locator("#board button").all()][:3] == ["X", "X", "X"]
    ARTIFACTS.mkdir(exist_ok=True)
    bob.screenshot(path=str(ARTIFACTS / "tictactoe.png"))
    assert alice.kasagi_errors == bob.kasagi_errors == []
    context.close()


def test_tictactoe_turn_timer_passes_the_turn_on_a_real_node(tictactoe_node: NodeProcess, browser: Any) -> None:
    """In a room opened with a one-second turn, X not moving loses the turn to O, and both pages say so."""
    context = browser.new_context(viewport={"width": 900, "height": 640})
    query = {"room": "ttt_timer", "turn_seconds": "1"}
    alice = _open(context, _url(tictactoe_node, "tictactoe.html", name="alice", **query))
    bob = _open(context, _url(tictactoe_node, "tictactoe.html", name="bob", **query))
    for page in (alice, bob):
        page.wait_for_function("(kasagiDemo.room.state.last || {}).timed_out === true", timeout=10_000)
    assert _state(bob)["turn"] == "O"
    assert bob.text_content("#message") == "X ran out of time. You are O: your move."
    bob.click('[data-cell="4"]')
    alice.wait_for_function("kasagiDemo.room.state.board[4] === 'O'", timeout=10_000)
    context.close()


def test_chase_npcs_move_by_the_server_loop_and_the_player_steers(chase_node: NodeProcess, browser: Any) -> None:
    """On the chase page the NPCs' positions change event after event, drawn in between, and an
    arrow key moves the page's own player; a type the node does not serve shows a clear message."""
    context = browser.new_context(viewport={"width": 1040, "height": 680})
    page = _open(context, _url(chase_node, "chase.html", room="chase_browser", name="runner"))
    first = page.evaluate("kasagiDemo.room.seq")
    page.wait_for_function(f"kasagiDemo.room.seq >= {first + 10}", timeout=10_000)
    trail = page.evaluate("kasagiDemo.npcTrail")
    assert len({(p["x"], p["y"]) for p in trail}) >= 5, "the NPC moved over several events"
    page.wait_for_function("kasagiDemo.between > 0", timeout=10_000)  # drawn between two ticks

    x0 = _state(page)["players"]["runner"]["x"]
    page.keyboard.down("ArrowLeft" if x0 > 500 else "ArrowRight")
    page.wait_for_function(f"Math.abs(kasagiDemo.room.state.players.runner.x - {x0}) >= 30", timeout=10_000)
    page.keyboard.up("ArrowLeft" if x0 > 500 else "ArrowRight")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chase.png"))
    assert page.kasagi_errors == []

    other = _open(context, _url(chase_node, "tictactoe.html", room="ttt_unserved", name="alice"), "kasagiDemo.unserved")
    shown = other.text_content("#unserved") or ""
    assert 'does not serve the room type "tictactoe"' in shown
    assert f"kasagi up --room-type {TICTACTOE}" in shown
    context.close()
