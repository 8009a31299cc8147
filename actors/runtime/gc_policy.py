"""The process's garbage collector as the hosts keep it (``actors.runtime.host.host``).

The engine keeps every order and combo record for minutes, so the collector's full collections
grow with the run (one of 30k ticks had six, 873 ms in all). The hosts freeze what survived into
the permanent generation (``gc.freeze``): at start, after a full collection, and then at most
every ``GC_FREEZE_EVERY_NS``, between dispatch cycles, right after a collection of the young
generations. One policy per process (the collector is per process; the GIL orders the calls).
"""

from __future__ import annotations

import gc

#: how often what survived the young collections is frozen out of the full ones (``GcPolicy``)
GC_FREEZE_EVERY_NS = 1_000_000_000


class GcPolicy:
    """The process's collector, as the hosts keep it (module docstring): young collection and
    ``gc.freeze`` at the first host's start and at most every ``every_ns`` after (``due``,
    called between dispatch cycles by every host of the process; the collector is per process,
    the GIL orders the calls). What is frozen is never walked by a collection again; the price
    is that a reference cycle that reached the oldest generation and became garbage before a
    freeze is not freed while frozen (the engine's order and combo records are freed by
    reference counting: they hold no cycles); a host's stop unfreezes everything (``stop``) and
    a host's start collects everything before it freezes (``start``), so what a stopped host or
    an earlier launch of the process left is freed."""

    def __init__(self, every_ns: int = GC_FREEZE_EVERY_NS) -> None:
        self.every_ns = every_ns
        self.next_ns = 0  #: 0: not frozen yet
        self.freezes = 0

    def due(self, now_ns: int) -> None:
        """Freeze the survivors if ``every_ns`` passed since the last freeze (or never)."""
        if now_ns >= self.next_ns:
            self.freeze(now_ns)

    def start(self, now_ns: int) -> None:
        """A host starts: a full collection when nothing is frozen yet or a host stopped since
        (start-up, not the hot path: what an earlier host or launch of this process left is
        freed, its sockets' finalizers run), then freeze. The other hosts of a node starting
        right after pay a young collection only: a full one walks everything the process holds
        (~30 ms for a hot standby's replayed state, at its take-over)."""
        if not self.next_ns:
            gc.collect()
        self.freeze(now_ns)

    def stop(self) -> None:
        """A host stops: unfreeze everything, so the cycles it (and what was frozen with it)
        leaves behind are collected again; the next ``due`` freezes the survivors anew."""
        gc.unfreeze()
        self.next_ns = 0

    def freeze(self, now_ns: int) -> None:
        """Collect the young generations, then freeze every survivor (the freeze itself is
        O(1): the generations' lists are moved, nothing is walked)."""
        gc.collect(1)
        gc.freeze()
        self.freezes += 1
        self.next_ns = now_ns + self.every_ns


#: the process's one policy (every host calls it; see ``GcPolicy``)
GC_POLICY = GcPolicy()


__all__ = ["GC_FREEZE_EVERY_NS", "GC_POLICY", "GcPolicy"]
