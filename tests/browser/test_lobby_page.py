"""The open rooms on the demo index page in real headless Chromium against a real node serving
the example types: listed live, joined by link, matched by "play"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest

from kasagi.testing.node import NodeProcess
from tests.browser.pages import (
    ARTIFACTS,
    CHASE,
    DEMO_READY,
    LOBBY_READY,
    TICTACTOE,
    open_page,
    page_url,
    start_web_node,
)

pytestmark = [pytest.mark.browser, pytest.mark.node]

#: WAMP message codes the refusing proxy below reads and writes (CALL, ERROR).
CALL, ERROR = 48, 8


@pytest.fixture(scope="module")
def lobby_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node serving the built-in types and the tictactoe and chase examples."""
    proc = start_web_node(tmp_path_factory.mktemp("lobby"), TICTACTOE, CHASE)
    yield proc
    proc.stop()


def _rooms(page: Any, room_type: str) -> dict[str, Any]:
    """The listed rooms of ``room_type`` the page holds, by room id."""
    rooms = json.loads(page.evaluate(f"JSON.stringify(kasagiLobby.rooms[{json.dumps(room_type)}] || [])"))
    return {r["room"]: r for r in rooms}


def _row(page: Any, room_type: str, room: str) -> str:
    return f'#rooms [data-type="{room_type}"] li[data-room="{room}"]'


def test_the_index_lists_rooms_of_every_served_type_live(lobby_node: NodeProcess, browser: Any) -> None:
    """The index shows a room another client opened, then a second room and the first one filling
    up as they happen, without a reload, with metadata, seats and a join link to the room's page."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    index = open_page(context, page_url(lobby_node, name="watcher"), LOBBY_READY)
    assert index.evaluate("kasagiLobby.types") == ["arena", "doc", "tictactoe", "chase"]
    assert index.locator('#rooms [data-type="doc"] button.play').count() == 0, "doc rooms are not listed"
    assert "not listed" in (index.text_content('#rooms [data-type="doc"]') or "")
    assert index.locator('#rooms [data-type="chase"] button.play').count() == 1
    index.evaluate("window.notReloaded = true")

    alice = open_page(
        context, page_url(lobby_node, "examples/tictactoe.html", room="ttt_lobby_a", name="alice"), DEMO_READY
    )
    index.wait_for_selector(_row(index, "tictactoe", "ttt_lobby_a"), timeout=10_000)
    first = _rooms(index, "tictactoe")["ttt_lobby_a"]
    assert first["meta"] == {"phase": "waiting", "seats_free": 1}
    assert (first["members"], first["max_members"]) == (1, 2)
    row = index.locator(_row(index, "tictactoe", "ttt_lobby_a"))
    assert "1/2" in (row.text_content() or "")
    href = row.locator("a.join").get_attribute("href") or ""
    assert "/examples/tictactoe.html?" in href and "room=ttt_lobby_a" in href and "name=watcher" in href

    open_page(context, page_url(lobby_node, "examples/tictactoe.html", room="ttt_lobby_b", name="carol"), DEMO_READY)
    index.wait_for_selector(_row(index, "tictactoe", "ttt_lobby_b"), timeout=10_000)

    open_page(context, page_url(lobby_node, "examples/tictactoe.html", room="ttt_lobby_a", name="bob"), DEMO_READY)
    index.wait_for_selector(_row(index, "tictactoe", "ttt_lobby_a") + '[data-full="true"]', timeout=10_000)
    filled = _rooms(index, "tictactoe")["ttt_lobby_a"]
    assert filled["meta"] == {"phase": "playing", "seats_free": 0} and filled["members"] == 2
    assert "2/2 full" in (index.locator(_row(index, "tictactoe", "ttt_lobby_a")).text_content() or "")
    assert index.evaluate("window.notReloaded === true"), "the page followed the changes without a reload"
    assert index.evaluate("kasagiLobby.changes") >= 3
    assert "arena" in _rooms(index, "arena"), "the index's own arena room is listed"
    ARTIFACTS.mkdir(exist_ok=True)
    index.screenshot(path=str(ARTIFACTS / "lobby.png"), full_page=True)
    assert index.kasagi_errors == alice.kasagi_errors == []
    context.close()


def test_play_lands_two_pages_in_the_same_matched_room(lobby_node: NodeProcess, browser: Any) -> None:
    """Two members press play for chase on the index; each lands on the chase page of one new matched room."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    landed = []
    for name in ("p_one", "p_two"):
        page = open_page(context, page_url(lobby_node, name=name), LOBBY_READY)
        page.click('#rooms [data-type="chase"] button.play')
        page.wait_for_url("**/examples/chase.html?*", timeout=15_000)
        page.wait_for_function(DEMO_READY, timeout=20_000)
        landed.append(page)
    rooms = [page.evaluate("kasagiDemo.room.id") for page in landed]
    assert rooms[0] == rooms[1] and rooms[0].startswith("chase_"), rooms
    landed[0].wait_for_function("'p_two' in kasagiDemo.room.state.players", timeout=10_000)
    assert all(page.kasagi_errors == [] for page in landed)
    context.close()


def test_the_index_keeps_working_when_listing_is_refused(lobby_node: NodeProcess, browser: Any) -> None:
    """When the router refuses every lobby list, the rooms section says so and the arena still plays."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})

    def refuse_lists(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            # JSON frames are text; the SDK's default, msgpack, sends binary frames.
            call = json.loads(message) if isinstance(message, str) else msgpack.unpackb(message)
            if isinstance(call, list) and call[:1] == [CALL] and call[3] == "kasagi.lobby.list":
                refusal = [ERROR, CALL, call[1], {}, "wamp.error.not_authorized", ["not for you"]]
                ws.send(json.dumps(refusal) if isinstance(message, str) else msgpack.packb(refusal))
            else:
                server.send(message)

        ws.on_message(from_page)

    context.route_web_socket("**/ws", refuse_lists)
    page = open_page(context, page_url(lobby_node, name="refused"), LOBBY_READY)
    assert page.evaluate("kasagiLobby.failed") is True
    shown = page.text_content("#rooms .lobby-failed") or ""
    assert "can't be shown" in shown and "wamp.error.not_authorized" in shown
    page.wait_for_function(DEMO_READY, timeout=20_000)
    assert page.evaluate("kasagiDemo.room.id") == "arena"
    assert page.kasagi_errors == []
    context.close()
