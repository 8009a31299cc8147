"""Which of the simulator's oe replies answer which waiting request (``FakeCore.request``).

A ``new``, ``cancel`` or ``query`` is answered by the replies carrying its client id that come
out of the simulator in one batch (``ack``/``reject`` with the immediate ``fill``s and
``done``; ``done``/``cancel_reject``; ``status``), given to the oldest waiting request of that
client id that such a reply can answer. List requests (``open_orders``, ``trades``,
``positions``) are answered in order. Pure bookkeeping around asyncio futures.
"""

from __future__ import annotations

import asyncio
from collections import deque

import msgspec

from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Fill,
    NewOrder,
    OpenOrders,
    OrderStatus,
    Positions,
    QueryReq,
    Reject,
    Trades,
)

Key = tuple[str, str, str]  # venue, account, "cl:<cl>" or the list request's name
_LISTS = {OpenOrders: "open_orders", Trades: "trades", Positions: "positions"}
_LIST_REQ = {"OpenOrdersReq": "open_orders", "TradesReq": "trades", "PositionsReq": "positions"}
_ANSWERS: dict[str, tuple[type, ...]] = {"new": (Ack, Reject, Fill, Done),
                                         "cancel": (Done, CancelReject), "query": (OrderStatus,)}


class Waiter:
    """One request waiting for its replies (``fut`` resolves to them)."""

    __slots__ = ("fut", "kind", "msgs")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fut: asyncio.Future[list[msgspec.Struct]] = asyncio.get_running_loop().create_future()
        self.msgs: list[msgspec.Struct] = []

    def accepts(self, msg: msgspec.Struct) -> bool:
        """True when ``msg`` can answer this request."""
        return isinstance(msg, _ANSWERS.get(self.kind, ()))


class Replies:
    """The waiting requests of every (venue, account)."""

    def __init__(self) -> None:
        self._waiters: dict[Key, deque[Waiter]] = {}
        self._batch: list[tuple[Key, Waiter]] = []

    def expect(self, venue: str, account: str, req: msgspec.Struct) -> tuple[Key, Waiter]:
        """Register a request about to be sent."""
        if isinstance(req, NewOrder | CancelReq | QueryReq):
            kind = {NewOrder: "new", CancelReq: "cancel", QueryReq: "query"}[type(req)]
            key = (venue, account, f"cl:{req.cl}")
        else:
            kind = _LIST_REQ.get(type(req).__name__, "other")
            key = (venue, account, kind)
        w = Waiter(kind)
        self._waiters.setdefault(key, deque()).append(w)
        return key, w

    def offer(self, venue: str, account: str, msg: msgspec.Struct) -> None:
        """One reply of the current batch."""
        cl = getattr(msg, "cl", None)
        key = (venue, account, f"cl:{cl}" if cl is not None else _LISTS.get(type(msg), ""))
        q = self._waiters.get(key)
        if not q:
            return
        if cl is None:  # list replies answer their requests in order
            w = q[0]
            if w.msgs:
                return
            w.msgs.append(msg)
            self._batch.append((key, w))
            return
        for w in q:  # the oldest request of this cl that this reply can answer
            if w.accepts(msg):
                w.msgs.append(msg)
                if (key, w) not in self._batch:
                    self._batch.append((key, w))
                return

    def settle(self) -> None:
        """End of a batch: every request that got replies is answered."""
        for key, w in self._batch:
            self.forget(key, w)
            if not w.fut.done():
                w.fut.set_result(w.msgs)
        self._batch = []

    def forget(self, key: Key, w: Waiter) -> None:
        """Stop waiting (answered, or timed out)."""
        q = self._waiters.get(key)
        if q and w in q:
            q.remove(w)
        if not q:
            self._waiters.pop(key, None)


__all__ = ["Key", "Replies", "Waiter"]
