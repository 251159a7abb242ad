"""`kasagi up` checks every option before anything starts: one line naming the option, what
was given and what is expected; the machine checks (ports, data directory) without a node."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from kasagi.cli import build_parser, main
from kasagi.startup import MIN_SECRET_LENGTH, StartupError, check_options, check_resources

GOOD_SECRET = "s" * MIN_SECRET_LENGTH


def _args(*argv: str):
    return build_parser().parse_args(["up", *argv])


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (["--tick", "-1"], {}, "kasagi: --tick: got -1, expected a number of seconds >= 0"),
        (["--tick", "nan"], {}, "kasagi: --tick: got nan, expected a number of seconds >= 0"),
        (["--max-members", "-3"], {}, "kasagi: --max-members: got -3, expected a number of members >= 0 (0: no limit)"),
        (["--port", "0"], {}, "kasagi: --port: got 0, expected a TCP port 1-65535"),
        (["--metrics-port", "70000"], {}, "kasagi: --metrics-port: got 70000, expected a TCP port 1-65535 (0: off)"),
        (["--port", "9000", "--metrics-port", "9000"], {}, "kasagi: --metrics-port: got 9000, expected a port no"),
        (["--ping-timeout", "0"], {}, "kasagi: --ping-timeout: got 0, expected a number of seconds > 0"),
        (["--action-rate", "5", "--action-burst", "0.5"], {}, "kasagi: --action-burst: got 0.5, expected a number"),
        (["--store", "postgres://db"], {}, "kasagi: --store: got 'postgres://db', expected memory, sqlite, "),
        (["--store", "redis://:pw@/x"], {}, "kasagi: --store: got 'redis://***@/x', expected redis://host:port/db"),
        (["--store", "sqlite:"], {}, "kasagi: --store: got 'sqlite:', expected sqlite:PATH with a file name"),
        (["--secure"], {}, "kasagi: KASAGI_SECRET: got nothing, expected a secret of at least 16 characters"),
        ([], {"KASAGI_SECRET": "short"}, "kasagi: KASAGI_SECRET: got 5 characters, expected a secret of at least 16"),
        ([], {"KASAGI_BACKEND_SECRET": "x" * 15}, "kasagi: KASAGI_BACKEND_SECRET: got 15 characters, expected"),
        (["--role", "worker"], {"KASAGI_BACKEND_SECRET": GOOD_SECRET}, "kasagi: --router: got nothing, expected at"),
        (
            ["--role", "worker", "--router", "tcp://h:1"],
            {},
            "kasagi: --router: got 'tcp://h:1', expected rs://HOST:PORT",
        ),
        (["--role", "worker", "--router", "rs://h:1"], {}, "kasagi: KASAGI_BACKEND_SECRET: got nothing, expected"),
        (["--role", "worker", "--heartbeat", "2"], {}, "kasagi: --heartbeat: got 2, expected fewer seconds than"),
    ],
)
def test_a_bad_option_is_one_line_naming_it(argv: list[str], env: dict[str, str], line: str) -> None:
    """Each bad value is refused with one line: the option, what was given, what is expected."""
    with pytest.raises(StartupError) as info:
        check_options(_args(*argv), env)
    text = str(info.value)
    assert text.startswith(line) and "\n" not in text


def test_the_defaults_and_good_values_pass() -> None:
    """The defaults, and long enough secrets, pass every check."""
    check_options(_args(), {})
    check_options(_args("--secure", "--tick", "0", "--store", "memory"), {"KASAGI_SECRET": GOOD_SECRET})
    env = {"KASAGI_BACKEND_SECRET": GOOD_SECRET}
    check_options(_args("--role", "worker", "--router", "rs://r1:8081", "--store", "redis://r:6379/0"), env)


def test_kasagi_up_exits_2_with_the_line_before_anything_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`kasagi up --tick -1` exits 2, prints exactly one line on stderr and creates no data directory."""
    status = main(["up", "--tick", "-1", "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert status == 2 and err == "kasagi: --tick: got -1, expected a number of seconds >= 0\n"
    assert not (tmp_path / "data").exists()


def test_a_port_in_use_is_refused(tmp_path: Path) -> None:
    """A port another program listens on is named with its option."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        for argv, option in (
            (["--port", str(port)], "--port"),
            (["--metrics-port", str(port)], "--metrics-port"),
            (["--backend-port", str(port), "--backend-host", "127.0.0.1"], "--backend-port"),
        ):
            with pytest.raises(StartupError) as info:
                check_resources(_args("--data-dir", str(tmp_path), *argv), {})
            assert info.value.option == option and "another program is listening" in info.value.expected


def test_a_data_dir_that_is_a_file_or_not_writable_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A file, a path under a file, or a directory this user can't write is refused as --data-dir."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    for path in (afile, afile / "data"):
        with pytest.raises(StartupError) as info:
            check_resources(_args("--data-dir", str(path), "--port", "1"), {})
        assert info.value.option == "--data-dir"
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(StartupError) as info:
        check_resources(_args("--data-dir", str(tmp_path)), {})
    assert info.value.expected == "a directory this user can write to"


def test_a_redis_store_that_does_not_answer_is_refused(tmp_path: Path) -> None:
    """A Redis store nobody listens for stops the start-up (it would start with no rooms)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        args = _args("--data-dir", str(tmp_path), "--port", "1", "--store", f"redis://127.0.0.1:{port}/0")
        with pytest.raises(StartupError) as info:
            check_resources(args, {})
    assert info.value.option == "--store" and "a Redis that answers at start-up" in info.value.expected


def test_every_option_has_a_sentence_and_its_default() -> None:
    """`kasagi up --help` gives each option a help text, and it names the default."""
    up = build_parser()._subparsers._group_actions[0].choices["up"]  # type: ignore[union-attr]
    for action in up._actions:
        if not action.option_strings or action.dest == "help":
            continue
        text = up.formatter_class(prog="kasagi up")._get_help_string(action) or ""  # type: ignore[attr-defined]
        assert text, f"{action.option_strings[0]} has no help"
        assert "default" in text or action.const is True, f"{action.option_strings[0]} does not name its default"
