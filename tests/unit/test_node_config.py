"""What each node option puts into the node configuration that ``crossbar start`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kasagi.node import NodeOptions, build_config, project_root
from kasagi.wire import Limits


def _router(config: dict[str, Any]) -> dict[str, Any]:
    return next(w for w in config["workers"] if w["type"] == "router")


def _by_id(items: list[dict[str, Any]], item_id: str) -> dict[str, Any]:
    return next(i for i in items if i["id"] == item_id)


def test_the_public_transport_takes_port_host_limits_and_the_web_directory(tmp_path: Path) -> None:
    """Port, interface, message size and the web directory reach the public WebSocket transport."""
    config = build_config(NodeOptions(port=9001, host="10.0.0.5", data_dir=tmp_path, max_message_size=4096))
    public = _by_id(_router(config)["transports"], "public")
    assert public["endpoint"]["port"] == 9001
    assert public["endpoint"]["interface"] == "10.0.0.5"
    assert public["paths"]["/"]["directory"] == str(project_root() / "web")
    ws = public["paths"]["ws"]["options"]
    assert (ws["max_message_size"], ws["max_frame_size"]) == (4096, 4096)
    backend = _by_id(_router(config)["transports"], "backend")
    assert backend["endpoint"]["path"] == str(tmp_path.resolve() / "backend.sock")
    assert backend["serializers"] == ["msgpack"]


def test_the_room_service_gets_its_settings_room_types_and_class(tmp_path: Path) -> None:
    """Service settings (the store defaulting to sqlite in the data directory), room types, the app
    directory and a chosen service class reach the rooms component."""
    options = NodeOptions(
        data_dir=tmp_path,
        service={"beacon": 2.0},
        room_types=("app.rooms:Chess",),
        app_dir=str(tmp_path),
        service_class="components.raw_baseline.RawBaseline",
    )
    rooms = _by_id(_router(build_config(options))["components"], "rooms")
    assert rooms["classname"] == "components.raw_baseline.RawBaseline"
    assert rooms["extra"]["service"] == {"beacon": 2.0, "store": "sqlite", "data_dir": str(tmp_path.resolve())}
    assert rooms["extra"]["room_types"] == ["app.rooms:Chess"]
    assert rooms["extra"]["app_dir"] == str(tmp_path.resolve())
    assert "metrics" not in rooms["extra"]


def test_metrics_in_the_router_worker_are_served_for_the_room_service_too(tmp_path: Path) -> None:
    """With a metrics port the router gets the metrics component and the in-process room service reports to it."""
    config = build_config(NodeOptions(data_dir=tmp_path, metrics_port=9100, metrics_host="10.0.0.5"))
    components = _router(config)["components"]
    assert _by_id(components, "metrics")["extra"] == {"port": 9100, "host": "10.0.0.5"}
    assert _by_id(components, "rooms")["extra"]["metrics"] is True


def test_tuning_follows_the_options_and_debug_logging_keeps_log_arguments(tmp_path: Path) -> None:
    """The gc options reach the tuning component, and debug logging turns off skipping debug log arguments."""
    options = NodeOptions(
        data_dir=tmp_path, loglevel="debug", gc_freeze=False, gc_refreeze_every=5.0, gc_report_every=2.0
    )
    tuning = _by_id(_router(build_config(options))["components"], "tuning")["extra"]
    assert tuning["skip_debug_log_args"] is False
    assert (tuning["gc_freeze"], tuning["gc_refreeze_every"], tuning["gc_report_every"]) == (False, 5.0, 2.0)
    assert _by_id(_router(build_config(NodeOptions(data_dir=tmp_path)))["components"], "tuning")["extra"][
        "skip_debug_log_args"
    ]


def test_process_placement_runs_the_room_service_in_a_container_worker_on_the_backend_socket(tmp_path: Path) -> None:
    """component=process moves the rooms component into its own container worker, joined over the
    backend Unix socket with the chosen serializer and the backend credentials."""
    config = build_config(NodeOptions(data_dir=tmp_path, component="process", backend_serializer="cbor"))
    router = _router(config)
    assert "rooms" not in [c["id"] for c in router["components"]]
    assert _by_id(router["transports"], "backend")["serializers"] == ["cbor"]
    (container,) = [w for w in config["workers"] if w["type"] == "container"]
    assert container["options"] == {"pythonpath": router["options"]["pythonpath"], "title": "kasagi rooms"}
    (rooms,) = container["components"]
    assert rooms["transport"] == {
        "type": "rawsocket",
        "endpoint": {"type": "unix", "path": str(tmp_path.resolve() / "backend.sock")},
        "serializer": "cbor",
    }
    assert (rooms["extra"]["authid"], rooms["extra"]["secret_env"]) == ("kasagi_backend", "KASAGI_BACKEND_SECRET")
    assert rooms["extra"]["service"]["data_dir"] == str(tmp_path.resolve())


def test_an_unknown_placement_is_refused(tmp_path: Path) -> None:
    """A component placement other than router or process is refused."""
    with pytest.raises(ValueError, match="component must be router or process"):
        build_config(NodeOptions(data_dir=tmp_path, component="thread"))


def test_the_router_sends_up_to_its_outgoing_limit_and_accepts_up_to_its_incoming_one(tmp_path: Path) -> None:
    """By default a client may send 64 KiB and is sent up to 4 MiB; the outgoing limit reaches
    the router's tuning component, the incoming one the public transport."""
    config = build_config(NodeOptions(data_dir=tmp_path))
    ws = _by_id(_router(config)["transports"], "public")["paths"]["ws"]["options"]
    tuning = _by_id(_router(config)["components"], "tuning")
    assert ws["max_message_size"] == Limits.INCOMING_MESSAGE_BYTES == 65_536
    assert tuning["extra"]["max_outgoing_message_size"] == Limits.OUTGOING_MESSAGE_BYTES == 4 * Limits.MAX_STATE_BYTES
