"""Room types for the lobby's tests: ``quad`` seats four and publishes its mode and member count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from kasagi.rooms import RoomType


class Quad(RoomType):
    """Four seats; listed with ``{"mode", "count"}``; a matched room takes its mode from the criteria."""

    name: ClassVar[str] = "quad"
    listing_keys: ClassVar[frozenset[str]] = frozenset({"mode", "count"})
    seats: ClassVar[int] = 4

    def __init__(self, mode: str = "casual") -> None:
        self.mode = mode

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Quad:
        return cls(str(options.get("mode", "casual")))

    def options(self) -> dict[str, Any]:
        return {"mode": self.mode}

    def initial_state(self) -> dict[str, Any]:
        return {"mode": self.mode, "hidden": "the private plan"}

    def listing(self, state: Mapping[str, Any]) -> dict[str, Any]:
        return {"mode": state.get("mode", "casual"), "count": len(state.get("members", {}))}

    @classmethod
    def match_options(cls, criteria: Mapping[str, Any]) -> dict[str, Any]:
        return {"mode": criteria["mode"]} if isinstance(criteria.get("mode"), str) else {}
