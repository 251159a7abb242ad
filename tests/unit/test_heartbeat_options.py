"""Heartbeats come from configuration: ``kasagi up`` options reach the router's WebSocket
auto-ping settings, with the documented defaults (10 s / 10 s)."""

from __future__ import annotations

from pathlib import Path

from kasagi.cli import build_parser, node_options
from kasagi.node import build_config


def _ws_options(argv: list[str]) -> dict:
    args = build_parser().parse_args(["up", *argv])
    config = build_config(node_options(args, secure=False))
    router = next(w for w in config["workers"] if w["type"] == "router")
    public = next(t for t in router["transports"] if t["id"] == "public")
    return public["paths"]["ws"]["options"]


def test_default_heartbeat_is_10_s_interval_and_10_s_timeout():
    """Without options the router pings every 10 s and drops a connection that does not answer within 10 s."""
    ws = _ws_options(["--data-dir", str(Path("/tmp/kasagi-unused"))])
    assert (ws["auto_ping_interval"], ws["auto_ping_timeout"]) == (10_000, 10_000)


def test_heartbeat_options_reach_the_router_in_milliseconds():
    """--ping-interval and --ping-timeout (seconds) become Crossbar's auto-ping settings (milliseconds)."""
    ws = _ws_options(["--ping-interval", "2.5", "--ping-timeout", "4"])
    assert (ws["auto_ping_interval"], ws["auto_ping_timeout"]) == (2500, 4000)


def test_beacon_and_grace_reach_the_room_service():
    """--beacon and --grace become room-service settings."""
    args = build_parser().parse_args(["up", "--beacon", "3", "--grace", "12"])
    service = node_options(args, secure=False).service
    assert service["beacon"] == 3.0 and service["grace"] == 12.0
