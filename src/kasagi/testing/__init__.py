"""Test and benchmark tooling: nothing in the product imports this package.

The fakes and factories for tests of code built on Kasagi (and Kasagi's own tests) are
re-exported here:

- :class:`RecordingPublisher` -- a ``publish`` function that keeps what it was given;
- :class:`MemoryRoomStore` -- the in-memory store, Deferreds like the real ones;
- :class:`FailingStore` -- a store wrapper whose appends fail or hang on demand;
- :func:`make_room` / :func:`make_runner` / :func:`make_failing_runner` /
  :func:`make_registry` / :func:`make_cluster_worker` -- built with a ``Clock``;
- :func:`free_port` -- a TCP port on 127.0.0.1 below the kernel's ephemeral range;
- :class:`RoomKit` -- a room type of yours driven without a server: members join and act,
  time advances (ticks and timers fire), the test reads state, events and refusals
  (:mod:`kasagi.testing.rooms`); :func:`running_node` starts a real node serving your room
  types, for an end-to-end test.

The process tooling lives in modules named for what they hold:

- :mod:`kasagi.testing.node` -- :class:`~kasagi.testing.node.NodeProcess`, a node as a child process;
- :mod:`kasagi.testing.topology` -- routers, workers and Redis of a scale-out topology;
- :mod:`kasagi.testing.redis_server` -- a private ``redis-server``;
- :mod:`kasagi.testing.processes` -- child processes in their own process groups;
- :mod:`kasagi.testing.history` -- the recorded history of a run and its invariant checker;
- :mod:`kasagi.testing.vectors` -- the sync test vectors shared with the JS SDK
  (``python -m kasagi.testing.vectors``).
"""

from kasagi.testing._fakes import (
    FailingStore,
    MemoryRoomStore,
    RecordingPublisher,
    free_port,
    make_cluster_worker,
    make_failing_runner,
    make_registry,
    make_room,
    make_runner,
)
from kasagi.testing.rooms import HookFailed, Refusal, RoomKit, running_node

__all__ = [
    "FailingStore",
    "HookFailed",
    "MemoryRoomStore",
    "RecordingPublisher",
    "Refusal",
    "RoomKit",
    "free_port",
    "make_cluster_worker",
    "make_failing_runner",
    "make_registry",
    "make_room",
    "make_runner",
    "running_node",
]
