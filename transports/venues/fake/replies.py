"""Which answer goes to which waiting request of ``FakeCore.request``; pure bookkeeping around
asyncio futures (the core decides when, these decide to whom).

Two kinds of request, two ways of answering, neither able to hand one request's answer to
another:

- Orders (``new``, ``cancel``) go through the simulator; its replies carry the client id, not
  the request, so ``Replies`` matches them: a reply goes to a waiting request of its client id
  that can take it (a ``cancel`` takes one ``done`` or ``cancel_reject``; a ``new`` takes an
  ``ack`` or ``reject`` first, then ``fill``s and one ``done``), preferring the request the
  simulator processed at the reply's ``ts`` (every immediate reply is stamped with the time its
  request was processed: arrival + one-way latency), else the oldest. A request is answered
  by everything of one batch.
- Reads (``query``, ``open_orders``, ``trades``, ``positions``) are answered by the venue
  itself, each read on its own (``reads.py``), so concurrent reads of one account cannot be
  mis-matched whatever the simulator's batching, and a read whose answer was lost leaves
  nothing behind.
"""

from __future__ import annotations

import asyncio

import msgspec

from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Fill,
    NewOrder,
    Reject,
)

Key = tuple[str, str, str]  # venue, account, client id


class Waiter:
    """One order request waiting for its replies (``fut`` resolves to them). ``due_ns``: when
    the simulator is expected to process it; ``lost``: the ``lose_reply`` switch hit it (it
    takes its replies so no other request gets them, but is never answered)."""

    __slots__ = ("due_ns", "fut", "kind", "lost", "msgs")

    def __init__(self, kind: str, due_ns: int, lost: bool = False) -> None:
        self.kind, self.due_ns, self.lost = kind, due_ns, lost
        self.fut: asyncio.Future[list[msgspec.Struct]] = asyncio.get_running_loop().create_future()
        self.msgs: list[msgspec.Struct] = []

    def accepts(self, msg: msgspec.Struct) -> bool:
        """True when ``msg`` can (still) be part of this request's answer."""
        if self.kind == "cancel":
            return not self.msgs and isinstance(msg, Done | CancelReject)
        if any(isinstance(m, Reject | Done) for m in self.msgs):
            return False  # the answer is complete
        if isinstance(msg, Ack | Reject):
            return not self.msgs
        return isinstance(msg, Fill | Done)


class Replies:
    """The waiting order requests of every (venue, account, client id)."""

    def __init__(self) -> None:
        self._waiters: dict[Key, list[Waiter]] = {}
        self._batch: list[tuple[Key, Waiter]] = []

    def expect(self, venue: str, account: str, req: NewOrder | CancelReq, due_ns: int,
               lost: bool = False) -> tuple[Key, Waiter]:
        """Register an order request about to be sent (processed at ``due_ns``)."""
        key = (venue, account, req.cl)
        w = Waiter("new" if isinstance(req, NewOrder) else "cancel", due_ns, lost)
        self._waiters.setdefault(key, []).append(w)
        return key, w

    def offer(self, venue: str, account: str, msg: msgspec.Struct) -> None:
        """One reply of the current batch (replies without a client id are nobody's answer)."""
        cl = getattr(msg, "cl", None)
        q = self._waiters.get((venue, account, cl)) if isinstance(cl, str) else None
        if not q:
            return
        ts = getattr(msg, "ts", None)
        # a reply is never stamped before its request was processed (e.g. a maker fill of an
        # earlier order of this client id is no answer to a new request of it)
        able = [w for w in q if w.accepts(msg) and (ts is None or ts >= w.due_ns)]
        if not able:
            return  # nobody's answer: the private stream has it
        w = next((w for w in able if w.due_ns == ts), able[0])
        w.msgs.append(msg)
        key = (venue, account, cl)
        if (key, w) not in self._batch:
            self._batch.append((key, w))

    def settle(self) -> None:
        """End of a batch: every request that got replies is answered (a lost one only stops
        waiting for more)."""
        for key, w in self._batch:
            self.forget(key, w)
            if not w.lost and not w.fut.done():
                w.fut.set_result(w.msgs)
        self._batch = []

    def forget(self, key: Key, w: Waiter) -> None:
        """Stop waiting (answered, timed out or abandoned)."""
        q = self._waiters.get(key)
        if q and w in q:
            q.remove(w)
        if not q:
            self._waiters.pop(key, None)

    def waiting(self) -> int:
        """How many order requests wait (0 once every request is answered or gave up)."""
        return sum(len(q) for q in self._waiters.values())


__all__ = ["Key", "Replies", "Waiter"]
