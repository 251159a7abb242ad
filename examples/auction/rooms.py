"""``auction``: bids until a durable deadline, then the highest bid wins (docs/rooms.md)."""

from typing import Any, ClassVar

from kasagi.rooms import Effect, InvalidArgument, Rejected, RoomType, describe, require_keys, set_op, set_timer


class Auction(RoomType):
    name: ClassVar[str] = "auction"
    actions: ClassVar[frozenset[str]] = frozenset({"bid"})

    def __init__(self, seconds: int = 60) -> None:
        self.seconds = seconds

    @classmethod
    def from_options(cls, options: Any) -> "Auction":
        seconds = options.get("seconds", 60)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= 86_400:
            raise InvalidArgument("bad seconds", field="options.seconds", expected="1 to 86400", got=describe(seconds))
        return cls(seconds)

    def options(self) -> dict[str, Any]:
        return {"seconds": self.seconds}

    def initial_state(self) -> dict[str, Any]:
        return {"high": 0, "leader": None, "sold": None}

    def on_join(self, state: Any, member: str) -> list[Effect]:
        if state["sold"] is not None or "deadline" in state.get("timers", {}):
            return []
        return [set_timer("deadline", after_ms=self.seconds * 1000)]  # the first join starts the clock

    def apply(self, state: Any, member: str, action: str, args: Any) -> list[Effect]:
        if action != "bid":
            raise InvalidArgument("no such action", field="action", expected="bid", got=describe(action))
        require_keys(args, {"amount"}, set(), action)
        if state["sold"] is not None:
            raise Rejected("the auction is over", field="sold", expected="an open auction", got="sold")
        amount = args["amount"]
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= state["high"]:
            raise Rejected("bid higher", field="args.amount", expected=f"> {state['high']}", got=describe(amount))
        return [set_op(["high"], amount), set_op(["leader"], member)]

    def on_timer(self, state: Any, name: str, data: Any, now_ms: int) -> list[Effect]:
        return [set_op(["sold"], {"to": state["leader"], "price": state["high"], "at": now_ms})]
