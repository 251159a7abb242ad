"""Hypothesis-generated arguments for every client procedure, through a real router and room
service (bounded: a fixed number of derandomized examples per procedure, each under cbor,
msgpack or json).

Two kinds of examples:

- *corrupted*: a valid call with one thing broken (a field of the wrong type or value, an
  unknown or doubled argument, an extra positional one). It must be answered with a
  ``kasagi.error.*`` and change nothing (no event in the room, no new room, no new member).
- *arbitrary*: any arguments at all. The answer may be a success, but an error must carry a
  stable URI: ``kasagi.error.*`` other than ``unavailable`` (which would mean an internal
  error), or a router ``wamp.error.*``; and the service keeps answering.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from twisted.internet import defer, reactor

from kasagi.client import KasagiClient
from kasagi.deadline import within
from kasagi.testing.node import NodeProcess
from kasagi.wire import ROOM_ID_RE
from tests.security.nodes import token
from tests.security.wamp_raw import Login, RawSession, close, connect_ws

pytestmark = pytest.mark.node

EXAMPLES = 60
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- value strategies ------------------------------------------------------------------------------
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.binary(max_size=16)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=15,
)
#: Anything but a well-formed room id.
bad_room_ids = values.filter(lambda v: not (isinstance(v, str) and ROOM_ID_RE.fullmatch(v)))
#: Anything but an integer cseq in range.
bad_cseqs = values.filter(lambda v: isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 2**53 - 1)
#: Anything but a number within the speed limit.
bad_steps = values.filter(
    lambda v: (
        isinstance(v, bool)
        or not isinstance(v, (int, float))
        or (isinstance(v, float) and not math.isfinite(v))
        or abs(v) > 10
    )
)
kw_names = st.sampled_from(
    ["room", "type", "options", "since", "action", "args", "cseq", "member", "authid", "session", "f", "fun", "self"]
) | st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


@dataclass
class Fuzz:
    node: NodeProcess
    sessions: dict[str, RawSession]
    observer: KasagiClient
    arena: Any
    doc: Any
    counter: Iterator[int]

    @defer.inlineCallbacks
    def call(self, serializer: str, uri: str, args: list[Any], kwargs: dict[str, Any]):  # type: ignore[no-untyped-def]
        """Make the call; fire with the result or the ApplicationError (reject what the client
        library itself can't encode: it is never sent)."""
        session = self.sessions[serializer]
        try:
            d = session.call_raw(uri, args, kwargs)
        except Exception:  # noqa: BLE001 -- the client library can't encode it
            reject()
        answered = d.addCallbacks(lambda result: (True, result), lambda failure: (False, failure))
        # An unanswered call is a failure of the service (it once was: a keyword named "f").
        ok, outcome = yield within(answered, 15.0, reactor, f"an answer to {uri}")
        if ok:
            return outcome
        if isinstance(outcome.value, ApplicationError):
            return outcome.value
        if session.is_attached():
            reject()  # e.g. an integer msgpack can't hold: refused by the client library
        raise AssertionError(f"the router dropped the {serializer} session: {outcome.value!r}")

    @defer.inlineCallbacks
    def position(self, room: str):  # type: ignore[no-untyped-def]
        reply = yield self.observer.call(f"kasagi.room.{room}.join", None)
        return reply["epoch"], reply["seq"]

    @defer.inlineCallbacks
    def unchanged_since(self, room: str, position: tuple[int, int]):  # type: ignore[no-untyped-def]
        epoch, seq = position
        reply = yield self.observer.call(f"kasagi.room.{room}.join", {"epoch": epoch, "seq": seq})
        return reply.get("events") == [] and reply["seq"] == seq


@pytest.fixture(scope="module")
def fuzz(secure_node: NodeProcess) -> Iterator[Fuzz]:
    port = secure_node.options.port
    sessions = {
        s: pytest_twisted.blockon(connect_ws(port, Login("fuzzer", token("fuzzer")), s))
        for s in ("cbor", "msgpack", "json")
    }
    observer = pytest_twisted.blockon(KasagiClient.connect(secure_node.url, "fzobserver", token("fzobserver")))
    arena = pytest_twisted.blockon(observer.join("fuzzarena"))
    doc = pytest_twisted.blockon(observer.join("fuzzdoc", "doc"))
    # fuzzjoin: a room the fuzzer never joins (the join test checks no session is added).
    pytest_twisted.blockon(observer.join("fuzzjoin", "doc"))
    for room in ("fuzzarena", "fuzzdoc"):
        pytest_twisted.blockon(sessions["cbor"].call(f"kasagi.room.{room}.join", None))
    yield Fuzz(secure_node, sessions, observer, arena, doc, itertools.count())
    pytest_twisted.blockon(close(*sessions.values()))
    pytest_twisted.blockon(observer.close())


serializers = st.sampled_from(["cbor", "msgpack", "json"])


def assert_refused(result: Any, *uris: str) -> ApplicationError:
    assert isinstance(result, ApplicationError), f"a corrupted call succeeded: {result!r}"
    assert result.error.startswith("kasagi.error.") and result.error != "kasagi.error.unavailable", result
    if uris:
        assert result.error in uris, result
    details = result.kwargs
    assert {"field", "expected", "got", "retryable"} <= set(details), details
    return result


def assert_stable(result: Any) -> None:
    if isinstance(result, ApplicationError):
        assert result.error != "kasagi.error.unavailable", f"an internal error: {result}"
        assert result.error.startswith(("kasagi.error.", "wamp.error.")), result


# -- corrupted calls -------------------------------------------------------------------------------
@st.composite
def corrupted_open(draw: st.DrawFn, room: str) -> tuple[list[Any], dict[str, Any]]:
    base: dict[str, Any] = {"room": room, "type": draw(st.sampled_from(["arena", "doc"])), "options": {}}
    how = draw(
        st.sampled_from(["room", "type", "options", "members", "unknown_option", "extra_arg", "unknown_kw", "double"])
    )
    if how == "room":
        base["room"] = draw(bad_room_ids)
    elif how == "type":
        base["type"] = draw(values.filter(lambda v: v not in ("arena", "doc", None)))
    elif how == "options":
        base["options"] = draw(values.filter(lambda v: v is not None and not isinstance(v, dict)))
    elif how == "members":
        base["options"] = {
            "members": draw(values.filter(lambda v: v is not None and not (isinstance(v, list) and "fuzzer" in v)))
        }
    elif how == "unknown_option":
        base["options"] = {
            draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in ("members", "schema"))): draw(values)
        }
    positional = [base["room"], base["type"], base["options"]]
    if how == "extra_arg":
        return [*positional, draw(values)], {}
    if how == "unknown_kw":
        return positional, {draw(kw_names.filter(lambda k: k not in ("room", "type", "options"))): draw(values)}
    if how == "double":
        name = draw(st.sampled_from(["room", "type", "options"]))
        return positional, {name: base[name]}
    split = draw(st.integers(0, 3))
    return positional[:split], dict(list(base.items())[split:])


@FUZZ
@given(data=st.data(), serializer=serializers)
@pytest_twisted.inlineCallbacks
def test_open_with_corrupted_arguments_is_refused_and_opens_nothing(fuzz: Fuzz, data: st.DataObject, serializer: str):
    """kasagi.lobby.open with one broken argument is refused with kasagi.error.* and opens no room."""
    room = f"fz_open_{next(fuzz.counter)}"
    args, kwargs = data.draw(corrupted_open(room))
    assert_refused((yield fuzz.call(serializer, "kasagi.lobby.open", args, kwargs)))
    missing = yield fuzz.call("cbor", f"kasagi.room.{room}.join", [None], {})
    assert isinstance(missing, ApplicationError) and missing.error == "kasagi.error.no_such_room"


@st.composite
def corrupted_act(draw: st.DrawFn, cseq: int) -> tuple[list[Any], dict[str, Any]]:
    # A cseq never used before: a repeated one would (rightly) return its first result unchecked.
    base: dict[str, Any] = {"action": "move", "args": {"dx": 1, "dy": -1}, "cseq": cseq}
    how = draw(
        st.sampled_from(
            [
                "action",
                "args",
                "dx",
                "dy",
                "t",
                "unknown_arg_key",
                "missing",
                "cseq",
                "extra_arg",
                "unknown_kw",
                "double",
            ]
        )
    )
    if how == "action":
        base["action"] = draw(values.filter(lambda v: v != "move"))
    elif how == "args":
        base["args"] = draw(values.filter(lambda v: v is not None and not isinstance(v, dict)))
    elif how in ("dx", "dy"):
        base["args"] = {**base["args"], how: draw(bad_steps)}
    elif how == "t":
        base["args"] = {
            **base["args"],
            "t": draw(values.filter(lambda v: isinstance(v, bool) or not isinstance(v, (int, float)))),
        }
    elif how == "unknown_arg_key":
        base["args"] = {
            **base["args"],
            draw(st.text(max_size=8).filter(lambda k: k not in ("dx", "dy", "t"))): draw(values),
        }
    elif how == "missing":
        gone = draw(st.sampled_from(["dx", "dy"]))
        base["args"] = {k: v for k, v in base["args"].items() if k != gone}
    elif how == "cseq":
        base["cseq"] = draw(bad_cseqs)
    positional = [base["action"], base["args"], base["cseq"]]
    if how == "extra_arg":  # beyond the fourth, the instance (null or an id: valid)
        return [*positional, None, draw(values)], {}
    if how == "unknown_kw":
        return positional, {
            draw(kw_names.filter(lambda k: k not in ("action", "args", "cseq", "instance", "details"))): draw(values)
        }
    if how == "double":
        name = draw(st.sampled_from(["action", "args", "cseq"]))
        return positional, {name: base[name]}
    split = draw(st.integers(0, 3))
    return positional[:split], dict(list(base.items())[split:])


@FUZZ
@given(data=st.data(), serializer=serializers)
@pytest_twisted.inlineCallbacks
def test_act_with_corrupted_arguments_is_refused_and_changes_nothing(fuzz: Fuzz, data: st.DataObject, serializer: str):
    """An arena act with one broken argument is refused with invalid_argument or rejected, and the
    room makes no event."""
    args, kwargs = data.draw(corrupted_act(10**12 + next(fuzz.counter)))
    before = yield fuzz.position("fuzzarena")
    result = yield fuzz.call(serializer, "kasagi.room.fuzzarena.act", args, kwargs)
    assert_refused(result, "kasagi.error.invalid_argument", "kasagi.error.rejected")
    assert (yield fuzz.unchanged_since("fuzzarena", before))


@st.composite
def corrupted_join(draw: st.DrawFn) -> tuple[list[Any], dict[str, Any]]:
    how = draw(st.sampled_from(["since", "since_field", "extra_arg", "unknown_kw", "double"]))
    if how == "since":
        return [draw(values.filter(lambda v: v is not None and not isinstance(v, dict)))], {}
    if how == "since_field":
        since = {
            "epoch": 1,
            "seq": 0,
            draw(st.sampled_from(["epoch", "seq"])): draw(
                values.filter(lambda v: isinstance(v, bool) or not isinstance(v, int) or v < 0)
            ),
        }
        return ([since], {}) if draw(st.booleans()) else ([], {"since": since})
    if how == "extra_arg":
        return [None, draw(values)], {}
    if how == "unknown_kw":
        return [None], {draw(kw_names.filter(lambda k: k not in ("since", "details"))): draw(values)}
    return [None], {"since": None}


@FUZZ
@given(data=st.data(), serializer=serializers)
@pytest_twisted.inlineCallbacks
def test_join_with_corrupted_arguments_is_refused_and_adds_no_session(fuzz: Fuzz, data: st.DataObject, serializer: str):
    """A join with a broken argument is refused: the session is not added (a leave right after
    finds it not joined) and the room makes no event."""
    args, kwargs = data.draw(corrupted_join())
    before = yield fuzz.position("fuzzjoin")
    result = yield fuzz.call(serializer, "kasagi.room.fuzzjoin.join", args, kwargs)
    assert_refused(result, "kasagi.error.invalid_argument")
    left = yield fuzz.call(serializer, "kasagi.room.fuzzjoin.leave", [], {})
    assert isinstance(left, ApplicationError) and left.error == "kasagi.error.not_member"
    assert (yield fuzz.unchanged_since("fuzzjoin", before))


@FUZZ
@given(
    args=st.lists(values, max_size=4),
    kwargs=st.dictionaries(kw_names.filter(lambda k: k != "details"), values, max_size=3),
    serializer=serializers,
)
@pytest_twisted.inlineCallbacks
def test_leave_with_any_argument_is_refused_and_the_member_stays(
    fuzz: Fuzz, args: list[Any], kwargs: dict[str, Any], serializer: str
):
    """leave takes no arguments: any argument is refused and the member stays in the room."""
    if not args and not kwargs:
        reject()
    before = yield fuzz.position("fuzzarena")
    result = yield fuzz.call(serializer, "kasagi.room.fuzzarena.leave", args, kwargs)
    assert_refused(result, "kasagi.error.invalid_argument")
    assert (yield fuzz.unchanged_since("fuzzarena", before))
    assert fuzz.arena.state["members"]["fuzzer"]["online"] is True


# -- arbitrary calls -------------------------------------------------------------------------------
# One test function per procedure (pytest-twisted's hypothesis support does not combine with
# pytest.mark.parametrize).
def _arbitrary(uri: str, doc: str) -> Any:
    @FUZZ
    @given(
        args=st.lists(values, max_size=4), kwargs=st.dictionaries(kw_names, values, max_size=3), serializer=serializers
    )
    @pytest_twisted.inlineCallbacks
    def test(fuzz: Fuzz, args: list[Any], kwargs: dict[str, Any], serializer: str):  # type: ignore[no-untyped-def]
        assert_stable((yield fuzz.call(serializer, uri, args, kwargs)))
        if uri.endswith(".leave"):
            yield fuzz.sessions[serializer].call("kasagi.room.fuzzarena.join", None)
        assert isinstance((yield fuzz.position("fuzzarena")), tuple)

    test.__doc__ = doc
    return test


_STABLE = "answers with a result or a stable error URI (never an internal error) and the service keeps serving."
test_arbitrary_open_arguments = _arbitrary("kasagi.lobby.open", "Whatever its arguments, kasagi.lobby.open " + _STABLE)
test_arbitrary_join_arguments = _arbitrary("kasagi.room.fuzzarena.join", "Whatever its arguments, join " + _STABLE)
test_arbitrary_arena_act_arguments = _arbitrary(
    "kasagi.room.fuzzarena.act", "Whatever its arguments, act in an arena " + _STABLE
)
test_arbitrary_doc_act_arguments = _arbitrary(
    "kasagi.room.fuzzdoc.act", "Whatever its arguments, act in a doc " + _STABLE
)
test_arbitrary_leave_arguments = _arbitrary("kasagi.room.fuzzarena.leave", "Whatever its arguments, leave " + _STABLE)
test_arbitrary_unopened_room_arguments = _arbitrary(
    "kasagi.room.fz_nowhere.act", "Whatever its arguments, a call to an unopened room " + _STABLE
)
