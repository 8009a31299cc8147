"""Orders through ib-async: ``new``/``cancel`` -> ``placeOrder``/``cancelOrder``, and IB's
``orderStatus``/``execDetails``/``commissionReport`` events -> ``ack``/``fill``/``done``/
``reject``.

The engine's ``cl`` travels as ``orderRef``. ``oid`` is IB's ``orderId`` (known before the
order is sent, so ack, fills and done agree); the ``permId`` is kept in the durable map.

**Fees.** IB sends the commission of an execution in a separate ``commissionReport`` after its
``execDetails``. The protocol has no fee correction, so each fill is HELD up to
``commission_wait_ms`` for its commission: it goes out with the fee as soon as the report
comes, else at the deadline with fee 0. A commission that arrives after its fill went out is
logged, counted (``late_fees``) and kept: every later ``status``/``trades`` answer carries it in
the FillRecord, so reconciliation sees it (the engine dedupes the fill by ``tid`` and does not
book it twice, so such a fee is missing from risk's PnL until docs/venues/ib.md's follow-up).
Reports of one order leave in order: a held fill holds the order's later ``done`` too.

**Fencing.** A ``new`` or ``cancel`` whose ``epoch`` is older than the highest the account has
sent is refused first with ``fenced`` (``fence.EpochFence``, durable beside the order map):
no ``placeOrder`` / ``cancelOrder``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from transports.config.gateways import IbVenueConfig
from transports.venues.fence import FENCED, EpochFence
from transports.venues.ib.clmap import ClMap, Entry
from transports.venues.ib.contracts import Scale
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Fill,
    FillRecord,
    NewOrder,
    OrderStatus,
    Reject,
)

ACK_STATES = frozenset({"PreSubmitted", "Submitted"})
CLOSED_STATES = frozenset({"Cancelled", "ApiCancelled", "Inactive"})


@dataclass
class Order:
    """One engine order as the gateway reports it."""

    cl: str
    oid: str
    sym: str
    side: str
    qty: int
    acked: bool = False
    closed: bool = False
    state: str = "new"
    cum: int = 0
    fills: dict[str, FillRecord] = field(default_factory=dict)
    outbox: deque[tuple[int, Any]] = field(default_factory=deque)  # (not after ns, msg)


class IbOrders:
    """Order entry and report mapping for one IB account (``send`` reaches the engine)."""

    def __init__(self, ib: Any, cfg: IbVenueConfig, scales: dict[str, Scale],
                 contracts: dict[str, Any], clmap: ClMap, send: Callable[[Any], None],
                 now_ns: Callable[[], int], ccy: dict[str, str], *,
                 fence: EpochFence | None = None, account: str = "") -> None:
        self.ib, self.cfg, self.scales, self.contracts = ib, cfg, scales, contracts
        self.clmap, self.send, self.now_ns, self.ccy = clmap, send, now_ns, ccy
        self.by_con = {s.con_id: sym for sym, s in scales.items()}
        self.orders: dict[str, Order] = {}
        self.seen_tids: set[str] = set()
        self.fees: dict[str, tuple[float, str]] = {}  # execId -> (commission, currency)
        self.session_up = True
        self.late_fees = 0
        self.duplicate_fills = 0
        self.hold_ns = cfg.commission_wait_ms * 1_000_000
        #: the highest fencing epoch, keyed by the engine account this gateway serves
        self.fence = fence if fence is not None else EpochFence()
        self.fence_key = account or cfg.account

    def wire(self) -> None:
        """Subscribe to the IB object's events."""
        self.ib.orderStatusEvent += self.on_status
        self.ib.execDetailsEvent += self.on_exec
        self.ib.commissionReportEvent += self.on_commission

    # --- engine requests ----------------------------------------------------------------------

    def _tif(self, tif: str) -> tuple[str, bool]:
        if tif == "FOK":
            return ("IOC", True) if self.cfg.fok == "IOC_AON" else ("FOK", False)
        return ("IOC", False) if tif == "IOC" else (self.cfg.gtc_tif, False)

    def on_new(self, req: NewOrder) -> None:
        """Place ``req`` (or reject it at once with a reason)."""
        from ib_async import LimitOrder

        now = self.now_ns()

        def rej(code: str, why: str) -> None:
            self.send(Reject(cl=req.cl, code=code, reason=why, ts=now))
        fenced = self.fence.check(self.fence_key, req.epoch)
        if fenced:  # a deposed engine: never placed, nothing recorded
            return rej(FENCED, fenced)
        if req.cl in self.orders or req.cl in self.clmap.by_cl:
            return rej("duplicate_cl", f"client id {req.cl} already used")
        scale = self.scales.get(req.sym)
        if scale is None:
            return rej("unknown_symbol", f"no contract {req.sym!r}")
        if req.qty <= 0 or req.px <= 0:
            return rej("bad_qty" if req.qty <= 0 else "bad_price", "qty and px must be > 0")
        if not self.session_up or not self.ib.isConnected():
            return rej("session_down", "not connected to TWS")
        tif, aon = self._tif(req.tif)
        order = LimitOrder("BUY" if req.side == "B" else "SELL", req.qty,
                           scale.to_price(req.px), tif=tif, orderRef=req.cl,
                           account=self.cfg.account, allOrNone=aon, transmit=True)
        try:
            order.orderId = self.ib.client.getReqId()
        except ConnectionError as exc:
            return rej("session_down", str(exc))
        # durable first: a crash after placeOrder must still find the order by its id
        self.clmap.record(Entry(req.cl, order.orderId, req.sym, req.side, req.px, req.qty,
                                req.tif))
        self.orders[req.cl] = Order(req.cl, str(order.orderId), req.sym, req.side, req.qty)
        try:
            self.ib.placeOrder(self.contracts[req.sym], order)
        except ConnectionError as exc:  # raised before anything was written to the socket
            self.orders[req.cl].closed = True
            self.orders[req.cl].state = "rejected"
            rej("session_down", str(exc))

    def on_cancel(self, req: CancelReq) -> None:
        """Cancel ``req.cl``: ``done canceled`` follows from IB, or ``cancel_reject`` now."""
        from ib_async import Order as IbOrder

        now = self.now_ns()
        fenced = self.fence.check(self.fence_key, req.epoch)
        if fenced:
            self.send(CancelReject(cl=req.cl, code=FENCED, reason=fenced, ts=now))
            return
        o, e = self.orders.get(req.cl), self.clmap.by_cl.get(req.cl)
        if e is None:
            self.send(CancelReject(cl=req.cl, code="unknown_order", reason="no such order",
                                   ts=now))
            return
        if o is not None and o.closed:
            self.send(CancelReject(cl=req.cl, code="not_open", reason=f"order is {o.state}",
                                   ts=now))
            return
        trade = self._trade(req.cl)
        try:
            if trade is not None:
                self.ib.cancelOrder(trade.order)
            else:  # placed before a restart: cancel by its id (same API client id)
                self.ib.cancelOrder(IbOrder(orderId=e.order_id, clientId=self.cfg.client_id))
        except ConnectionError as exc:
            self.send(CancelReject(cl=req.cl, code="session_down", reason=str(exc), ts=now))

    def _trade(self, cl: str) -> Any:
        for t in self.ib.trades():
            if t.order.orderRef == cl:
                return t
        return None

    # --- IB events ------------------------------------------------------------------------------

    def _order_of(self, order_ref: str, order_id: int, perm_id: int) -> Order | None:
        cl = self.clmap.cl_of(order_ref, order_id, perm_id)
        if cl is None:
            return None
        o = self.orders.get(cl)
        if o is None:  # placed before a restart: rebuild from the durable map
            e = self.clmap.by_cl[cl]
            o = self.orders[cl] = Order(cl, str(e.order_id), e.sym, e.side, e.qty)
        if perm_id:
            self.clmap.record_perm(cl, perm_id)
        return o

    def on_status(self, trade: Any) -> None:
        """``orderStatusEvent``: ack on (Pre)Submitted, done or reject when closed."""
        st = trade.orderStatus
        o = self._order_of(trade.order.orderRef, trade.order.orderId,
                           st.permId or trade.order.permId)
        if o is None or o.closed:
            return
        now = self.now_ns()
        if st.status in ACK_STATES and not o.acked:
            o.acked = True
            self._queue(o, now, Ack(cl=o.cl, oid=o.oid, ts=now))
        elif st.status == "Filled":
            o.closed, o.state = True, "filled"
            self._queue(o, now + self.hold_ns,
                        Done(cl=o.cl, oid=o.oid, state="filled", cum=_lots(st.filled), ts=now))
        elif st.status in CLOSED_STATES:
            code, why = _last_error(trade)
            cum = max(_lots(st.filled), o.cum)
            o.closed = True
            if cum == 0 and not o.acked:
                o.state = "rejected"
                self._queue(o, now, Reject(cl=o.cl, code=f"ib_{code}" if code else "rejected",
                                           reason=why or st.status, ts=now))
            else:
                o.state = "canceled"
                self._queue(o, now + self.hold_ns,
                            Done(cl=o.cl, oid=o.oid, state="canceled", cum=cum, ts=now))
        self.flush(now)

    def on_exec(self, trade: Any, fill: Any) -> None:
        """``execDetailsEvent``: one fill, held for its commission (dropped if seen)."""
        ex = fill.execution
        if ex.execId in self.seen_tids:
            self.duplicate_fills += 1
            logger.info("ib: duplicate execution {} dropped", ex.execId)
            return
        o = self._order_of(ex.orderRef, ex.orderId, ex.permId)
        if o is None:
            return
        rec = self.record(o.cl, o.oid, o.sym, fill)
        if rec is None:
            return
        self.seen_tids.add(ex.execId)
        o.fills[ex.execId] = rec
        o.cum += rec.qty
        now = self.now_ns()
        self._queue(o, 0 if ex.execId in self.fees else now + self.hold_ns, ex.execId)
        self.flush(now)

    def record(self, cl: str, oid: str, sym: str, fill: Any) -> FillRecord | None:
        """One IB fill as a FillRecord (fee from its commission report, if known yet)."""
        ex = fill.execution
        px = self.scales[sym].to_ticks(ex.price)
        if px is None:
            logger.error("ib: fill {} price {} off tick: not reported", ex.execId, ex.price)
            return None
        rep = fill.commissionReport
        if rep is not None and rep.execId == ex.execId and ex.execId not in self.fees:
            self.fees[ex.execId] = (rep.commission, rep.currency)
        fee = self.fees.get(ex.execId, (0.0, ""))[0]
        return FillRecord(cl=cl, oid=oid, tid=ex.execId, px=px, qty=_lots(ex.shares),
                          ts=_ns(ex.time), liq="M" if ex.lastLiquidity == 1 else "T",
                          fee=fee, sym=sym, side="B" if ex.side == "BOT" else "S")

    def on_commission(self, trade: Any, fill: Any, report: Any) -> None:
        """``commissionReportEvent``: the fee of an execution; releases its held fill."""
        tid = report.execId
        self.fees[tid] = (report.commission, report.currency)
        o = self._order_of(fill.execution.orderRef, fill.execution.orderId,
                           fill.execution.permId)
        if o is None or tid not in o.fills:
            return
        o.fills[tid] = _with_fee(o.fills[tid], report.commission)
        if any(m == tid for _, m in o.outbox):
            o.outbox = deque((0, m) if m == tid else (d, m) for d, m in o.outbox)
        else:
            self.late_fees += 1
            logger.warning("ib: commission {} {} of {} came after its fill was sent",
                           report.commission, report.currency, tid)
        self.flush(self.now_ns())

    # --- the per-order outbox -------------------------------------------------------------------

    def _queue(self, o: Order, not_after_ns: int, msg: Any) -> None:
        o.outbox.append((not_after_ns, msg))

    def flush(self, now_ns: int) -> None:
        """Send every order's reports that are ready: a fill once its fee is known or its hold
        is over; a done once the fills it counts were sent or its hold is over."""
        for o in self.orders.values():
            while o.outbox:
                due, msg = o.outbox[0]
                if isinstance(msg, str):  # a held fill, by execId
                    if due and now_ns < due:
                        break
                    self.send(self._fill_msg(o, msg))
                elif isinstance(msg, Done) and now_ns < due and o.cum < msg.cum:
                    break
                else:
                    self.send(msg)
                o.outbox.popleft()

    def _fill_msg(self, o: Order, tid: str) -> Fill:
        r = o.fills[tid]
        fee, ccy = self.fees.get(tid, (0.0, ""))
        return Fill(cl=r.cl, oid=r.oid, tid=tid, px=r.px, qty=r.qty, ts=r.ts, liq=r.liq,
                    fee=fee, fee_ccy=ccy if ccy and ccy != self.ccy.get(o.sym) else "")

    def status(self, cl: str) -> OrderStatus:
        """Answer ``query`` from what this gateway has seen (``unknown`` if nothing)."""
        o = self.orders.get(cl)
        if o is None:
            return OrderStatus(cl=cl, state="unknown")
        fills = [_with_fee(r, self.fees.get(t, (r.fee, ""))[0]) for t, r in o.fills.items()]
        state = o.state if o.closed else "partial" if o.cum else "new"
        if not o.acked and not o.closed and not o.cum:
            return OrderStatus(cl=cl, state="unknown")  # not yet confirmed by TWS
        return OrderStatus(cl=cl, state=state, oid=o.oid, cum=o.cum,  # type: ignore[arg-type]
                           leaves=0 if o.closed else max(o.qty - o.cum, 0), fills=fills)


def _with_fee(r: FillRecord, fee: float) -> FillRecord:
    return FillRecord(cl=r.cl, oid=r.oid, tid=r.tid, px=r.px, qty=r.qty, ts=r.ts, liq=r.liq,
                      fee=fee, sym=r.sym, side=r.side)


def _lots(x: Any) -> int:
    v = float(x)
    return round(v) if math.isfinite(v) else 0


def _ns(t: Any) -> int:
    return int(t.timestamp() * 1_000_000) * 1000 if t is not None else 0


def _last_error(trade: Any) -> tuple[int, str]:
    for entry in reversed(trade.log):
        if entry.errorCode:
            return entry.errorCode, entry.message
    return 0, ""


__all__ = ["IbOrders", "Order"]
