"""The ``orders`` and ``fills`` tables of a journal's audit index (a helper object that
``scripts.audit.extract.JournalIndex`` holds and routes the order items to).

An order's row comes from the ``NewOrder`` frame its executor sent; its state, cumulative
quantity and average price from what the venue answered (``ack``, ``fill``, ``done``,
``reject``, a query's ``OrderStatus``, a reconciliation's ``Trades``) and from the executor's
own definitive rejects. Each venue trade counts once, by (venue, trade id), whichever report
brought it first -- the LegExecutor's dedupe (``LiveOrder.trade_ids``). Separate from the index
because these are the rules that must match the executor's own accounting (an audit that
counts a repeated fill report twice would accuse the engine of a fill it never had), while the
index keeps the routing and the combo, risk, feed and decision tables. The rows and what
finds them (by client order id, by trade id) live here; the index reads them through
``orders``/``fills``/``order``, and hands in the one thing of its own these rules write to:
``note``, its per-combo event list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from transports.wire.messages import ExecReport, LegOrder
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    Done,
    Fill,
    FillRecord,
    NewOrder,
    OrderStatus,
    Reject,
    Trades,
)


def cl_parts(cl: str) -> tuple[int, int, int] | None:
    """Split ``epoch.combo.leg.attempt`` into (combo, leg, attempt)."""
    p = cl.split(".")
    if len(p) != 4:
        return None
    try:
        return int(p[1]), int(p[2]), int(p[3])
    except ValueError:
        return None


def venue_of(actor: str) -> str:
    """The venue of an executor's name or address (``leg.shfe`` -> ``shfe``)."""
    return actor.split(".", 1)[1] if "." in actor else actor


class OrderTables:
    """Orders and their fills, from the executors' sends and the venues' reports."""

    def __init__(self, note: Callable[..., None]) -> None:
        """``note(combo_id, record, ts_ns, kind, **detail)`` adds an event to a combo's list
        (``JournalIndex.events``)."""
        self._note = note
        self.orders: list[dict[str, Any]] = []  #: one row per ``NewOrder`` sent
        self.fills: list[dict[str, Any]] = []  #: one row per distinct venue trade
        self._order_by_cl: dict[str, dict[str, Any]] = {}
        #: (combo, leg, attempt) -> the purpose of the ``LegOrder`` (its ``NewOrder``'s row)
        self._purposes: dict[tuple[int, int, int], str] = {}
        self._tids: set[tuple[str, str]] = set()  #: (venue, trade id) of every fill row

    def order(self, cl: str) -> dict[str, Any] | None:
        """The row of the order with client order id ``cl``, if it was sent."""
        return self._order_by_cl.get(cl)

    def leg_order(self, m: LegOrder) -> None:
        """A ``LegOrder`` to an executor: its purpose goes on the row of the order it sends."""
        self._purposes[(m.combo_id, m.leg, m.attempt)] = m.purpose

    def new_order(self, rec: int, ts: int, dest: str, m: NewOrder) -> None:
        """A ``NewOrder`` an executor sent to venue address ``dest``: the order's row."""
        parts = cl_parts(m.cl) or (-1, -1, -1)
        row = {
            "record": rec,
            "ts_ns": ts,
            "venue": venue_of(dest.split("@")[0]),
            "cl": m.cl,
            "combo_id": parts[0],
            "leg": parts[1],
            "attempt": parts[2],
            "purpose": self._purposes.get(parts, ""),
            "sym": m.sym,
            "side": m.side,
            "px": m.px,
            "qty": m.qty,
            "tif": m.tif,
            "ack_ts_ns": 0,
            "venue_ack_ts_ns": 0,
            "state": "sent",
            "cum_qty": 0,
            "avg_px": 0.0,
            "done_ts_ns": 0,
            "reject_reason": "",
        }
        self.orders.append(row)
        self._order_by_cl[m.cl] = row
        self._note(
            parts[0],
            rec,
            ts,
            "send",
            cl=m.cl,
            leg=parts[1],
            attempt=parts[2],
            venue=row["venue"],
            side=m.side,
            qty=m.qty,
            px=m.px,
        )

    def venue_report(self, rec: int, ts: int, dest: str, m: Any) -> None:
        """A venue's order-entry report to executor ``dest``: the order's state and fills."""
        cl = getattr(m, "cl", "")
        o = self._order_by_cl.get(cl)
        cid = o["combo_id"] if o else (cl_parts(cl) or (-1,))[0]
        kind = type(m).__name__.lower()
        if isinstance(m, Ack) and o is not None and not o["ack_ts_ns"]:
            o["ack_ts_ns"], o["venue_ack_ts_ns"] = ts, m.ts
        elif isinstance(m, Fill):
            self._fill(rec, ts, venue_of(dest), cl, m.oid, m.tid, m.px, m.qty, m.ts, m.fee, m.liq,
                       "fill", o, m.fee_ccy)
        elif isinstance(m, Trades):
            # a reconciliation's reply: the trades of our orders we lacked (deduplicated)
            for f in m.list:
                fo = self._order_by_cl.get(f.cl)
                if fo is not None:
                    self._status_fill(rec, ts, venue_of(dest), f, "trades", fo)
            return
        elif isinstance(m, OrderStatus) and o is not None and m.state != "unknown":
            # a query's answer: its fills (deduplicated) and the state the venue knows
            for f in m.fills:
                self._status_fill(rec, ts, venue_of(dest), f, "status", o)
            if m.state in ("filled", "canceled", "expired") and not o["done_ts_ns"]:
                o["state"], o["done_ts_ns"] = m.state, ts
            elif m.state == "rejected" and not o["done_ts_ns"]:
                o["state"], o["done_ts_ns"] = "rejected", ts
                o["reject_reason"] = o["reject_reason"] or "status:rejected"
        elif isinstance(m, Done) and o is not None:
            o["state"], o["done_ts_ns"] = m.state, ts
        elif isinstance(m, Reject) and o is not None:
            o["state"], o["done_ts_ns"] = "rejected", ts
            o["reject_reason"] = f"{m.code}:{m.reason}"
        elif not isinstance(m, Ack | CancelReject | OrderStatus):
            return
        detail = {k: v for k, v in msgspec.structs.asdict(m).items() if k not in ("cl", "fills")}
        self._note(
            cid,
            rec,
            ts,
            f"venue_{kind}",
            cl=cl,
            venue_ts_ns=getattr(m, "ts", 0),
            **{k: v for k, v in detail.items() if k != "ts"},
        )

    def _status_fill(self, rec: int, ts: int, venue: str, f: FillRecord, source: str,
                     o: dict[str, Any]) -> None:
        self._fill(rec, ts, venue, f.cl, f.oid, f.tid, f.px, f.qty, f.ts, f.fee, f.liq, source,
                   o)

    def _fill(self, rec: int, ts: int, venue: str, cl: str, oid: str, tid: str, px: int,
              qty: int, venue_ts: int, fee: float, liq: str, source: str,
              o: dict[str, Any] | None, fee_ccy: str = "") -> None:
        """One trade, the first time its (venue, trade id) is seen: a row, and the order's
        cumulative quantity and average price (the executor's dedupe: ``LiveOrder.trade_ids``)."""
        key = (venue, tid)
        if key in self._tids:
            return
        self._tids.add(key)
        cid = o["combo_id"] if o else (cl_parts(cl) or (-1,))[0]
        self.fills.append(
            {
                "record": rec,
                "ts_ns": ts,
                "venue_ts_ns": venue_ts,
                "venue": venue,
                "cl": cl,
                "oid": oid,
                "tid": tid,
                "combo_id": cid,
                "leg": o["leg"] if o else -1,
                "attempt": o["attempt"] if o else -1,
                "sym": o["sym"] if o else "",
                "side": o["side"] if o else "",
                "px": px,
                "qty": qty,
                "fee": fee,
                #: the fee's currency when the venue said it is not the instrument's (protocol
                #: v2 ``fill.fee_ccy``); "" = the instrument's (the contract's ``ccy``)
                "fee_ccy": fee_ccy,
                "liq": liq,
                "source": source,
            }
        )
        if o is not None:
            n = o["cum_qty"] + qty
            o["avg_px"] = (o["avg_px"] * o["cum_qty"] + px * qty) / n if n else 0.0
            o["cum_qty"] = n

    def exec_report(self, r: ExecReport) -> None:
        """The executor's definitive rejects the venue never sent (``inferred`` from its "not
        found" answers, a local one): the order's state as the engine holds it."""
        o = self._order_by_cl.get(r.cl)
        if o is None or r.kind != "rejected" or o["done_ts_ns"]:
            return
        o["state"], o["done_ts_ns"] = "rejected", r.ts_recv_ns
        o["reject_reason"] = r.reason


__all__ = ["OrderTables", "cl_parts", "venue_of"]
