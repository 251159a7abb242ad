"""The open-option checks of the room-type API: unknown option names and bounded whole numbers."""

from __future__ import annotations

from typing import Any

import pytest

from kasagi.rooms import InvalidArgument, int_option, require_options


def test_known_options_pass_and_an_unknown_one_is_refused_naming_what_is_allowed() -> None:
    """An option outside the allowed names is invalid_argument at options.<name>, listing the allowed ones."""
    require_options({"players": 2}, {"players", "turn_seconds"}, "cards")
    with pytest.raises(InvalidArgument) as caught:
        require_options({"players": 2, "seed": 7}, {"players", "turn_seconds"}, "cards")
    assert caught.value.field == "options.seed"
    assert caught.value.expected == "only players and turn_seconds"
    assert "room type cards" in str(caught.value)
    with pytest.raises(InvalidArgument) as three:
        require_options({"x": 1}, {"c", "a", "b"}, "t")
    assert three.value.expected == "only a, b and c"


def test_a_whole_number_option_in_range_is_returned_and_the_default_fills_a_missing_one() -> None:
    """An integer within the bounds comes back as is; a missing option is the default."""
    assert int_option({"turn_seconds": 5}, "turn_seconds", 30, 1, 60) == 5
    assert int_option({}, "turn_seconds", 30, 1, 60) == 30


@pytest.mark.parametrize("value", [0, 61, 2.5, "5", True, None])
def test_a_whole_number_option_out_of_range_or_of_another_type_is_refused(value: Any) -> None:
    """A number outside the bounds, a float, a string, a bool or null is invalid_argument naming the range."""
    with pytest.raises(InvalidArgument) as caught:
        int_option({"turn_seconds": value}, "turn_seconds", 30, 1, 60, "turn_seconds must be whole seconds")
    assert caught.value.field == "options.turn_seconds"
    assert caught.value.expected == "an integer from 1 to 60"
    assert "turn_seconds must be whole seconds" in str(caught.value)
