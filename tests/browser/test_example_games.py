"""The example games' pages in real headless Chromium against a real node serving their room types."""

from __future__ import annotations

import json
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from examples.cards.rooms import DECK
from kasagi.testing.node import NodeProcess
from tests.browser.pages import ARTIFACTS, CARDS, CHASE, ROOT, TICTACTOE, open_page, page_url, start_web_node

pytestmark = [pytest.mark.browser, pytest.mark.node]

CARD = re.compile(r"(?:A|[2-9]|10|J|Q|K)[CDHS]")


@pytest.fixture(scope="module")
def tictactoe_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node serving the tictactoe example (besides the built-in types)."""
    proc = start_web_node(tmp_path_factory.mktemp("tictactoe"), TICTACTOE)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def chase_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node serving the chase example only (besides the built-in types)."""
    proc = start_web_node(tmp_path_factory.mktemp("chase"), CHASE)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def cards_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node serving the cards example (besides the built-in types)."""
    proc = start_web_node(tmp_path_factory.mktemp("cards"), CARDS)
    yield proc
    proc.stop()


def _url(node: NodeProcess, page: str, **query: str) -> str:
    return page_url(node, f"examples/{page}", **query)


def _state(page: Any) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(page.evaluate("JSON.stringify(kasagiDemo.room.state)"))
    return state


def test_two_pages_play_tictactoe_to_a_win(tictactoe_node: NodeProcess, browser: Any) -> None:
    """Alice (X) and bob (O) click cells in turns; X's top row wins and both pages show the result."""
    context = browser.new_context(viewport={"width": 900, "height": 640})
    alice = open_page(context, _url(tictactoe_node, "tictactoe.html", room="ttt_browser", name="alice"))
    bob = open_page(context, _url(tictactoe_node, "tictactoe.html", room="ttt_browser", name="bob"))
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
    """In a room opened with a two-second turn, X not moving loses the turn to O, and both pages say so."""
    context = browser.new_context(viewport={"width": 900, "height": 640})
    query = {"room": "ttt_timer", "turn_seconds": "1"}
    alice = open_page(context, _url(tictactoe_node, "tictactoe.html", name="alice", **query))
    bob = open_page(context, _url(tictactoe_node, "tictactoe.html", name="bob", **query))
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
    page = open_page(context, _url(chase_node, "chase.html", room="chase_browser", name="runner"))
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

    other = open_page(
        context, _url(chase_node, "tictactoe.html", room="ttt_unserved", name="alice"), "kasagiDemo.unserved"
    )
    shown = other.text_content("#unserved") or ""
    assert 'does not serve the room type "tictactoe"' in shown
    assert f"kasagi up --room-type {TICTACTOE}" in shown
    context.close()


# -- cards: hidden hands ---------------------------------------------------------------------------


def _strings(value: Any) -> set[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, dict):
        return {s for k, v in value.items() for s in {k} | _strings(v)}
    if isinstance(value, list):
        return {s for item in value for s in _strings(item)}
    return {value} if isinstance(value, str) else set()


def _cards(value: Any) -> set[str]:
    """Every card named anywhere in a JSON value."""
    return {s for s in _strings(value) if CARD.fullmatch(s)}


def _paths(value: Any) -> list[list[Any]]:
    """The paths of every op in the events and catch-ups of a JSON value."""
    found: list[list[Any]] = []
    if isinstance(value, dict):
        ops = value.get("ops")
        if isinstance(ops, list):
            found += [op[1] for op in ops if isinstance(op, list) and len(op) >= 2 and isinstance(op[1], list)]
        for v in value.values():
            found += _paths(v)
    elif isinstance(value, list):
        for item in value:
            found += _paths(item)
    return found


def _line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The next line the process prints, waiting at most ``timeout`` seconds."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                line = proc.stdout.readline()
                assert line, f"the snooping client exited: {proc.stderr.read() if proc.stderr else ''}"
                return line
    raise AssertionError(f"no line from the snooping client within {timeout} s")


def _take_turn(page: Any) -> None:
    """Play the first playable card of the page's hand (naming hearts for an eight), else draw."""
    playable = page.locator("#hand .card:enabled")
    if playable.count():
        card = playable.first.get_attribute("data-card") or ""
        playable.first.click()
        if card.startswith("8"):
            page.click('#suits button[data-suit="H"]')
    else:
        page.click("#draw")


def test_two_pages_play_cards_and_a_third_member_learns_no_hand(cards_node: NodeProcess, browser: Any) -> None:
    """Alice and bob play crazy eights on their pages, each seeing only its own hand; carol's page and
    a raw WAMP member that subscribes and joins (snapshot, live events, catch-up) receive no card of a
    hand or of the stock, and no private op at all."""
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    room = "cards_browser"
    alice = open_page(context, _url(cards_node, "cards.html", room=room, name="alice"))
    bob = open_page(context, _url(cards_node, "cards.html", room=room, name="bob"))
    for page in (alice, bob):
        page.wait_for_function("kasagiDemo.room.state.phase === 'playing'", timeout=10_000)
    carol = open_page(context, _url(cards_node, "cards.html", room=room, name="carol"))
    snoop = subprocess.Popen(
        [sys.executable, "-m", "tests.browser.snoop", str(cards_node.options.port), room, "mallory"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _line(snoop, 30).strip() == "ready"
        for page in (alice, bob):
            me = page.evaluate("kasagiDemo.room.member")
            state = _state(page)
            assert set(state["private"]) == {me}
            assert page.locator("#hand .card").count() == state["hands"][me] == 7
        assert carol.locator("#hand .card").count() == 0
        assert carol.text_content("#message") == "alice to play."

        pages = {"alice": alice, "bob": bob}
        for _ in range(4):
            turn = _state(alice)["turn"]
            _take_turn(pages[turn])
            for page in (alice, bob, carol):
                page.wait_for_function(
                    f"kasagiDemo.room.state.turn !== {json.dumps(turn)} || kasagiDemo.room.state.phase === 'over'",
                    timeout=10_000,
                )
        assert snoop.stdin is not None
        snoop.stdin.write("done\n")
        snoop.stdin.flush()
        mallory = json.loads(_line(snoop, 30))
    finally:
        if snoop.poll() is None:
            snoop.kill()
        snoop.wait(timeout=10)

    hands = {m: _state(pages[m])["private"][m]["hand"] for m in pages}
    pile = set(_state(carol)["pile"])
    hidden = set(DECK) - pile
    assert set(hands["alice"]) | set(hands["bob"]) <= hidden
    # The players: only their own hand, in the state and in everything received.
    for me, page in pages.items():
        other = next(m for m in pages if m != me)
        received = page.evaluate("JSON.stringify(kasagiDemo.received)")
        assert not (_cards(json.loads(received)) & set(hands[other])), f"{me} saw {other}'s cards"
        assert all(p[:1] != ["private"] or p[1] == me for p in _paths(json.loads(received)))
    # The watcher's page.
    watcher = {"state": _state(carol), "received": json.loads(carol.evaluate("JSON.stringify(kasagiDemo.received)"))}
    assert "private" not in watcher["state"]
    assert _cards(watcher) <= pile, "the watcher's page got a hidden card"
    assert not [p for p in _paths(watcher) if p[:1] == ["private"]]
    assert carol.locator("#hand .card").count() == 0
    # The raw member: it did subscribe and join, got live events and a catch-up, and nothing hidden.
    assert [wire_topic for wire_topic, match in mallory["subscribed"] if match is None] == [f"kasagi.room.{room}"]
    assert len(mallory["events"]) >= 4
    assert any(reply.get("events") for reply in mallory["replies"]), "a catch-up from seq 0"
    assert "private" not in _strings(mallory), "a private op or entry reached the raw member"
    assert _cards(mallory) <= pile, f"the raw member got hidden cards: {sorted(_cards(mallory) - pile)}"
    assert alice.kasagi_errors == bob.kasagi_errors == carol.kasagi_errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    alice.screenshot(path=str(ARTIFACTS / "cards.png"))
    context.close()


def test_cards_turn_timer_draws_for_an_idle_player_on_a_real_node(cards_node: NodeProcess, browser: Any) -> None:
    """In a room opened with a two-second turn, alice not playing draws a card by the timer and bob is
    to play; both pages say so and alice's page shows her eighth card."""
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    query = {"room": "cards_timer", "turn_seconds": "2"}
    alice = open_page(context, _url(cards_node, "cards.html", name="alice", **query))
    bob = open_page(context, _url(cards_node, "cards.html", name="bob", **query))
    timed_out = "(kasagiDemo.room.state.last || {}).timed_out === true && kasagiDemo.room.state.turn === 'bob'"
    for page in (alice, bob):
        page.wait_for_function(timed_out, timeout=10_000)
    state, shown = bob.evaluate("[kasagiDemo.room.state, document.getElementById('message').textContent]")
    assert state["last"] == {"member": "alice", "drew": True, "timed_out": True}
    assert state["hands"]["alice"] == 8
    assert shown == "alice ran out of time and drew. Your turn."
    alice.wait_for_function("document.querySelectorAll('#hand .card').length >= 8", timeout=10_000)
    context.close()
