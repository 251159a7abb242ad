"""Many workers and many routers: room ownership by leases fenced by the epoch, failover and
graceful handover (:mod:`~kasagi.cluster.rooms`), a worker's room procedures on every router
(:mod:`~kasagi.cluster.routers`), placement (:mod:`~kasagi.cluster.placement`) and the worker
process (:mod:`~kasagi.cluster.process`). See ``docs/scaling.md``."""

from kasagi.cluster.leases import Claim, Heartbeat, Leases, MemoryLeases, OwnerRecord, WorkerInfo
from kasagi.cluster.placement import choose_worker
from kasagi.cluster.rooms import ClusterRooms, ClusterSettings, OwnedElsewhere

__all__ = [
    "Claim",
    "ClusterRooms",
    "ClusterSettings",
    "Heartbeat",
    "Leases",
    "MemoryLeases",
    "OwnedElsewhere",
    "OwnerRecord",
    "WorkerInfo",
    "choose_worker",
]
