"""Checking a ``doc`` room's document against its schema, at a cost bounded by the action.

The document was valid before the action, and an action changes one path. So rather than
validate the whole document, :meth:`SchemaCheck.check_change` walks the schema down that path:
at each map or list on the way, the subschemas that apply to it (``$ref`` and ``allOf``
followed) are checked *shallowly* -- ``type``, ``required``, counts and bounds, whether the
changed key is allowed -- and the walk goes on into ``properties``/``additionalProperties``/
``items`` for the next key. A subschema with a keyword whose answer depends on the whole
value below it (``anyOf``, ``oneOf``, ``not``, ``if``, ``enum``, ``const``, ``contains``,
``uniqueItems``, ``prefixItems``, ``unevaluated*``, ...) is validated in full at that point
instead, and the written value is validated in full against the subschemas of its path. Every
validation spends from one :class:`~kasagi.roomtypes.schema_bounds.StepMeter` budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import jsonschema.exceptions

from kasagi.rooms import Rejected
from kasagi.roomtypes.schema_bounds import (
    BASE_STEPS,
    STEPS_PER_NODE,
    OverBudget,
    StepMeter,
    metered_validator,
    resolve_ref,
)

__all__ = ["SchemaCheck"]

#: Keywords checked without looking below the value.
_SHALLOW: Final = frozenset(
    {
        "type",
        "required",
        "minProperties",
        "maxProperties",
        "minItems",
        "maxItems",
        "dependentRequired",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "format",
    }
)
#: Keywords the walk itself follows, and annotations that check nothing.
_WALKED: Final = frozenset(
    {
        "properties",
        "additionalProperties",
        "items",
        "propertyNames",
        "$ref",
        "allOf",
        "$defs",
        "definitions",
        "$schema",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "contentMediaType",
        "contentEncoding",
    }
)
#: Keywords under which the walk can't follow the schema: it then validates everything.
_NOT_LOCAL: Final = frozenset({"$id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$vocabulary"})


def _mentions(node: Any, keys: frozenset[str]) -> bool:
    if isinstance(node, dict):
        return any(k in keys for k in node) or any(_mentions(v, keys) for v in node.values())
    if isinstance(node, list):
        return any(_mentions(v, keys) for v in node)
    return False


def _where(path: tuple[Any, ...], error: Any) -> str:
    return "/".join(str(p) for p in (*path, *error.absolute_path)) or "(root)"


class SchemaCheck:
    """A room's schema, ready to check documents and changes within a budget."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = dict(schema)
        self.meter = StepMeter()
        self._validator = metered_validator(self.schema, self.meter)
        #: Whether the walk may follow the schema (no identifier below the root that moves
        #: ``$ref``'s base, no dynamic reference).
        self._local = not (set(self.schema) & (_NOT_LOCAL - {"$id"})) and not any(
            _mentions(v, _NOT_LOCAL) for v in self.schema.values()
        )

    @staticmethod
    def budget(value_nodes: int) -> int:
        """The steps an action writing a value of ``value_nodes`` nodes may spend."""
        return BASE_STEPS + STEPS_PER_NODE * value_nodes

    def check_document(self, document: Any, budget: int) -> None:
        """Validate the whole ``document``; ``Rejected`` if it does not match or the check
        spends more than ``budget`` steps."""
        self.meter.start(budget)
        self._validate(document, self.schema, ())

    def check_change(self, document: Any, path: tuple[Any, ...], deleted: bool, budget: int) -> None:
        """Validate what writing (or deleting) ``path`` of ``document`` changed, assuming the
        document matched before; ``Rejected`` as :meth:`check_document`."""
        if not self._local:
            self.check_document(document, budget)
            return
        self.meter.start(budget)
        schemas: list[Any] = [self.schema]
        node = document
        for depth, key in enumerate(path):
            last = depth == len(path) - 1
            following: list[Any] = []
            for schema in self._expand(schemas, path[:depth]):
                following.extend(self._step(node, schema, key, path[:depth], deleted and last))
            schemas = following
            if last:
                break
            node = node[key]
        if deleted:
            return
        value = node[path[-1]]
        for schema in self._expand(schemas, path):
            self._validate(value, schema, path)

    def _expand(self, schemas: list[Any], at: tuple[Any, ...]) -> list[Mapping[str, Any]]:
        """``schemas`` with every ``$ref`` and ``allOf`` member they apply in place added;
        a ``false`` schema refuses at once."""
        out: list[Mapping[str, Any]] = []
        todo = list(schemas)
        while todo:
            schema = todo.pop()
            self.meter.charge(1)
            if schema is True:
                continue
            if not isinstance(schema, dict):
                raise Rejected(
                    "the document would not match the room's schema",
                    field="document/" + ("/".join(str(p) for p in at) or "(root)"),
                    expected="nothing here (the schema is false)",
                    got="a value",
                )
            out.append(schema)
            ref = schema.get("$ref")
            if isinstance(ref, str):
                todo.append(resolve_ref(self.schema, ref))
            members = schema.get("allOf")
            if isinstance(members, list):
                todo.extend(members)
        return out

    def _step(self, node: Any, schema: Mapping[str, Any], key: Any, at: tuple[Any, ...], deleting: bool) -> list[Any]:
        """Check ``node`` against ``schema`` shallowly (or in full when a keyword needs the
        whole value) and return the subschemas that apply to ``node[key]``."""
        if any(k not in _SHALLOW and k not in _WALKED for k in schema):
            self._validate(node, schema, at)
            return []
        shallow = {k: v for k, v in schema.items() if k in _SHALLOW}
        if shallow:
            self._validate(node, shallow, at)
        if isinstance(node, dict) and isinstance(key, str):
            names = schema.get("propertyNames")
            if names is not None and not deleting:
                self._validate(key, names, (*at, key))
            properties = schema.get("properties")
            if isinstance(properties, dict) and key in properties:
                return [properties[key]]
            extra = schema.get("additionalProperties")
            return [] if extra is None or deleting else [extra]
        if isinstance(node, list) and isinstance(key, int) and "items" in schema and not deleting:
            return [schema["items"]]
        return []

    def _validate(self, value: Any, schema: Any, at: tuple[Any, ...]) -> None:
        try:
            error = jsonschema.exceptions.best_match(self._validator.evolve(schema=schema).iter_errors(value))
        except OverBudget:
            raise self.meter.refusal() from None
        except Exception as exc:  # noqa: BLE001 -- a schema that can't be applied refuses, never crashes
            raise Rejected(
                "the room's schema cannot be applied",
                field="options.schema",
                expected="a schema that applies",
                got=str(exc)[:200],
            ) from None
        if error is not None:
            raise Rejected(
                "the document would not match the room's schema",
                field=f"document/{_where(at, error)}",
                expected=f"{error.validator} {error.validator_value!r}"[:200],
                got=str(error.message)[:200],
            )
