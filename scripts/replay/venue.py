"""The book fill model of what-if replays: orders filled against the recorded books.

An order sent at ``t`` reaches the venue at ``t + rtt/2`` and is matched there against the
replayed Book actor's levels at that moment (walking the levels up to its limit; IOC and GTC
leave no remainder, FOK fills completely or not at all); the venue's answers (``ack``, one
``fill`` per level, ``done``) reach the engine at ``t + rtt``. ``rtt`` is each venue's median
NewOrder -> Ack gap in the journal. Our orders do not move the recorded market (no impact, no
queue position), and liquidity taken by one order is there again for the next.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from typing import Any

from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Fill,
    FillRecord,
    NewOrder,
    OpenOrders,
    OpenOrdersReq,
    OrderStatus,
    Ping,
    Pong,
    PositionRecord,
    Positions,
    PositionsReq,
    QueryReq,
    Trades,
    TradesReq,
)

DEFAULT_RTT_NS = 1_000_000


def estimate_rtt(
    sends: Iterable[tuple[str, str, int]],
    acks: Iterable[tuple[str, str, int]],
    venues: Iterable[str],
    fallback: dict[str, int] | None = None,
) -> dict[str, int]:
    """Return venue -> median ns from a NewOrder ``(venue, cl, ts)`` to its Ack."""
    sent = {(v, cl): ts for v, cl, ts in sends}
    gaps: dict[str, list[int]] = {}
    for v, cl, ts in acks:
        t0 = sent.get((v, cl))
        if t0 is not None and ts >= t0:
            gaps.setdefault(v, []).append(ts - t0)
    fb = fallback or {}
    return {
        v: int(statistics.median(gaps[v])) if gaps.get(v) else fb.get(v, DEFAULT_RTT_NS)
        for v in venues
    }


class _Order:
    __slots__ = ("cum", "fills", "msg", "oid", "state")

    def __init__(self, msg: NewOrder, oid: str) -> None:
        self.msg, self.oid, self.cum = msg, oid, 0
        self.state = "new"
        self.fills: list[FillRecord] = []


class BookVenue:
    """One simulated venue account: matches against ``levels(sym)`` and records truth rows."""

    def __init__(
        self,
        venue: str,
        account: str,
        rtt_ns: int,
        fees: dict[str, float],
        levels: Callable[[str], tuple[list[tuple[int, int]], list[tuple[int, int]]] | None],
    ) -> None:
        self.venue, self.account, self.rtt_ns = venue, account, rtt_ns
        self.fees = fees  #: sym -> fee per lot
        self.levels = levels
        self.orders: dict[str, _Order] = {}
        self.truth_orders: list[dict[str, Any]] = []
        self.truth_fills: list[dict[str, Any]] = []
        self.duplicates = 0
        self._oid = self._tid = 0

    def arrive(self, msg: Any, ts: int) -> list[Any]:
        """The request reaches the venue at ``ts``; return the venue's answers (in order)."""
        if isinstance(msg, NewOrder):
            return self._new(msg, ts)
        if isinstance(msg, CancelReq):
            o = self.orders.get(msg.cl)
            code, why = (
                ("unknown_order", "no such order")
                if o is None
                else ("not_open", f"order is {o.state}")
            )
            return [CancelReject(cl=msg.cl, code=code, reason=why, ts=ts)]
        if isinstance(msg, QueryReq):
            o = self.orders.get(msg.cl)
            if o is None:
                return [OrderStatus(cl=msg.cl, state="unknown")]
            return [
                OrderStatus(
                    cl=msg.cl,
                    state=o.state,
                    oid=o.oid,  # type: ignore[arg-type]
                    cum=o.cum,
                    leaves=0,
                    fills=list(o.fills),
                )
            ]
        # IOC only: nothing ever rests, so there are no open orders to report
        if isinstance(msg, Ping):
            return [Pong(ts=ts, echo=msg.ts)]
        if isinstance(msg, OpenOrdersReq):
            return [OpenOrders(list=[])]
        if isinstance(msg, TradesReq):
            return [Trades(list=[f for o in self.orders.values() for f in o.fills
                                 if f.ts >= msg.since])]
        if isinstance(msg, PositionsReq):
            pos: dict[str, int] = {}
            for f in self.truth_fills:
                pos[f["sym"]] = pos.get(f["sym"], 0) + (f["qty"] if f["side"] == "B" else -f["qty"])
            return [Positions(list=[PositionRecord(sym=k, qty=v) for k, v in pos.items()])]
        return []

    def _new(self, m: NewOrder, ts: int) -> list[Any]:
        self.truth_orders.append(
            {
                "ts": ts,
                "venue": self.venue,
                "account": self.account,
                "cl": m.cl,
                "sym": m.sym,
                "side": m.side,
                "px": m.px,
                "qty": m.qty,
                "tif": m.tif,
            }
        )
        if m.cl in self.orders:
            self.duplicates += 1
        self._oid += 1
        o = _Order(m, f"{self.venue}-r{self._oid}")
        self.orders[m.cl] = o
        out: list[Any] = [Ack(cl=m.cl, oid=o.oid, ts=ts)]
        book = self.levels(m.sym)
        takes: list[tuple[int, int]] = []
        if book is not None:
            opp = book[1] if m.side == "B" else book[0]
            need = m.qty
            for px, qty in opp:
                if need <= 0 or (px > m.px if m.side == "B" else px < m.px):
                    break
                q = min(need, qty)
                takes.append((px, q))
                need -= q
            if m.tif == "FOK" and need > 0:
                takes = []
        for px, q in takes:
            self._tid += 1
            fee = round(self.fees.get(m.sym, 0.0) * q, 10)
            tid = f"{self.venue}-rt{self._tid}"
            o.cum += q
            o.fills.append(FillRecord(m.cl, o.oid, tid, px, q, ts, "T", fee, m.sym, m.side))
            self.truth_fills.append(
                {
                    "ts": ts,
                    "venue": self.venue,
                    "account": self.account,
                    "cl": m.cl,
                    "oid": o.oid,
                    "tid": tid,
                    "sym": m.sym,
                    "side": m.side,
                    "px": px,
                    "qty": q,
                    "fee": fee,
                    "liq": "T",
                }
            )
            out.append(Fill(cl=m.cl, oid=o.oid, tid=tid, px=px, qty=q, ts=ts, fee=fee))
        o.state = "filled" if o.cum >= m.qty else "canceled"
        out.append(
            Done(
                cl=m.cl,
                oid=o.oid,
                state=o.state,
                cum=o.cum,  # type: ignore[arg-type]
                ts=ts,
            )
        )
        return out


__all__ = ["BookVenue", "estimate_rtt"]
