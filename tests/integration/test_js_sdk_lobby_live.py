"""The JS SDK's lobby calls (list, watch, match) in Node (npm `autobahn`) against a real node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kasagi.testing.node import NodeProcess
from tests.integration.test_node_end_to_end import SERIALIZERS
from tests.js_script import run_js

pytestmark = pytest.mark.node
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "js" / "live_lobby.mjs"
INVALID = "kasagi.error.invalid_argument"


@pytest.fixture
def lobby_node(tmp_path: Path) -> Iterator[NodeProcess]:
    """A fresh node serving the tictactoe example, one listed room per page."""
    from tests.conftest import start_node

    proc = start_node(
        tmp_path,
        service={"store": "memory", "lobby_page": 1},
        room_types=("examples.tictactoe.rooms:TicTacToe",),
    )
    yield proc
    proc.stop()


def _run_js(url: str, serializer: str) -> dict[str, Any]:
    return run_js(SCRIPT, url, serializer)


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_js_sdk_lists_watches_and_matches(lobby_node: NodeProcess, serializer: str) -> None:
    """JS clients see a room listed and filled on the lobby topic, page through the listing with
    its cursor, are matched two into one new room, and a tampered cursor is refused on `cursor`."""
    result = _run_js(lobby_node.url, serializer)
    unknown = result["unknown"]
    assert unknown["error"] == INVALID and unknown["details"]["field"] == "type"
    assert unknown["details"]["types"] == ["arena", "doc", "tictactoe"]
    assert unknown["details"]["listed"] == ["arena", "tictactoe"]

    assert result["listed"]["meta"] == {"phase": "waiting", "seats_free": 1}
    assert (result["listed"]["members"], result["listed"]["max_members"]) == (1, 2)
    assert result["filled"]["meta"] == {"phase": "playing", "seats_free": 0}

    matched = result["matched"]
    assert matched[0]["room"] == matched[1]["room"] != "jsl_one", matched
    assert matched[0]["type"] == "tictactoe" and {"epoch", "seq"} <= set(matched[0])
    assert set(result["seats"].values()) == {"js_carol", "js_dave"}
    assert result["matchedFull"]["max_members"] == 2

    first, second = result["first"], result["second"]
    assert [r["room"] for r in first["rooms"]] == ["jsl_one"] and isinstance(first["next"], str)
    assert [r["room"] for r in second["rooms"]] == [matched[0]["room"]] and second["next"] is None
    assert result["waiting"] == {"rooms": [], "next": None}, "both rooms are full and playing"
    for case in ("tampered", "foreign"):
        assert result[case]["error"] == INVALID and result[case]["details"]["field"] == "cursor", result[case]
    assert result["badFilter"]["details"]["field"] == "filter.secret"
    assert result["privateCriteria"]["details"]["field"] == "criteria.members"
    assert result["changes"] >= 4
