"""Loading room types for `kasagi up`: --room-type specs, entry points, and start-up errors."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from kasagi.cli import main
from kasagi.roomtypes import Arena, Doc
from kasagi.service.room_types import ENTRY_POINT_GROUP, RoomTypeError, load_room_types

GOOD = """
from kasagi.rooms import RoomType, set_op

class Counter(RoomType):
    name = "counter"
    actions = frozenset({"add"})

    def apply(self, state, member, action, args):
        return [set_op(["n"], state.get("n", 0) + 1)]

class Other(RoomType):
    name = "counter"

class BadName(RoomType):
    name = "Bad Name!"

class NotAType:
    name = "x"
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An application directory holding the module ``myapp_rooms`` (removed afterwards)."""
    (tmp_path / "myapp_rooms.py").write_text(textwrap.dedent(GOOD))
    (tmp_path / "broken_rooms.py").write_text("import does_not_exist_anywhere\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("myapp_rooms", "broken_rooms"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


def load(app: Path, *specs: str) -> dict[str, type]:
    return dict(load_room_types(specs, str(app), use_entry_points=False))


def test_the_built_ins_are_always_served(app: Path) -> None:
    """Without specs the node serves arena and doc."""
    assert load(app) == {"arena": Arena, "doc": Doc}


def test_a_room_type_spec_loads_from_the_app_directory(app: Path) -> None:
    """--room-type module:Class loads the class from the app directory, beside the built-ins."""
    types = load(app, "myapp_rooms:Counter")
    assert sorted(types) == ["arena", "counter", "doc"]
    assert types["counter"].__name__ == "Counter"


def test_an_app_package_named_like_the_nodes_own_does_not_replace_it(app: Path) -> None:
    """The app directory is searched after the node's packages: an app's own ``router`` package leaves the node's
    ``router`` (its tuning and authenticators) in place, and the app's room types still load."""
    from importlib.machinery import PathFinder

    ours = PathFinder.find_spec("router", sys.path)
    (app / "router").mkdir()
    (app / "router" / "__init__.py").write_text("")
    assert "counter" in load(app, "myapp_rooms:Counter")
    found = PathFinder.find_spec("router", sys.path)
    assert ours is not None and found is not None and found.origin == ours.origin


def test_a_module_that_fails_to_import_is_named(app: Path) -> None:
    """An import failure stops start-up with one line naming the spec and the error."""
    with pytest.raises(RoomTypeError) as info:
        load(app, "broken_rooms:Thing")
    message = str(info.value)
    assert "broken_rooms:Thing" in message and "does_not_exist_anywhere" in message and "\n" not in message


def test_a_missing_module_or_attribute_is_named(app: Path) -> None:
    """A module or class that does not exist is reported with its spec."""
    with pytest.raises(RoomTypeError, match="no 'Nope'"):
        load(app, "myapp_rooms:Nope")
    with pytest.raises(RoomTypeError, match="failed to import"):
        load(app, "no_such_module_here:Nope")
    with pytest.raises(RoomTypeError, match=re.escape("package.module:ClassName")):
        load(app, "myapp_rooms")


def test_a_name_that_is_not_a_room_type_subclass_is_named(app: Path) -> None:
    """A class that does not derive from kasagi.rooms.RoomType is refused."""
    with pytest.raises(RoomTypeError, match=re.escape("NotAType is not a subclass of kasagi.rooms.RoomType")):
        load(app, "myapp_rooms:NotAType")


def test_two_types_with_one_name_are_refused(app: Path) -> None:
    """Two classes named counter, or one named like a built-in, stop start-up naming both."""
    with pytest.raises(RoomTypeError, match="two room types are named 'counter'"):
        load(app, "myapp_rooms:Counter", "myapp_rooms:Other")
    (app / "clash.py").write_text("from kasagi.rooms import RoomType\nclass A(RoomType):\n    name = 'arena'\n")
    with pytest.raises(RoomTypeError, match="'arena': built-in and --room-type 'clash:A'"):
        load(app, "clash:A")


def test_the_same_type_named_twice_is_served_once(app: Path) -> None:
    """Naming one class twice is not a conflict."""
    assert "counter" in load(app, "myapp_rooms:Counter", "myapp_rooms:Counter")


def test_an_invalid_type_id_is_refused(app: Path) -> None:
    """A name outside ^[a-z][a-z0-9_-]{0,31}$ stops start-up naming the class."""
    with pytest.raises(RoomTypeError, match=re.escape("BadName.name 'Bad Name!' is not a valid room-type id")):
        load(app, "myapp_rooms:BadName")


def test_entry_points_announce_room_types(app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution's kasagi.room_types entry point is served (a dist-info on sys.path)."""
    dist = app / "site" / "myapp-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myapp\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ncounter = myapp_rooms:Counter\n")
    sys.path.insert(0, str(app / "site"))
    sys.path.insert(0, str(app))
    types = load_room_types()
    assert types["counter"].__name__ == "Counter"


def test_kasagi_up_fails_fast_with_one_line_and_status_2(
    app: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """kasagi up --room-type with a broken module exits 2 before the node starts, one line on stderr."""
    monkeypatch.chdir(app)
    status = main(["up", "--data-dir", str(app / "data"), "--room-type", "myapp_rooms:NotAType"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "myapp_rooms:NotAType" in err
    assert not (app / "data").exists()
