"""The exactly-once record of a room: what it applied, and what it can no longer answer for.

Results are kept per *producer*: one client instance of one member (a tab, a device, a
process), named by the instance id the client sends with ``act`` (``instance``; none: the
member's default instance, id 0). A producer's key is the member id for the default
instance and ``"<member>/<instance>"`` for another (``/`` is never in a member id).

Per producer the room keeps the results (``cseq -> seq``) of its highest ``keep`` cseqs and a
*floor*: the highest cseq ever dropped from that window (the lowest cseq goes first). A cseq
in the window answers with its first result; a cseq at or below the floor that is not in the
window is refused with :class:`~kasagi.core.errors.OutcomeUnknown` (it may have been applied:
it is never applied again); any other cseq is new.

A member has at most ``max_instances`` instances besides its default one. When a commit
would exceed that, the instance least recently used (the lowest seq of its latest result)
is dropped, and the member's *instance floor* (kept under the key ``"<member>/"``) rises to
its id: an instance the room does not know is new only above that floor. Clients take
instance ids that grow with time (their start time in microseconds), so a new instance is
above every instance dropped before it started.

Floors are kept beside the results (``floors``: key -> floor). The pure functions here are
shared by the core and the in-memory store; the durable stores do the same in SQL and Lua.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "Results",
    "drop_instance",
    "instance_floor_key",
    "pick_drops",
    "producer_key",
    "record_result",
    "split_key",
]

#: key -> {cseq: seq}
Results = dict[str, dict[int, int]]
#: The instance id of a member's default instance (``act`` without ``instance``).
DEFAULT_INSTANCE = 0


def producer_key(member: str, instance: int) -> str:
    """The results key of ``member``'s client ``instance`` (the member itself for the default)."""
    return member if instance == DEFAULT_INSTANCE else f"{member}/{instance}"


def instance_floor_key(member: str) -> str:
    """The key of ``member``'s instance floor in ``floors``."""
    return f"{member}/"


def split_key(key: str) -> tuple[str, int]:
    """``(member, instance)`` of a producer key."""
    member, slash, instance = key.rpartition("/")
    if not slash:
        return key, DEFAULT_INSTANCE
    return member, int(instance)


def record_result(results: Results, floors: dict[str, int], key: str, cseq: int, seq: int, keep: int) -> None:
    """Remember ``cseq -> seq`` for ``key``; beyond ``keep`` results the lowest cseqs go and
    the floor rises to the highest of them."""
    window = results.setdefault(key, {})
    window[cseq] = seq
    while len(window) > keep:
        lowest = min(window)
        del window[lowest]
        floors[key] = max(floors.get(key, 0), lowest)


def drop_instance(results: Results, floors: dict[str, int], member: str, instance: int) -> None:
    """Forget ``member``'s ``instance``; the member's instance floor rises to its id."""
    key = producer_key(member, instance)
    results.pop(key, None)
    floors.pop(key, None)
    floor_key = instance_floor_key(member)
    floors[floor_key] = max(floors.get(floor_key, 0), instance)


def pick_drops(
    results: Mapping[str, Mapping[int, int]], acks: Iterable[str], max_instances: int
) -> list[tuple[str, int]]:
    """The instances to drop when results for the producer keys ``acks`` are recorded, so that
    no member keeps more than ``max_instances`` instances besides its default one: the least
    recently used first, never one in ``acks`` (0: no limit)."""
    if not max_instances:
        return []
    incoming: dict[str, set[int]] = {}
    for key in acks:
        member, instance = split_key(key)
        if instance != DEFAULT_INSTANCE:
            incoming.setdefault(member, set()).add(instance)
    if not incoming:
        return []
    known: dict[str, list[tuple[int, int]]] = {}
    for key, window in results.items():
        member, instance = split_key(key)
        if member in incoming and instance != DEFAULT_INSTANCE and instance not in incoming[member]:
            known.setdefault(member, []).append((max(window.values(), default=0), instance))
    drops: list[tuple[str, int]] = []
    for member, instances in incoming.items():
        others = sorted(known.get(member, []))
        excess = len(others) + len(instances) - max_instances
        drops.extend((member, instance) for _, instance in others[: max(0, excess)])
    return drops
