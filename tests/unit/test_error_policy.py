"""One table of what a client does after each error (kasagi.wire.ERROR_POLICY): the server's
``retryable`` flags, the shared vector file and the Python client's decisions all follow it
(the JS SDK is checked against the same file by tests/js/policy.test.mjs)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from autobahn.wamp.exception import ApplicationError, TransportLost
from twisted.python.failure import Failure

from kasagi import wire
from kasagi.client import CallTimeout, ConnectionLost, recovery_of
from kasagi.core import errors
from kasagi.core.room import RoomConfig
from kasagi.core.values import ValueLimits
from kasagi.deadline import DeadlineExceeded
from kasagi.service.settings import ServiceSettings
from kasagi.store.interface import StoreLimits
from kasagi.testing.vectors import VECTORS_DIR
from kasagi.wire import ERROR_POLICY, Limits, Recovery

POLICY = json.loads((VECTORS_DIR / "policy.json").read_text(encoding="utf-8"))

SERVER_ERRORS = [
    errors.InvalidArgument,
    errors.Rejected,
    errors.NotMember,
    errors.NoSuchRoom,
    errors.RateLimited,
    errors.Full,
    errors.Unavailable,
    errors.RoomDamaged,
    errors.NotAuthorized,
]


def _subclasses(cls: type[errors.KasagiError]) -> set[type[errors.KasagiError]]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def test_every_error_uri_of_the_server_is_in_the_table() -> None:
    """Each kasagi.error.* URI the server may send has an entry in the table."""
    uris = {v for k, v in vars(wire.ErrorURI).items() if not k.startswith("_")}
    assert uris <= set(ERROR_POLICY)
    assert {cls.uri for cls in _subclasses(errors.KasagiError)} <= set(ERROR_POLICY)


@pytest.mark.parametrize("cls", SERVER_ERRORS, ids=lambda c: c.__name__)
def test_the_servers_retryable_flag_is_the_tables(cls: type[errors.KasagiError]) -> None:
    """An error's ``retryable`` detail is true exactly when the table says the same call may
    succeed later, by the client or by its caller (a damaged room, made final, says false)."""
    expected = ERROR_POLICY[cls.uri] in (Recovery.RETRY, Recovery.LATER) and cls is not errors.RoomDamaged
    assert cls("x").details()["retryable"] is expected


@pytest.mark.parametrize("cls", SERVER_ERRORS, ids=lambda c: c.__name__)
def test_a_client_following_the_servers_details_does_what_the_table_says(cls: type[errors.KasagiError]) -> None:
    """The recovery a client reads from an error the server raised (URI and details) is the
    table's, or giving up for an error the server marks final."""
    error = cls("x", field="f")
    expected = Recovery.GIVE_UP if cls is errors.RoomDamaged else ERROR_POLICY[cls.uri]
    assert wire.recovery(error.uri, error.details()) is expected
    assert recovery_of(Failure(ApplicationError(error.uri, error.message, **error.details()))) is expected


def test_the_vector_file_holds_the_table() -> None:
    """tests/vectors/policy.json carries the table entry by entry, and a case for every URI."""
    assert POLICY["table"] == {uri: action.value for uri, action in ERROR_POLICY.items()}
    assert set(ERROR_POLICY) <= {case["uri"] for case in POLICY["cases"]}


@pytest.mark.parametrize("case", POLICY["cases"], ids=lambda c: c["name"])
def test_the_python_client_decides_as_the_vector_file(case: dict[str, Any]) -> None:
    """After an error with this URI and these details, the Python client does what the vector
    file says."""
    failure = Failure(ApplicationError(case["uri"], "message", **case["details"]))
    assert recovery_of(failure).value == case["recovery"]


@pytest.mark.parametrize(
    ("error", "uri"),
    [
        (CallTimeout("no answer"), wire.ClientErrorURI.TIMEOUT),
        (DeadlineExceeded("no answer"), wire.ClientErrorURI.TIMEOUT),
        (ConnectionLost("dropped"), wire.ClientErrorURI.CONNECTION_LOST),
        (TransportLost(), wire.WampErrorURI.TRANSPORT_LOST),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v,
)
def test_the_python_clients_own_failures_follow_the_table(error: Exception, uri: str) -> None:
    """A timeout or a lost connection (which the Python client raises as exceptions, not
    URIs) is recovered from as the table's entry for its URI says."""
    assert recovery_of(Failure(error)) is ERROR_POLICY[uri]


def test_anything_else_is_final() -> None:
    """A failure the table does not know (a bug, a ValueError) ends the call."""
    assert recovery_of(Failure(ValueError("bug"))) is Recovery.GIVE_UP


def test_the_limits_are_defined_once() -> None:
    """The core's, the service's and the store's defaults are the protocol's limits in each
    layer's units (the core leaves the member and state limits off unless the service sets them)."""
    settings = ServiceSettings()
    assert settings.store_limits() == StoreLimits()
    assert settings.value_limits() == ValueLimits()
    assert settings.room_config() == replace(
        RoomConfig(), max_members=Limits.MAX_MEMBERS, max_state_bytes=Limits.MAX_STATE_BYTES
    )
    assert RoomConfig().history_hard_cap == StoreLimits().hard_cap == Limits.HISTORY_HARD_CAP
    assert (settings.grace, settings.history_seconds) == (30.0, 120.0)
    assert (settings.max_members, settings.max_rooms, settings.max_state_bytes) == (1000, 10_000, 1_048_576)
