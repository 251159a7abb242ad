"""``doc``: a shared JSON document for collaborative apps.

Actions ``set {"path", "value"}`` and ``del {"path"}`` (paths as in ``docs/protocol.md``), all
or nothing. When the room is opened with ``{"schema": {...}}`` (a JSON Schema, draft 2020-12),
every action must leave the document -- the state without the server-owned ``members`` and
``timers`` --
valid against it. The schema's cost is bounded: what can't be bounded is refused when the room
opens, and each action's check has a budget linear in the value it writes
(:mod:`kasagi.roomtypes.schema_bounds`, :mod:`kasagi.roomtypes.schema_check`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import jsonschema
import jsonschema.exceptions
import jsonschema.validators

from kasagi.rooms import (
    PRIVATE_KEY,
    SERVER_OWNED,
    Effect,
    InvalidArgument,
    Rejected,
    RoomType,
    check_value,
    del_op,
    describe,
    parse_path,
    require_keys,
    require_options,
    set_op,
)
from kasagi.roomtypes.schema_bounds import check_schema_bounds, node_count, ref_resolves
from kasagi.roomtypes.schema_check import SchemaCheck

__all__ = ["Doc"]

#: Top-level keys no client writes: the server-owned ones and every member's private state.
_NOT_WRITABLE = SERVER_OWNED | {PRIVATE_KEY}


class Doc(RoomType):
    name: ClassVar[str] = "doc"
    actions: ClassVar[frozenset[str]] = frozenset({"set", "del"})

    def __init__(self, schema: Mapping[str, Any] | None = None) -> None:
        self._schema = dict(schema) if schema is not None else None
        self._check = SchemaCheck(self._schema) if self._schema is not None else None
        #: What the last ``apply`` changed (path, deleted, nodes written), for ``check``.
        self._change: tuple[tuple[Any, ...], bool, int] | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RoomType:
        require_options(options, {"schema"}, "doc")
        schema = options.get("schema")
        if schema is None:
            return cls()
        if not isinstance(schema, dict):
            raise InvalidArgument(
                "schema must be a map", field="options.schema", expected="a JSON Schema map", got=describe(schema)
            )
        check_value(schema, "options.schema")
        _check_schema_safety(schema, schema, "options.schema")
        check_schema_bounds(schema, "options.schema")
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

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> list[Effect]:
        if action == "set":
            require_keys(args, {"path", "value"}, set(), "set")
            path = parse_path(args["path"], "args.path")
            self._writable(path)
            self._change = (path, False, node_count(args["value"]))
            return [set_op(path, args["value"])]  # checked at the boundary (ActCommand), with the configured limits
        if action == "del":
            require_keys(args, {"path"}, set(), "del")
            path = parse_path(args["path"], "args.path")
            self._writable(path)
            self._change = (path, True, 0)
            return [del_op(path)]
        raise InvalidArgument(
            f"doc has no action {action!r}", field="action", expected="set or del", got=describe(action)
        )

    @staticmethod
    def _writable(path: tuple[Any, ...]) -> None:
        if path[0] in _NOT_WRITABLE:
            raise Rejected(
                f"{path[0]} is owned by the server",
                field="args.path",
                expected="a path outside " + ", ".join(sorted(_NOT_WRITABLE)),
                got=describe(list(path)),
            )

    def check(self, state: Mapping[str, Any]) -> None:
        """Validate what the last action changed (the whole document when that is not known),
        within the action's budget."""
        change, self._change = self._change, None
        if self._check is None:
            return
        document = {k: v for k, v in state.items() if k not in _NOT_WRITABLE}
        if change is None:
            self._check.check_document(document, SchemaCheck.budget(node_count(document)))
            return
        path, deleted, nodes = change
        self._check.check_change(document, path, deleted, SchemaCheck.budget(nodes))


#: Keywords whose value maps names to subschemas (the names are data, not keywords).
_NAMED_SUBSCHEMAS = frozenset({"properties", "$defs", "definitions", "dependentSchemas"})
#: Keywords whose value is data, not a schema.
_DATA = frozenset({"enum", "const", "default", "examples", "required", "dependentRequired", "type"})
#: Keywords that run a regular expression: a client's pattern could take the room service
#: hours to match (catastrophic backtracking), so client schemas may not use them.
_REGEX = frozenset({"pattern", "patternProperties"})


def _check_schema_safety(node: Any, root: Mapping[str, Any], where: str) -> None:
    """Refuse what a client-supplied schema may not do: regular expressions, and ``$ref``
    other than a local JSON pointer that resolves within the schema."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _check_schema_safety(item, root, f"{where}[{i}]")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        at = f"{where}.{key}"
        if key in _REGEX:
            raise InvalidArgument(
                "schemas may not use regular expressions",
                field=at,
                expected="a schema without pattern or patternProperties",
                got=describe(value),
            )
        if key in ("$ref", "$dynamicRef"):
            if not isinstance(value, str) or not ref_resolves(root, value):
                raise InvalidArgument(
                    f"{key} must point inside the schema",
                    field=at,
                    expected="a local reference such as #/$defs/name that exists",
                    got=describe(value),
                )
        elif key in _NAMED_SUBSCHEMAS and isinstance(value, dict):
            for name, sub in value.items():
                _check_schema_safety(sub, root, f"{at}.{name}")
        elif key not in _DATA:
            _check_schema_safety(value, root, at)
