"""What only the embedded store has: its file, its durability settings, files that aren't ours."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from kasagi.core.room import Batch
from kasagi.store.interface import CorruptStore
from kasagi.store.sqlite import _SCHEMA_1, APPLICATION_ID, SqliteRoomStore, check_file

EPOCH = 1_700_000_000_000


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


@pytest_twisted.inlineCallbacks
def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path):
    """Opening a data file that is not SQLite fails with CorruptStore naming the file, and the
    file's bytes are unchanged."""
    path = tmp_path / "rooms.sqlite3"
    path.write_bytes(b"these are not the rooms you are looking for\n" * 100)
    before = _bytes(path)
    with pytest.raises(CorruptStore) as info:
        yield SqliteRoomStore.open(path, reactor)
    assert str(path) in str(info.value) and "not" in str(info.value)
    assert _bytes(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rooms.sqlite3"]


@pytest_twisted.inlineCallbacks
def test_another_applications_database_is_refused_untouched(tmp_path: Path):
    """A SQLite file of another application is refused (CorruptStore naming its tables) and
    left exactly as it was -- no Kasagi tables, no WAL mode."""
    path = tmp_path / "rooms.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices (total) VALUES (9.5)")
    conn.close()
    before = _bytes(path)
    with pytest.raises(CorruptStore) as info:
        yield SqliteRoomStore.open(path, reactor)
    assert "another application" in str(info.value) and "invoices" in str(info.value)
    assert _bytes(path) == before


@pytest_twisted.inlineCallbacks
def test_a_store_of_a_newer_schema_is_refused(tmp_path: Path):
    """A store written by a newer Kasagi (a higher schema version) is refused, not migrated down."""
    path = tmp_path / "rooms.sqlite3"
    store = yield SqliteRoomStore.open(path, reactor)
    yield store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 7")
    conn.close()
    with pytest.raises(CorruptStore) as info:
        yield SqliteRoomStore.open(path, reactor)
    assert "newer Kasagi" in str(info.value) and "schema 7" in str(info.value)


@pytest_twisted.inlineCallbacks
def test_a_missing_data_directory_is_reported(tmp_path: Path):
    """A store in a data directory that does not exist fails with a message naming it."""
    with pytest.raises(CorruptStore) as info:
        yield SqliteRoomStore.open(tmp_path / "nope" / "rooms.sqlite3", reactor)
    assert "nope" in str(info.value)


@pytest_twisted.inlineCallbacks
def test_new_store_is_marked_as_kasagi_in_wal_mode_with_full_sync(tmp_path: Path):
    """A new store carries Kasagi's application id, runs in WAL mode and fsyncs every commit
    (synchronous=FULL: 2)."""
    path = tmp_path / "rooms.sqlite3"
    store = yield SqliteRoomStore.open(path, reactor)
    try:
        assert store._writer.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert check_file(path) is None, "kasagi up's check accepts a store in use"
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    finally:
        yield store.close()


@pytest_twisted.inlineCallbacks
def test_appends_arriving_together_share_one_transaction(tmp_path: Path):
    """Appends to many rooms that arrive while a commit runs are written in a shared
    transaction (group commit), and all of them land."""
    from twisted.internet import defer

    store = yield SqliteRoomStore.open(tmp_path / "rooms.sqlite3", reactor)
    try:
        rooms = [f"g{i}" for i in range(30)]
        yield defer.gatherResults([store.create(r, "doc", {}, EPOCH, {"members": {}}) for r in rooms])
        before = dict(store.stats)
        yield defer.gatherResults(
            [store.append(Batch(r, EPOCH, 1, [["set", ["x"], 1]], None, ((r, 1),))) for r in rooms]
        )
        assert store.stats["appends"] - before["appends"] == 30
        assert store.stats["transactions"] - before["transactions"] < 30
    finally:
        yield store.close()


@pytest_twisted.inlineCallbacks
def test_appends_made_in_one_reactor_pass_share_one_transaction_though_the_writer_was_idle(tmp_path: Path):
    """Rooms committing in the same pass of the reactor (busy rooms on the commit grid) with
    the writer idle: the first append does not start a transaction of its own, all of them
    are written in one, and all land."""
    from twisted.internet import defer, task

    store = yield SqliteRoomStore.open(tmp_path / "rooms.sqlite3", reactor)
    try:
        rooms = [f"p{i}" for i in range(10)]
        yield defer.gatherResults([store.create(r, "doc", {}, EPOCH, {"members": {}}) for r in rooms])
        yield task.deferLater(reactor, 0, lambda: None)  # the writer is idle now
        before = dict(store.stats)

        def one_pass() -> list[defer.Deferred[None]]:
            return [store.append(Batch(r, EPOCH, 1, [["set", ["x"], 1]], None, ((r, 1),))) for r in rooms]

        appended = yield task.deferLater(reactor, 0, one_pass)
        yield defer.gatherResults(appended)
        assert store.stats["appends"] - before["appends"] == 10
        assert store.stats["transactions"] - before["transactions"] == 1
        for r in rooms:
            stored = yield store.load(r)
            assert stored is not None and stored.seq == 1
    finally:
        yield store.close()


@pytest_twisted.inlineCallbacks
def test_an_append_made_just_before_the_store_closes_is_written(tmp_path: Path):
    """An append queued in the same pass as the store's close is written before the close,
    as it was before appends waited for the end of the pass: it lands and is there on reopen."""
    path = tmp_path / "rooms.sqlite3"
    store = yield SqliteRoomStore.open(path, reactor)
    yield store.create("last", "doc", {}, EPOCH, {"members": {}})
    appended = store.append(Batch("last", EPOCH, 1, [["set", ["x"], 1]], None, (("m", 1),)))
    yield store.close()
    yield appended
    store = yield SqliteRoomStore.open(path, reactor)
    try:
        stored = yield store.load("last")
        assert stored is not None and stored.seq == 1
    finally:
        yield store.close()


@pytest_twisted.inlineCallbacks
def test_a_batch_sqlite_cannot_take_fails_alone(tmp_path: Path):
    """A batch with text SQLite cannot store (a lone surrogate, which the room service refuses
    at the boundary anyway) fails by itself; the batches sharing its transaction land."""
    from twisted.internet import defer

    from kasagi.store.interface import CorruptRoom

    store = yield SqliteRoomStore.open(tmp_path / "rooms.sqlite3", reactor)
    try:
        yield defer.gatherResults([store.create(r, "doc", {}, EPOCH, {"members": {}}) for r in ("good", "bad")])
        results = yield defer.DeferredList(
            [
                store.append(Batch("bad", EPOCH, 1, [["set", ["x"], "\ud83d"]], None, (("m", 1),))),
                store.append(Batch("good", EPOCH, 1, [["set", ["x"], 1]], None, (("m", 1),))),
            ],
            consumeErrors=True,
        )
        (bad_ok, bad), (good_ok, _) = results
        assert not bad_ok and bad.check(CorruptRoom)
        assert good_ok and (yield store.load("good")).seq == 1
        assert (yield store.load("bad")).seq == 0
    finally:
        yield store.close()


@pytest_twisted.inlineCallbacks
def test_result_windows_are_trimmed_lazily_and_stay_bounded_on_disk(tmp_path: Path):
    """Exactly-once windows are cut back in bulk, not on every append: after 300 acks of three
    producers the file holds at most two windows' worth of each producer's results, and a
    reload (also after a restart, and after a new epoch) sees exactly the window of the highest
    cseqs with the floor at the highest cseq cut."""
    from twisted.internet import defer

    from kasagi.store.interface import StoreLimits

    path = tmp_path / "rooms.sqlite3"
    keep = 8
    store = yield SqliteRoomStore.open(path, reactor, limits=StoreLimits(results_per_member=keep))
    try:
        yield store.create("r", "doc", {}, EPOCH, {"members": {}})
        producers = ("alice", "bob", "carol")
        # One batch per seq, all in flight at once (many share a transaction).
        yield defer.gatherResults(
            [
                store.append(Batch("r", EPOCH, seq, [["set", ["x"], seq]], None, ((producers[seq % 3], seq),)))
                for seq in range(1, 301)
            ]
        )
        with sqlite3.connect(path) as conn:
            rows = dict(conn.execute("SELECT member, count(*) FROM results WHERE seq > 0 GROUP BY member").fetchall())
        assert set(rows) == set(producers) and max(rows.values()) <= 2 * keep
        expect = {p: [c for c in range(1, 301) if producers[c % 3] == p] for p in producers}
        loaded = yield store.load("r")
        assert {p: list(w) for p, w in loaded.results.items()} == {p: cs[-keep:] for p, cs in expect.items()}
        assert loaded.floors == {p: cs[-keep - 1] for p, cs in expect.items()}
    finally:
        yield store.close()
    store = yield SqliteRoomStore.open(path, reactor, limits=StoreLimits(results_per_member=keep))
    try:
        loaded = yield store.load("r")
        assert {p: list(w) for p, w in loaded.results.items()} == {p: cs[-keep:] for p, cs in expect.items()}
        assert loaded.floors == {p: cs[-keep - 1] for p, cs in expect.items()}
        yield store.set_epoch("r", EPOCH, EPOCH + 1, 300, {"members": {}})
        again = yield store.load("r")
        assert again.results == loaded.results and again.floors == loaded.floors
    finally:
        yield store.close()


@pytest_twisted.inlineCallbacks
def test_the_untrimmed_count_is_bounded_in_rooms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The writer counts untrimmed results for a bounded number of rooms: past the bound it
    trims and forgets those with the fewest, and what the rooms reload is unchanged."""
    from twisted.internet import defer

    import kasagi.store.sqlite as sqlite_store
    from kasagi.store.interface import StoreLimits

    monkeypatch.setattr(sqlite_store, "_MAX_UNTRIMMED_ROOMS", 3)
    store = yield SqliteRoomStore.open(tmp_path / "rooms.sqlite3", reactor, limits=StoreLimits(results_per_member=2))
    try:
        rooms = [f"b{i}" for i in range(10)]
        yield defer.gatherResults([store.create(r, "doc", {}, EPOCH, {"members": {}}) for r in rooms])
        for seq in (1, 2, 3):
            for room in rooms:  # one room per transaction
                yield store.append(Batch(room, EPOCH, seq, [["set", ["x"], seq]], None, (("m", seq),)))
                assert len(store._untrimmed) <= 3
        loaded = yield defer.gatherResults([store.load(r) for r in rooms])
        assert all(s.results == {"m": {2: 2, 3: 3}} and s.floors == {"m": 1} for s in loaded)
    finally:
        yield store.close()


def test_kasagi_up_refuses_a_data_dir_holding_another_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`kasagi up` on a data directory whose rooms.sqlite3 is not a Kasagi store stops at once
    (exit 2) with a message naming the file, and leaves the file as it was."""
    from kasagi.cli import main

    path = tmp_path / "rooms.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    before = _bytes(path)
    assert main(["up", "--data-dir", str(tmp_path), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "can't be used" in err and str(path) in err and "another application" in err
    assert _bytes(path) == before
    path.write_bytes(b"\x00garbage" * 64)
    assert main(["up", "--data-dir", str(tmp_path), "--port", "1"]) == 2
    assert "not a usable Kasagi room store" in capsys.readouterr().err


@pytest_twisted.inlineCallbacks
def test_a_schema_1_store_is_upgraded_with_its_events_measured(tmp_path: Path):
    """A store written before events kept their size opens as schema 2 with every stored
    event's size measured, and its rooms load as they were."""
    path = tmp_path / "rooms.sqlite3"
    with sqlite3.connect(path) as conn:
        for statement in _SCHEMA_1:
            conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO rooms VALUES ('r1', 'doc', '{}', ?, 1, 0, '{\"doc\":{}}')", (EPOCH,))
        event = json.dumps(
            {"epoch": EPOCH, "seq": 1, "ops": [["set", ["doc", "k"], "\u00e9t\u00e9"]]}, ensure_ascii=False
        )
        conn.execute("INSERT INTO events VALUES ('r1', 1, 0, ?)", (event,))
    conn.close()
    store = yield SqliteRoomStore.open(path, reactor)
    try:
        stored = yield store.load("r1")
        assert [e["ops"] for e in stored.tail] == [[["set", ["doc", "k"], "\u00e9t\u00e9"]]]
    finally:
        yield store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert conn.execute("SELECT bytes FROM events").fetchall() == [(len(event.encode("utf-8")),)]
    conn.close()


@pytest_twisted.inlineCallbacks
def test_a_room_of_many_producers_is_cut_once_per_window_of_theirs(tmp_path: Path):
    """In a room of ten members acting in turn the writer cuts the windows once each member
    has a window's worth of new results (not once per window of all ten together), one
    member acting alone still keeps at most two windows in the file, and the room reloads
    with exactly each member's window."""
    from kasagi.store.interface import StoreLimits

    path = tmp_path / "rooms.sqlite3"
    keep, members = 8, [f"m{i}" for i in range(10)]
    store = yield SqliteRoomStore.open(path, reactor, limits=StoreLimits(results_per_member=keep))
    try:
        yield store.create("r", "doc", {}, EPOCH, {"members": {}})
        acks = [members[i % 10] for i in range(400)] + ["m0"] * 100
        for seq, member in enumerate(acks, start=1):  # one append per transaction
            yield store.append(Batch("r", EPOCH, seq, [["set", ["x"], seq]], None, ((member, seq),)))
        # 400 in turn: 40 results each, cut at most once per 8 of each; then 100 of m0 alone.
        assert store.stats["transactions"] == 500
        assert store.stats["trims"] <= 400 // (keep * 10) + 100 // keep + 1
        with sqlite3.connect(path) as conn:
            rows = dict(conn.execute("SELECT member, count(*) FROM results WHERE seq > 0 GROUP BY member").fetchall())
        assert set(rows) == set(members) and max(rows.values()) <= 2 * keep
        loaded = yield store.load("r")
        expect = {m: [c for c, who in enumerate(acks, start=1) if who == m] for m in members}
        assert {m: list(w) for m, w in loaded.results.items()} == {m: cs[-keep:] for m, cs in expect.items()}
        assert loaded.floors == {m: cs[-keep - 1] for m, cs in expect.items()}
    finally:
        yield store.close()


@pytest_twisted.inlineCallbacks
def test_the_untrimmed_count_is_bounded_in_producers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A room whose producers come and go (a new key each) is cut once the writer counts too
    many of them, so what it counts stays bounded, and the room reloads unchanged."""
    import kasagi.store.sqlite as sqlite_store
    from kasagi.store.interface import StoreLimits

    monkeypatch.setattr(sqlite_store, "_MAX_COUNTED_PRODUCERS", 4)
    store = yield SqliteRoomStore.open(tmp_path / "rooms.sqlite3", reactor, limits=StoreLimits(results_per_member=2))
    try:
        yield store.create("r", "doc", {}, EPOCH, {"members": {}})
        for seq in range(1, 41):  # 20 producers, two results each
            yield store.append(Batch("r", EPOCH, seq, [["set", ["x"], seq]], None, ((f"p{(seq - 1) // 2}", seq),)))
            assert len(store._untrimmed.get("r", {})) <= 4
        loaded = yield store.load("r")
        assert loaded.results == {f"p{i}": {2 * i + 1: 2 * i + 1, 2 * i + 2: 2 * i + 2} for i in range(20)}
        assert loaded.floors == {}
    finally:
        yield store.close()


@pytest_twisted.inlineCallbacks
def test_the_untrimmed_count_is_bounded_across_rooms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """However many rooms and producers append, the producers the writer counts stay under
    its bound across all rooms (it cuts the rooms counting the most), and the rooms reload
    unchanged."""
    from twisted.internet import defer

    import kasagi.store.sqlite as sqlite_store
    from kasagi.store.interface import StoreLimits

    monkeypatch.setattr(sqlite_store, "_MAX_COUNTED_PAIRS", 6)
    store = yield SqliteRoomStore.open(tmp_path / "rooms.sqlite3", reactor, limits=StoreLimits(results_per_member=2))
    try:
        rooms = [f"w{i}" for i in range(5)]
        yield defer.gatherResults([store.create(r, "doc", {}, EPOCH, {"members": {}}) for r in rooms])
        for seq in range(1, 7):  # each room: producers p1..p3, each acting twice
            for room in rooms:
                producer = f"p{(seq - 1) % 3 + 1}"
                yield store.append(Batch(room, EPOCH, seq, [["set", ["x"], seq]], None, ((producer, seq),)))
                counted = sum(len(counts) for counts in store._untrimmed.values())
                assert counted == store._counted <= 6
        loaded = yield defer.gatherResults([store.load(r) for r in rooms])
        expect = {f"p{i}": {i: i, i + 3: i + 3} for i in (1, 2, 3)}
        assert all(s.results == expect and s.floors == {} for s in loaded)
    finally:
        yield store.close()
