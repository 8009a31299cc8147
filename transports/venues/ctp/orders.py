"""CTP order reports -> protocol reports (pure: no API calls, no clock reads).

``OrderTracker`` keeps every order of the account by ``cl`` and turns the CTP callbacks
(fields duck-typed: the real ``CThostFtdc*Field`` objects or anything with their attributes)
into the protocol's ``ack``/``fill``/``done``/``reject``/``cancel_reject``:

* ``ack`` once the exchange's OrderSysID is known (``oid`` = ``"<ExchangeID>:<OrderSysID>"``).
* ``fill`` per ``OnRtnTrade``, deduped by (ExchangeID, TradeID) — the private topic replays
  the day's trades after a reconnect (resume mode), and those are dropped here.
* ``done`` when the order is final AND every lot CTP says traded has arrived as a fill: CTP
  often sends the final ``OnRtnOrder`` before the ``OnRtnTrade`` that completed it, and after
  a cancel a fill can still arrive (the cancel race); ``done.cum`` must count every fill.
* ``reject`` for ``OnRspOrderInsert``/``OnErrRtnOrderInsert`` (code from the ErrorID, once per
  order even though CTP sends both) and for an order the exchange refused (status canceled,
  submit status InsertRejected).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from transports.venues.ctp import offsets as off
from transports.venues.ctp.clmap import ClMap
from transports.venues.ctp.md import to_ticks
from transports.venues.ctp.time import trade_time_ns
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    Done,
    Fill,
    FillRecord,
    OpenOrderRecord,
    OrderStatus,
    Reject,
)

MAX_REASON = 200


@dataclass
class Order:
    """One order as the gateway knows it."""

    cl: str
    sym: str
    side: str
    px: int
    qty: int
    tif: str
    offset: str
    exchange: str = ""
    sys_id: str = ""
    state: str = "new"
    traded: int = 0  #: VolumeTraded as CTP last said
    acked: bool = False
    closed: bool = False  #: done or reject sent
    fills: list[FillRecord] = field(default_factory=list)

    @property
    def oid(self) -> str:
        """The protocol's venue order id."""
        return f"{self.exchange}:{self.sys_id}" if self.sys_id else ""

    @property
    def cum(self) -> int:
        """Lots filled as reported by fills."""
        return sum(f.qty for f in self.fills)


def _text(msg: Any) -> str:
    return str(msg or "")[:MAX_REASON]


class OrderTracker:
    """Every order of one account, and the reports they produce."""

    def __init__(self, clmap: ClMap, ticks: dict[str, Decimal],
                 fee_of: Callable[[str, str, float, int], float]) -> None:
        self.clmap, self.ticks, self.fee_of = clmap, ticks, fee_of
        self.orders: dict[str, Order] = {}
        self.seen_tids: set[tuple[str, str]] = set()
        self.duplicate_trades = 0
        self.unknown_reports = 0
        self.front, self.session = 0, 0
        for cl, rec in clmap.by_cl.items():  # orders of earlier sessions: replays find them
            if "sym" in rec:
                self.orders[cl] = Order(cl, rec["sym"], rec["side"], rec["px"], rec["qty"],
                                        rec["tif"], rec.get("offset", ""),
                                        exchange=rec.get("ex", ""), sys_id=rec.get("sys", ""))

    # --- lookup ------------------------------------------------------------------------------

    def _cl_of(self, f: Any) -> str | None:
        sys_id = str(getattr(f, "OrderSysID", "") or "").strip()
        ex = getattr(f, "ExchangeID", "")
        if sys_id:
            cl = self.clmap.cl_of_sys(ex, sys_id)
            if cl is not None:
                return cl
        front = getattr(f, "FrontID", self.front) or self.front
        session = getattr(f, "SessionID", self.session) or self.session
        return self.clmap.cl_of_ref(front, session, str(getattr(f, "OrderRef", "")))

    # --- new orders --------------------------------------------------------------------------

    def add(self, o: Order) -> None:
        """An order about to be sent (its cl map entry is already durable)."""
        self.orders[o.cl] = o

    def send_failed(self, cl: str, kind: str, code: str, reason: str, ts: int) -> list[Any]:
        """``ReqOrderInsert`` returned non-zero: throttled is a definitive reject (the request
        did not leave); a network failure is unknown (nothing sent: the engine queries)."""
        o = self.orders.get(cl)
        if o is None:
            return []
        if kind != "throttled":
            o.state = "unknown"  # a query says so until a report shows where it went
            return []
        o.state, o.closed = "rejected", True
        return [Reject(cl=cl, code=code, reason=reason, ts=ts,
                       retry_ms=off.THROTTLE_RETRY_MS)]

    def on_insert_error(self, f: Any, error_id: int, error_msg: Any, ts: int) -> list[Any]:
        """``OnRspOrderInsert`` / ``OnErrRtnOrderInsert`` with a non-zero ErrorID."""
        cl = self._cl_of(f)
        o = self.orders.get(cl) if cl else None
        if o is None:
            self.unknown_reports += 1
            return []
        if o.closed:
            return []  # CTP sends both callbacks for one refusal
        kind, code = off.classify(error_id)
        o.state, o.closed = "rejected", True
        retry = off.THROTTLE_RETRY_MS if kind == "throttled" else 0
        return [Reject(cl=cl, code=code if kind != "not_found" else f"ctp_{error_id}",
                       reason=f"CTP {error_id}: {_text(error_msg)}"[:MAX_REASON], ts=ts,
                       retry_ms=retry)]

    # --- order and trade reports -------------------------------------------------------------

    def on_order(self, f: Any, ts: int) -> list[Any]:
        """``OnRtnOrder``: ack, reject or (when every traded lot has arrived) done."""
        cl = self._cl_of(f)
        o = self.orders.get(cl) if cl else None
        if o is None:
            self.unknown_reports += 1  # an order of another client of the account
            return []
        out: list[Any] = []
        sys_id = str(f.OrderSysID or "").strip()
        if sys_id and not o.sys_id:
            o.exchange, o.sys_id = f.ExchangeID, sys_id
            self.clmap.put_sys(o.cl, f.ExchangeID, sys_id)
        o.traded = max(o.traded, int(f.VolumeTraded))
        state = off.order_state(f.OrderStatus, f.OrderSubmitStatus, o.traded, o.tif)
        if o.closed:
            return out
        if state == "rejected":
            o.state, o.closed = "rejected", True
            return [Reject(cl=o.cl, code="exchange_rejected",
                           reason=_text(f.StatusMsg) or "rejected by the exchange", ts=ts)]
        if o.sys_id and not o.acked:
            o.acked = True
            out.append(Ack(cl=o.cl, oid=o.oid, ts=ts))
        o.state = state
        out += self._maybe_done(o, ts)
        return out

    def on_trade(self, f: Any, recv_ns: int) -> list[Any]:
        """``OnRtnTrade``: a fill (dropped when its (ExchangeID, TradeID) was seen)."""
        key = (f.ExchangeID, str(f.TradeID).strip())
        if key in self.seen_tids:
            self.duplicate_trades += 1
            return []
        cl = self._cl_of(f)
        o = self.orders.get(cl) if cl else None
        if o is None:
            self.unknown_reports += 1
            return []
        self.seen_tids.add(key)
        if not o.sys_id and str(f.OrderSysID).strip():
            o.exchange, o.sys_id = f.ExchangeID, str(f.OrderSysID).strip()
            self.clmap.put_sys(o.cl, o.exchange, o.sys_id)
        px = to_ticks(f.Price, self.ticks[o.sym])
        qty = int(f.Volume)
        ts = trade_time_ns(f.ExchangeID, f.TradeDate, f.TradeTime, recv_ns)
        offset = off.CTP_TO_OFFSET.get(f.OffsetFlag, "open")
        fee = self.fee_of(o.sym, offset, float(f.Price), qty)
        tid = f"{f.ExchangeID}:{key[1]}"
        o.fills.append(FillRecord(cl=o.cl, oid=o.oid, tid=tid, px=px, qty=qty, ts=ts,
                                  fee=fee, sym=o.sym, side=o.side))
        o.traded = max(o.traded, o.cum)
        out: list[Any] = []
        if not o.acked and o.sys_id and not o.closed:
            o.acked = True
            out.append(Ack(cl=o.cl, oid=o.oid, ts=ts))
        out.append(Fill(cl=o.cl, oid=o.oid, tid=tid, px=px, qty=qty, ts=ts, fee=fee))
        if o.state in ("new", "partial") or o.state == "filled":
            o.state = "filled" if o.cum >= o.qty else "partial"
        out += self._maybe_done(o, recv_ns)
        return out

    def _maybe_done(self, o: Order, ts: int) -> list[Any]:
        if o.closed or not off.is_final(o.state) or o.cum < o.traded:
            return []
        if o.state == "filled" and o.cum < o.qty:
            return []
        o.closed = True
        return [Done(cl=o.cl, oid=o.oid, state=o.state, cum=o.cum, ts=ts)]  # type: ignore[arg-type]

    # --- cancels -----------------------------------------------------------------------------

    def cancel_target(self, cl: str, ts: int) -> Order | CancelReject:
        """The order a cancel acts on, or the cancel_reject to send at once."""
        o = self.orders.get(cl)
        if o is None or o.state == "rejected":
            return CancelReject(cl=cl, code="unknown_order", reason="no such order", ts=ts)
        if o.closed or off.is_final(o.state):
            return CancelReject(cl=cl, code="not_open", reason=f"order is {o.state}", ts=ts)
        return o

    def on_action_error(self, f: Any, error_id: int, error_msg: Any, ts: int) -> list[Any]:
        """``OnRspOrderAction`` / ``OnErrRtnOrderAction`` with a non-zero ErrorID."""
        cl = self._cl_of(f)
        if cl is None:
            self.unknown_reports += 1
            return []
        kind, code = off.classify(error_id)
        return [CancelReject(cl=cl, code=code, ts=ts,
                             reason=f"CTP {error_id}: {_text(error_msg)}"[:MAX_REASON],
                             retry_ms=off.THROTTLE_RETRY_MS if kind == "throttled" else 0)]

    # --- queries -----------------------------------------------------------------------------

    def status(self, cl: str) -> OrderStatus:
        """Reply to ``query``."""
        o = self.orders.get(cl)
        if o is None:
            return OrderStatus(cl=cl, state="unknown")
        state = o.state if (o.state != "filled" or o.cum >= o.qty) else "partial"
        leaves = 0 if off.is_final(state) else o.qty - o.cum
        return OrderStatus(cl=cl, state=state, oid=o.oid, cum=o.cum,  # type: ignore[arg-type]
                           leaves=leaves, fills=list(o.fills))

    def open_orders(self) -> list[OpenOrderRecord]:
        """Orders not closed."""
        return [OpenOrderRecord(cl=o.cl, oid=o.oid, sym=o.sym, side=o.side, px=o.px, qty=o.qty,
                                cum=o.cum, tif=o.tif)
                for o in self.orders.values()
                if not o.closed and o.state != "unknown" and not off.is_final(o.state)]

    def trades(self, since_ns: int) -> list[FillRecord]:
        """Fills at or after ``since_ns``."""
        return sorted((f for o in self.orders.values() for f in o.fills if f.ts >= since_ns),
                      key=lambda f: f.ts)


__all__ = ["Order", "OrderTracker"]
