"""The real ``kasagi up`` command: its start-up output, Ctrl-C, JSON logs, and the cases that
stop it with exit status 2 and one line (a port in use, a data directory that is a file, a
room service that fails inside the node)."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

from kasagi.readiness import websocket_answers
from kasagi.testing import free_port
from tests.integration.up_command import UpCommand, run_to_end

pytestmark = pytest.mark.node
KASAGI = [str(Path(sys.executable).with_name("kasagi"))]
ENV = {k: v for k, v in os.environ.items() if k not in ("KASAGI_SECRET", "KASAGI_BACKEND_SECRET")}


def test_start_up_is_a_short_banner_ending_with_ready(tmp_path: Path) -> None:
    """At the default level `kasagi up` prints at most 15 lines, the last one `ready`, and
    names the version, the real URL, the store, the auth mode and the room types; Ctrl-C then
    stops it with status 0 and no traceback."""
    port = free_port()
    up = UpCommand(KASAGI, ["--port", str(port), "--data-dir", str(tmp_path / "data")], cwd=tmp_path, env=ENV)
    try:
        lines = up.read_until_ready()
        status, rest, err = up.interrupt()
    finally:
        up.kill()
    text = "\n".join(lines)
    assert len(lines) <= 15 and lines[-1].startswith("kasagi: ready")
    assert "kasagi 0.1.0" in lines[0] and "DEV MODE" in lines[0]
    assert f"http://127.0.0.1:{port}/" in text and "arena, doc" in text
    assert str(tmp_path / "data" / "rooms.sqlite3") in text
    assert status == 0 and "Traceback" not in err + rest
    assert (tmp_path / "data" / "node" / "node.log").stat().st_size > 0, "Crossbar's chatter went to the log file"


def test_json_logs_are_one_json_object_per_line(tmp_path: Path) -> None:
    """With --log-format json every line on stdout is a JSON object, the ready line included."""
    port = free_port()
    args = ["--port", str(port), "--data-dir", str(tmp_path / "data"), "--log-format", "json"]
    up = UpCommand(KASAGI, args, cwd=tmp_path, env=ENV)
    try:
        lines = up.read_until_ready()
    finally:
        up.kill()
    events = [json.loads(line) for line in lines]
    assert all(isinstance(e, dict) for e in events)
    assert events[-1]["event"] == "ready"
    assert any("log_namespace" in e and e.get("log_namespace") != "kasagi" for e in events), "the node's own events"


def test_a_port_in_use_stops_kasagi_up_with_one_line(tmp_path: Path) -> None:
    """A --port another program listens on: exit 2, one line naming --port, nothing started."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        status, out, err = run_to_end(
            KASAGI, ["--port", str(port), "--data-dir", str(tmp_path / "d")], cwd=tmp_path, env=ENV
        )
    assert status == 2 and out == ""
    assert err == f"kasagi: --port: got {port}, expected a free port (another program is listening on it)\n"
    assert not (tmp_path / "d").exists()


def test_a_data_dir_that_is_a_file_stops_kasagi_up_with_one_line(tmp_path: Path) -> None:
    """A --data-dir that is a file: exit 2, one line naming --data-dir."""
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    status, out, err = run_to_end(KASAGI, ["--port", str(free_port()), "--data-dir", str(afile)], cwd=tmp_path, env=ENV)
    assert status == 2 and out == ""
    assert err == f"kasagi: --data-dir: got {afile}, expected a directory (this is a file)\n"


BROKEN_ROOM_TYPE = """
import sys
from kasagi.rooms import RoomType
if "crossbar" in sys.modules:  # loads in `kasagi up` itself, fails inside the node
    raise RuntimeError("this room type can't load inside the node")
class Broken(RoomType):
    name = "broken"
"""


def test_a_room_service_that_fails_to_start_stops_the_node(tmp_path: Path) -> None:
    """A room service that can't start inside the node takes the node down: exit 2, one line
    on stderr with the reason, and nothing listens on the port afterwards."""
    (tmp_path / "brokenroom.py").write_text(BROKEN_ROOM_TYPE)
    port = free_port()
    args = ["--port", str(port), "--data-dir", str(tmp_path / "data"), "--room-type", "brokenroom:Broken"]
    status, out, err = run_to_end(KASAGI, args, cwd=tmp_path, env=ENV)
    assert status == 2
    assert err.count("\n") == 1 and "the room service failed to start" in err
    assert "this room type can't load inside the node" in err
    assert "ready" not in out
    assert not websocket_answers("127.0.0.1", port), "no half-started node is left serving"
