"""Bounding the cost of a client-supplied JSON Schema (``doc`` rooms).

A schema is checked once, when the room opens (:func:`check_schema_bounds`), and refused when
its cost cannot be bounded:

- its compact JSON is larger than :data:`MAX_SCHEMA_BYTES`;
- one instance would be checked against more than :data:`MAX_IN_PLACE` subschemas of it at
  once -- nested ``allOf``/``anyOf``/``oneOf``/``not``/``if``/``then``/``else``,
  ``dependentSchemas`` and ``$ref`` multiply (two branches nested ten deep is 1024 checks of one
  value) -- or a ``$ref`` leads back to itself without descending into a part of the instance;
- ``uniqueItems`` over items that may be maps or lists (comparing those is quadratic).

Every check then runs with a work budget (:class:`StepMeter`): each keyword a validator
evaluates is one step, each error it reports :data:`ERROR_STEPS`, ``enum``/``const`` cost the
size of their value, ``uniqueItems`` the square of the list's length. An action may spend :data:`BASE_STEPS` plus
:data:`STEPS_PER_NODE` per node of the value it writes; past that it is refused with
``kasagi.error.rejected`` naming the budget, so no action costs more than a bounded multiple of
its own size, whatever the document's size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

import jsonschema
import jsonschema.validators

from kasagi.rooms import InvalidArgument, Rejected, describe

__all__ = [
    "BASE_STEPS",
    "ERROR_STEPS",
    "MAX_IN_PLACE",
    "MAX_SCHEMA_BYTES",
    "STEPS_PER_NODE",
    "OverBudget",
    "StepMeter",
    "check_schema_bounds",
    "metered_validator",
    "node_count",
    "ref_resolves",
    "resolve_ref",
]

#: The largest schema a room may be opened with (bytes of compact JSON).
MAX_SCHEMA_BYTES: Final = 16_384
#: The most subschemas that may apply to one instance at once (in-place applicators multiply).
MAX_IN_PLACE: Final = 64
#: Validator steps every action may spend ...
BASE_STEPS: Final = 1_000
#: ... and per node of the value it writes.
STEPS_PER_NODE: Final = 1
#: What one error a keyword reports costs (building it and choosing the best one cost more
#: than a keyword that passes).
ERROR_STEPS: Final = 8

#: Keywords that apply subschemas to the same instance.
_IN_PLACE_LISTS: Final = ("allOf", "anyOf", "oneOf")
_IN_PLACE_ONE: Final = ("not", "if", "then", "else")
#: Types whose values compare in linear time.
_SCALAR_TYPES: Final = frozenset({"string", "number", "integer", "boolean", "null"})


class OverBudget(Exception):
    """A check spent more validator steps than its budget."""


class StepMeter:
    """Counts validator steps against a budget (set before each check)."""

    def __init__(self) -> None:
        self.spent = 0
        self.budget = 0

    def start(self, budget: int) -> None:
        self.spent = 0
        self.budget = budget

    def charge(self, steps: int) -> None:
        self.spent += steps
        if self.spent > self.budget:
            raise OverBudget(self.budget)

    def refusal(self) -> Rejected:
        return Rejected(
            "checking the action against the room's schema costs more than its budget",
            field="options.schema",
            expected=f"a check within {self.budget} validator steps",
            got=f"more than {self.budget} steps",
        )


def node_count(value: Any) -> int:
    """How many nodes ``value`` has (iterative; values are bounded at the boundary)."""
    count = 0
    stack = [value]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def metered_validator(schema: Mapping[str, Any], meter: StepMeter) -> Any:
    """A draft 2020-12 validator of ``schema`` whose every keyword evaluation charges ``meter``."""
    base = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    sizes: dict[int, int] = {}

    def counted(keyword: str, function: Any) -> Any:
        def run(validator: Any, value: Any, instance: Any, subschema: Any) -> Iterator[Any]:
            cost = 1
            if keyword in ("enum", "const"):
                cost += sizes.setdefault(id(value), node_count(value))
            elif keyword == "uniqueItems" and isinstance(instance, list):
                cost += len(instance) * len(instance)
            meter.charge(cost)
            for error in function(validator, value, instance, subschema) or ():
                meter.charge(ERROR_STEPS)
                yield error

        return run

    cls = jsonschema.validators.extend(base, {k: counted(k, f) for k, f in base.VALIDATORS.items()})
    return cls(dict(schema))


#: What :func:`_follow` answers for a reference that names no part of the schema.
_UNRESOLVED: Any = object()


def _follow(root: Any, ref: str) -> Any:
    """The part of ``root`` a local ``ref`` (``#`` or ``#/a/b``) names, or ``_UNRESOLVED``."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return _UNRESOLVED
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _UNRESOLVED
    return node


def resolve_ref(root: Any, ref: str) -> Any:
    """The part of ``root`` a local ``ref`` (``#`` or ``#/a/b``) names, or None."""
    node = _follow(root, ref)
    return None if node is _UNRESOLVED else node


def ref_resolves(root: Any, ref: str) -> bool:
    """Whether ``ref`` is ``#`` or a JSON pointer ``#/a/b`` naming a part of ``root``."""
    return _follow(root, ref) is not _UNRESOLVED


def check_schema_bounds(schema: Mapping[str, Any], where: str) -> None:
    """Refuse a schema whose cost cannot be bounded (see the module); ``InvalidArgument``."""
    size = len(json.dumps(schema, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_SCHEMA_BYTES:
        raise InvalidArgument(
            "the schema is too big",
            field=where,
            expected=f"a schema of at most {MAX_SCHEMA_BYTES} bytes",
            got=f"{size} bytes",
        )
    _Bounds(schema, where).visit(schema, where)


class _Bounds:
    """One walk over a schema: the in-place fan-out of every subschema, memoized."""

    def __init__(self, root: Mapping[str, Any], where: str) -> None:
        self.root = root
        self.where = where
        self.fanout: dict[int, int] = {}
        self.seen: set[int] = set()

    def visit(self, node: Any, at: str) -> None:
        """Check every subschema reachable from ``node`` (each once)."""
        if not isinstance(node, dict) or id(node) in self.seen:
            return
        self.seen.add(id(node))
        count = self.in_place(node, at, ())
        if count > MAX_IN_PLACE:
            raise InvalidArgument(
                "the schema nests too many subschemas over one value",
                field=at,
                expected=f"at most {MAX_IN_PLACE} subschemas applying to one value (allOf, anyOf, oneOf, not, "
                "if/then/else, dependentSchemas and $ref multiply)",
                got=f"{count}",
            )
        _check_unique_items(node, at)
        for key, value in node.items():
            if key in ("properties", "$defs", "definitions", "dependentSchemas") and isinstance(value, dict):
                for name, sub in value.items():
                    self.visit(sub, f"{at}.{key}.{name}")
            elif key in ("prefixItems", *_IN_PLACE_LISTS) and isinstance(value, list):
                for i, sub in enumerate(value):
                    self.visit(sub, f"{at}.{key}[{i}]")
            elif isinstance(value, dict) and key not in ("enum", "const", "default", "examples"):
                self.visit(value, f"{at}.{key}")

    def in_place(self, node: Any, at: str, stack: tuple[int, ...]) -> int:
        """How many subschemas apply to an instance that ``node`` applies to (``node`` included)."""
        if not isinstance(node, dict):
            return 1
        if id(node) in stack:
            raise InvalidArgument(
                "the schema refers to itself without descending into the value",
                field=at,
                expected="a $ref cycle only through properties, items or the like",
                got="a $ref cycle over one value",
            )
        known = self.fanout.get(id(node))
        if known is not None:
            return known
        inner = (*stack, id(node))
        count = 1
        for key in _IN_PLACE_LISTS:
            for sub in node.get(key, ()) if isinstance(node.get(key), list) else ():
                count += self.in_place(sub, f"{at}.{key}", inner)
        for key in _IN_PLACE_ONE:
            if key in node:
                count += self.in_place(node[key], f"{at}.{key}", inner)
        dependent = node.get("dependentSchemas")
        if isinstance(dependent, dict):
            for sub in dependent.values():
                count += self.in_place(sub, f"{at}.dependentSchemas", inner)
        ref = node.get("$ref")
        if isinstance(ref, str):
            count += self.in_place(resolve_ref(self.root, ref), f"{at}.$ref", inner)
        self.fanout[id(node)] = count
        return count


def _check_unique_items(node: Mapping[str, Any], at: str) -> None:
    """``uniqueItems`` only over items that are scalars (``items`` with scalar ``type``s, or an
    ``enum``/``const`` of scalars)."""
    if node.get("uniqueItems") is not True:
        return
    items = node.get("items")
    if isinstance(items, dict) and _scalar_only(items):
        return
    raise InvalidArgument(
        "uniqueItems may only apply to scalar items",
        field=f"{at}.uniqueItems",
        expected='items with a scalar "type" (string, number, integer, boolean, null) or a scalar enum',
        got=describe(items),
    )


def _scalar_only(items: Mapping[str, Any]) -> bool:
    kind = items.get("type")
    kinds = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else None
    if kinds and all(k in _SCALAR_TYPES for k in kinds):
        return True
    values = items.get("enum", [items["const"]] if "const" in items else None)
    return isinstance(values, list) and bool(values) and all(not isinstance(v, (dict, list)) for v in values)
