"""A room type from a package outside this repository, announced in the ``kasagi.room_types``
entry-point group and installed with ``pip install -e``, is served by a real node.

The package is installed into the Python that runs the tests (the project's virtualenv), with
``--no-deps --no-build-isolation`` so it builds offline in a second from this venv's
setuptools, and uninstalled when the test ends: a node only finds entry points of the
environment it runs in, and the node runs on this venv's Python. A separate virtualenv would
have to install Kasagi and its dependencies first (minutes), for no more coverage.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted

from kasagi.client import KasagiClient
from kasagi.testing.rooms import running_node
from tests.waiting import until

pytestmark = [pytest.mark.node, pytest.mark.installs]

DIST = "kasagi-external-buzzer"
PACKAGE = "kasagi_external_buzzer"

PYPROJECT = f"""
[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "{DIST}"
version = "0.1.0"

[project.entry-points."kasagi.room_types"]
buzzer = "{PACKAGE}.rooms:Buzzer"

[tool.setuptools]
packages = ["{PACKAGE}"]
"""

ROOMS = '''
from kasagi.rooms import Rejected, RoomType, require_keys, set_op


class Buzzer(RoomType):
    """The first member to buzz wins the round."""

    name = "buzzer"
    actions = frozenset({"buzz"})

    def initial_state(self):
        return {"first": None, "buzzes": 0}

    def apply(self, state, member, action, args):
        require_keys(args, set(), set(), action)
        if state["first"] is not None:
            raise Rejected("someone was faster", field="first", expected="nobody yet", got=state["first"])
        return [set_op(["first"], member), set_op(["buzzes"], state["buzzes"] + 1)]
'''


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check", *args], check=True, timeout=300
    )


@pytest.fixture
def installed_package(tmp_path: Path) -> Iterator[Path]:
    """The buzzer package, written to a temp dir and installed in editable mode."""
    root = tmp_path / "buzzer-project"
    (root / PACKAGE).mkdir(parents=True)
    (root / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT), encoding="utf-8")
    (root / PACKAGE / "__init__.py").write_text("", encoding="utf-8")
    (root / PACKAGE / "rooms.py").write_text(textwrap.dedent(ROOMS), encoding="utf-8")
    _pip("install", "--no-deps", "--no-build-isolation", "-e", str(root))
    try:
        yield root
    finally:
        _pip("uninstall", "--yes", DIST)


@pytest_twisted.inlineCallbacks
def test_an_installed_package_serves_its_room_type_through_the_entry_point(installed_package: Path, tmp_path: Path):
    """With no --room-type, a node serves ``buzzer`` from the installed package: two members
    join a buzzer room, the first buzz wins and the second is rejected."""
    with running_node(data_dir=tmp_path / "node") as node:
        alice = yield KasagiClient.connect(node.url, "alice")
        bob = yield KasagiClient.connect(node.url, "bob")
        try:
            ra = yield alice.join("quiz1", "buzzer")
            rb = yield bob.join("quiz1", "buzzer")
            ack = yield ra.act("buzz", {})
            refused = yield rb.act("buzz", {}).addErrback(lambda f: f.value.error)
            assert refused == "kasagi.error.rejected"
            yield until(lambda: rb.seq >= ack["seq"], 10)
            assert rb.state["first"] == "alice" and rb.state["buzzes"] == 1
        finally:
            yield alice.close()
            yield bob.close()
