"""Reads of a fake (``query``, ``open_orders``, ``trades``, ``positions``): each answered by the
simulator venue itself, on its own, on the simulator's timeline.

The simulator's replies to reads carry nothing that names their request, so matching them
back (as orders are matched by client id in ``replies.py``) cannot tell two concurrent reads
of one account apart. A read therefore never goes through the simulator's queue: it travels
like one (one-way latency to the venue, held while a ``stop`` freezes the venue, lost while the
venue's oe connection is down, its answer garbled or lost like any reply), and when it reaches
the venue the core (which has advanced the simulator to then, so the read sees every order
that arrived before it) asks the venue's own ``handle`` for the answer, which goes to that read
alone. The venue keeps its truth record of reconciliation requests as before.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

import msgspec

from transports.venues.sim.core import SimCore
from transports.wire.venue_msgs import OpenOrdersReq, PositionsReq, QueryReq, TradesReq

READS = (QueryReq, OpenOrdersReq, TradesReq, PositionsReq)  #: the requests answered here
NEVER = 2**63 - 1


class Read:
    """One read on its way: ``stage`` "in" (to the venue) or "out" (its answer ``msgs`` on the
    way back); ``fut`` resolves to the answer; ``lost``: the ``lose_reply`` switch hit it."""

    __slots__ = ("account", "fut", "lost", "msgs", "req", "stage", "venue")

    def __init__(self, venue: str, account: str, req: msgspec.Struct, lost: bool) -> None:
        self.venue, self.account, self.req, self.lost = venue, account, req, lost
        self.stage = "in"
        self.msgs: list[msgspec.Struct] = []
        self.fut: asyncio.Future[list[msgspec.Struct]] = asyncio.get_running_loop().create_future()


class Reads:
    """The reads in flight, by when each is due next (at the venue, or back)."""

    def __init__(self, sim: SimCore, wake: Callable[[], None]) -> None:
        self.sim, self._wake = sim, wake
        self._heap: list[tuple[int, int, Read]] = []
        self._n = itertools.count()

    async def ask(self, now: int, venue: str, account: str, req: msgspec.Struct, lost: bool,
                  timeout_s: float) -> list[msgspec.Struct]:
        """Send read ``req`` of ``account`` at ``now``; its answer, ``[]`` if none came within
        ``timeout_s`` (a requester that gives up leaves nothing waiting)."""
        inj = self.sim.faults[venue]
        read = Read(venue, account, req, lost)
        if inj.oe_down(now):  # as ``SimCore.request``: it never arrives
            inj.count("oe_disconnect_msgs", now, dir="in", t=type(req).__name__)
        else:
            self._push(now + self.sim.latency_ns(venue), read)
            self._wake()
        try:
            async with asyncio.timeout(timeout_s):
                return await read.fut
        except TimeoutError:
            return []

    def serve(self, now: int) -> None:
        """Answer the reads that reached their venue by ``now`` (call right after the
        simulator advanced to ``now``) and deliver the answers due by then."""
        for due, r in self._pop_due(now):  # what this serves again comes next call
            inj = self.sim.faults[r.venue]
            if r.stage == "in":
                until = inj.stopped_until(due)
                if until:  # the venue is frozen: the read waits, as the simulator's requests do
                    self._push(until, r)
                    continue
                v = self.sim.venues[r.venue]
                start = len(v.oe_out)
                v.handle(r.account, r.req, now)  # the venue's own answer (and truth record)
                r.msgs = [m for a, m in v.oe_out[start:] if a == r.account]
                del v.oe_out[start:]
                r.stage = "out"
                self._push(now + self.sim.latency_ns(r.venue), r)
            elif inj.oe_down(due):
                inj.count("oe_disconnect_msgs", due, dir="out", t=type(r.req).__name__)
            elif any(inj.garble(due, m, r.account) is not None for m in r.msgs):
                pass  # a garbled answer is refused by the receiver: no answer
            elif not r.lost and not r.fut.done():
                r.fut.set_result(r.msgs)

    def next_due(self) -> int:
        """When the next read is due (``NEVER`` if none is in flight)."""
        return self._heap[0][0] if self._heap else NEVER

    def __len__(self) -> int:
        return len(self._heap)

    def _push(self, due_ns: int, read: Read) -> None:
        heapq.heappush(self._heap, (due_ns, next(self._n), read))

    def _pop_due(self, now: int) -> list[tuple[int, Read]]:
        out = []
        while self._heap and self._heap[0][0] <= now:
            due, _, read = heapq.heappop(self._heap)
            out.append((due, read))
        return out


__all__ = ["NEVER", "READS", "Read", "Reads"]
