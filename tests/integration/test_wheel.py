"""The package as a user gets it: the wheel ``python -m build`` makes, installed into a fresh
virtualenv outside the checkout, runs ``kasagi up`` in an empty directory; a Python client
joins a room and acts, and the demo page loads in headless Chromium.

Cost: about a minute (the sdist and wheel build, a virtualenv, one node). The fresh
virtualenv gets the wheel with ``--no-deps`` and sees the dependencies through a ``.pth`` line
naming this project's site-packages: a plain path line, so that directory's own ``.pth``
files (the editable install of the checkout among them) are not run and the checkout's
``src/`` is not on the path. Nothing is downloaded; what runs is the wheel's code and the
wheel's files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kasagi.testing import free_port
from tests.integration.up_command import UpCommand

pytestmark = [pytest.mark.packaging, pytest.mark.node, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CLIENT = """
import sys
from twisted.internet import defer, task
from kasagi.client import KasagiClient
import kasagi

@defer.inlineCallbacks
def main(reactor, url):
    client = yield KasagiClient.connect(url, "alice")
    room = yield client.join("from_the_wheel")
    ack = yield room.act("move", {"dx": 2, "dy": 1})
    print("acked", ack["seq"], kasagi.__file__)
    yield client.close()

task.react(main, [sys.argv[1]])
"""


def _run(*cmd: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv outside the checkout with the built wheel installed; its bin/."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), ".", cwd=ROOT)
    wheel = next(dist.glob("kasagi-*.whl"))
    venv = base / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    _run(base_python, "-m", "venv", "--without-pip", str(venv), cwd=base)
    purelib = Path(
        _run(
            str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=base
        ).strip()
    )
    (purelib / "kasagi-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(venv / "bin" / "python"),
        "install",
        "--no-deps",
        "--no-index",
        str(wheel),
        cwd=base,
    )
    yield venv / "bin"
    shutil.rmtree(base, ignore_errors=True)


def _env() -> dict[str, str]:
    drop = ("PYTHONPATH", "KASAGI_SECRET", "KASAGI_BACKEND_SECRET", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_the_installed_wheel_serves_a_client_and_the_demo(installed: Path, tmp_path: Path) -> None:
    """`kasagi up` of the installed wheel, run in an empty directory, is ready; a client of
    the installed package joins and acts; the demo page loads its SDK and joins in Chromium.
    The wheel holds the node's sessions under ``kasagi._node`` only, and the node runs them from there."""
    wheel = next((installed.parent.parent / "dist").glob("kasagi-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "kasagi/_node/components/room_service.py" in names and "kasagi/_node/router/tuning.py" in names
    tops = {n.partition("/")[0] for n in names}
    assert all(top == "kasagi" or top.endswith(".dist-info") for top in tops), f"top-level entries: {sorted(tops)}"
    assert _run(str(installed / "kasagi"), "--version", cwd=tmp_path, env=_env()).strip() == "kasagi 0.1.0"
    empty = tmp_path / "empty"
    empty.mkdir()
    port = free_port()
    up = UpCommand(
        [str(installed / "kasagi")], ["--port", str(port), "--data-dir", str(empty / "data")], cwd=empty, env=_env()
    )
    try:
        lines = up.read_until_ready()
        assert lines[-1].startswith("kasagi: ready")
        out = _run(str(installed / "python"), "-c", CLIENT, f"ws://127.0.0.1:{port}/ws", cwd=empty, env=_env())
        acked, _seq, module = out.split()
        assert acked == "acked" and Path(module).is_relative_to(installed.parent), "the wheel's kasagi ran"
        assert not Path(module).is_relative_to(ROOT)
        _demo_loads(f"http://127.0.0.1:{port}/?room=wheel_demo")
        config = (empty / "data" / "node" / "config.json").read_text()
        assert str(ROOT) not in config, "the node runs from the installed package's files"
        assert '"kasagi._node.components.room_service.RoomService"' in config
        assert '"components.' not in config and '"router.' not in config
    finally:
        status, _, err = up.interrupt()
        up.kill()
    assert status == 0 and "Traceback" not in err


def _demo_loads(url: str) -> None:
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), "Debian's chromium is missing: run `make chromium`"
    with sync_playwright() as pw:
        browser: Any = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            page.wait_for_function("window.kasagiDemo && window.kasagiDemo.ready === true", timeout=30_000)
            assert errors == []
        finally:
            browser.close()
