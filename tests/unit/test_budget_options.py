"""``kasagi up``'s flags for the byte budgets, the overload settings and the lobby's limits:
each reaches the room service's settings (or the node's router), and a value that can't work
stops the start with one line naming the flag, what was given and what is expected."""

from __future__ import annotations

import pytest

from kasagi.cli import build_parser, node_options
from kasagi.service.settings import ServiceSettings
from kasagi.startup import StartupError, check_options


def _args(*argv: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(["up", *argv])


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["--max-event-bytes", "-1"],
            "kasagi: --max-event-bytes: got -1, expected a number of bytes >= 0 (0: no limit)",
        ),
        (["--max-catchup-bytes", "-5"], "kasagi: --max-catchup-bytes: got -5, expected a number of bytes >= 0"),
        (["--history-bytes", "-1"], "kasagi: --history-bytes: got -1, expected a number of bytes >= 0"),
        (["--history-process-bytes", "-1"], "kasagi: --history-process-bytes: got -1, expected a number of bytes"),
        (["--store-history-bytes", "-1"], "kasagi: --store-history-bytes: got -1, expected a number of bytes >= 0"),
        (["--snapshot-bytes", "-1"], "kasagi: --snapshot-bytes: got -1, expected a number of bytes >= 0"),
        (
            ["--max-outgoing-message-size", "1048576"],
            "kasagi: --max-outgoing-message-size: got 1048576, expected a number of bytes >= 4194304 (4 times",
        ),
        (
            ["--max-state-bytes", "0", "--max-outgoing-message-size", "1000"],
            "kasagi: --max-outgoing-message-size: got 1000, expected a number of bytes >= 65536",
        ),
        (["--overload-lag", "nan"], "kasagi: --overload-lag: got nan, expected a number of seconds >= 0 (0: off)"),
        (["--max-tick", "-0.5"], "kasagi: --max-tick: got -0.5, expected a number of seconds >= 0"),
        (["--max-in-flight", "-1"], "kasagi: --max-in-flight: got -1, expected a number of actions >= 0 (0: no limit)"),
        (["--max-room-pending", "-2"], "kasagi: --max-room-pending: got -2, expected a number of actions >= 0"),
        (["--match-rate", "-1"], "kasagi: --match-rate: got -1, expected calls per second >= 0 (0: no limit)"),
        (["--match-burst", "0.5"], "kasagi: --match-burst: got 0.5, expected a number of calls >= 1"),
        (["--open-rate", "inf"], "kasagi: --open-rate: got inf, expected calls per second >= 0 (0: no limit)"),
        (["--open-burst", "0"], "kasagi: --open-burst: got 0, expected a number of calls >= 1"),
        (["--reservation-ttl", "0"], "kasagi: --reservation-ttl: got 0, expected a number of seconds > 0"),
        (["--lobby-page", "501"], "kasagi: --lobby-page: got 501, expected a number of rooms from 1 to 500"),
        (["--lobby-page", "0"], "kasagi: --lobby-page: got 0, expected a number of rooms from 1 to 500"),
    ],
)
def test_a_budget_flag_that_cannot_work_is_refused_in_one_line(argv: list[str], line: str) -> None:
    """Each bad value is refused before the node starts, naming the flag, the value and what is expected."""
    with pytest.raises(StartupError) as info:
        check_options(_args(*argv), {})
    assert str(info.value).startswith(line), str(info.value)


def test_the_budget_flags_reach_the_room_service_and_the_router() -> None:
    """Given flags end up in the room service's settings and the node's outgoing message limit;
    flags not given leave the settings' defaults."""
    args = _args(
        "--max-event-bytes", "1000", "--store-history-bytes", "2000000", "--snapshot-bytes", "3000000",
        "--overload-lag", "0", "--match-rate", "0", "--lobby-page", "20", "--reservation-ttl", "2.5",
        "--max-outgoing-message-size", "8388608",
    )  # fmt: skip
    check_options(args, {})
    options = node_options(args, secure=False)
    settings = ServiceSettings.from_mapping({k: v for k, v in options.service.items() if k != "store"})
    assert (settings.max_event_bytes, settings.store_history_bytes, settings.snapshot_bytes) == (
        1000,
        2_000_000,
        3_000_000,
    )
    assert (settings.overload_lag, settings.match_rate, settings.lobby_page, settings.reservation_ttl) == (
        0,
        0,
        20,
        2.5,
    )
    assert settings.store_limits().history_bytes == 2_000_000
    assert settings.max_catchup_bytes == ServiceSettings().max_catchup_bytes
    assert options.max_outgoing_message_size == 8_388_608
    assert node_options(_args(), secure=False).max_outgoing_message_size == 4_194_304


def test_the_defaults_pass_the_checks() -> None:
    """``kasagi up`` with no budget flags passes its checks and sets no budget setting."""
    args = _args()
    check_options(args, {})
    assert set(node_options(args, secure=False).service) <= {"store"}
