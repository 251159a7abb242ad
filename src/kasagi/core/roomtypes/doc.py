"""``doc``: a shared JSON document for collaborative apps.

Actions ``set {"path", "value"}`` and ``del {"path"}`` (paths as in ``docs/protocol.md``), all
or nothing. When the room is opened with ``{"schema": {...}}`` (a JSON Schema, draft 2020-12),
every action must leave the document -- the state without the server-owned ``members`` --
valid against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import jsonschema
import jsonschema.exceptions
import jsonschema.validators

from kasagi.core.errors import InvalidArgument, Rejected, describe
from kasagi.core.ops import Op, del_op, parse_path, set_op
from kasagi.core.roomtypes.base import RoomType, require_keys
from kasagi.core.values import check_value
from kasagi.wire import SERVER_OWNED

__all__ = ["Doc"]


class Doc(RoomType):
    name: ClassVar[str] = "doc"
    actions: ClassVar[frozenset[str]] = frozenset({"set", "del"})

    def __init__(self, schema: Mapping[str, Any] | None = None) -> None:
        self._schema = dict(schema) if schema is not None else None
        self._validator: Any = None
        if self._schema is not None:
            cls = jsonschema.validators.validator_for(self._schema, default=jsonschema.Draft202012Validator)
            self._validator = cls(self._schema)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RoomType:
        for key in options:
            if key != "schema":
                raise InvalidArgument(
                    f"unknown option {key!r} for room type doc",
                    field=f"options.{key}",
                    expected="only schema",
                    got=describe(options[key]),
                )
        schema = options.get("schema")
        if schema is None:
            return cls()
        if not isinstance(schema, dict):
            raise InvalidArgument(
                "schema must be a map", field="options.schema", expected="a JSON Schema map", got=describe(schema)
            )
        check_value(schema, "options.schema")
        try:
            jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
        except jsonschema.exceptions.SchemaError as exc:
            raise InvalidArgument(
                "schema is not a valid JSON Schema",
                field="options.schema",
                expected="a valid JSON Schema",
                got=str(exc.message)[:200],
            ) from None
        return cls(schema)

    def options(self) -> dict[str, Any]:
        return {"schema": self._schema} if self._schema is not None else {}

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> list[Op]:
        if action == "set":
            require_keys(args, {"path", "value"}, set(), "set")
            path = parse_path(args["path"], "args.path")
            self._writable(path)
            return [set_op(path, args["value"])]  # checked at the boundary (ActCommand), with the configured limits
        if action == "del":
            require_keys(args, {"path"}, set(), "del")
            path = parse_path(args["path"], "args.path")
            self._writable(path)
            return [del_op(path)]
        raise InvalidArgument(
            f"doc has no action {action!r}", field="action", expected="set or del", got=describe(action)
        )

    @staticmethod
    def _writable(path: tuple[Any, ...]) -> None:
        if path[0] in SERVER_OWNED:
            raise Rejected(
                f"{path[0]} is owned by the server",
                field="args.path",
                expected="a path outside " + ", ".join(sorted(SERVER_OWNED)),
                got=describe(list(path)),
            )

    def check(self, state: Mapping[str, Any]) -> None:
        if self._validator is None:
            return
        document = {k: v for k, v in state.items() if k not in SERVER_OWNED}
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(document))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise Rejected(
                "the document would not match the room's schema",
                field=f"document/{where}",
                expected=f"{error.validator} {error.validator_value!r}"[:200],
                got=str(error.message)[:200],
            )
