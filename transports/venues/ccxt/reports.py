"""ccxt orders and trades -> protocol reports for one account (pure: no I/O, time passed in).

The ``Tracker`` keeps every order the gateway placed (or learned of) by the engine's ``cl`` and
turns what the exchange says about them -- ccxt unified ``Order`` dicts (the REST reply to
``create_order``, ``watch_orders`` updates, ``fetch_order``) and ``Trade`` dicts
(``watch_my_trades``, ``fetch_my_trades``, a reply's ``trades``) -- into ``ack``, ``fill``,
``done`` and ``reject`` exactly as the protocol wants them:

- ``ack`` once, on the first sign of the exchange's order id (not for a rejected order);
- one ``fill`` per trade id, whichever source told it first (sources overlap: a reconnect's
  catch-up re-reads trades the stream already gave);
- ``done`` once, when the exchange says the order is closed, and only after the fills it counts
  were reported (the order update and its trade come on different streams): a ``done`` whose
  fills are missing waits up to ``done_wait_ns``, then goes anyway (the engine queries);
- ``reject`` only for what the exchange itself refused.

A trade whose order is not known yet (its ``create_order`` reply still on the way, and the
trade without a client id) is held by order id until the order is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from transports.venues.ccxt.units import OffStep, Scale, to_decimal
from transports.wire.venue_msgs import Ack, Done, Fill, FillRecord, OrderStatus, Reject

DONE_WAIT_NS = 300_000_000  #: how long a ``done`` waits for its fills before it goes anyway
MAX_HELD = 10_000  #: trades held for orders not known yet (oldest dropped beyond)
_CLIENT_ID_KEYS = ("c", "clOrdId", "orderLinkId", "clientOrderId")
_CLOSED = {"closed": "filled", "canceled": "canceled", "expired": "expired"}


def client_id_of(d: Mapping[str, Any]) -> str:
    """The exchange client id of a ccxt order or trade (unified key, else the raw message's)."""
    x = d.get("clientOrderId")
    if x:
        return str(x)
    info = d.get("info")
    if isinstance(info, Mapping):
        inner = info.get("o")  # Binance futures: the order is under "o"
        for src in (info, inner if isinstance(inner, Mapping) else {}):
            for k in _CLIENT_ID_KEYS:
                v = src.get(k)
                if v:
                    return str(v)
    return ""


def ms_to_ns(ms: Any, default_ns: int) -> int:
    """A ccxt millisecond timestamp as ns (``default_ns`` when missing)."""
    return int(ms) * 1_000_000 if isinstance(ms, int | float) and ms > 0 else default_ns


@dataclass
class LiveOrder:
    """One order as the gateway knows it; quantities in lots, prices in ticks."""

    cl: str
    xid: str
    sym: str
    side: str
    px: int
    qty: int
    tif: str = "GTC"
    oid: str = ""
    acked: bool = False
    fills: dict[str, FillRecord] = field(default_factory=dict)
    cum: int = 0  #: lots of the fills reported
    closed: str = ""  #: the exchange's final state: filled/canceled/expired (done pending/sent)
    closed_cum: int = 0  #: the exchange's filled lots at close
    done_due_ns: int = 0  #: a pending done goes at this time even without its fills
    done_sent: bool = False
    rejected: bool = False

    def state(self) -> str:
        """The order's state for a ``query`` reply."""
        if self.rejected:
            return "rejected"
        if self.closed:
            return self.closed
        if not self.oid:
            return "unknown"
        return "partial" if self.cum else "new"


class Tracker:
    """Every order of one account, and the reports their exchange events become.

    ``scales`` maps protocol symbols to their ``Scale``; ``sym_of`` maps a ccxt unified symbol
    to the protocol symbol; ``engine_id`` maps an exchange client id to the engine's ``cl``
    (``None``: not ours).
    """

    def __init__(self, scales: Mapping[str, Scale], sym_of: Mapping[str, str],
                 engine_id: Callable[[str], str | None], fee_ccy: Mapping[str, str],
                 done_wait_ns: int = DONE_WAIT_NS) -> None:
        self.scales, self.sym_of, self.engine_id = scales, sym_of, engine_id
        self.fee_ccy = fee_ccy
        self.done_wait_ns = done_wait_ns
        self.orders: dict[str, LiveOrder] = {}
        self.by_oid: dict[str, str] = {}
        self.held: dict[str, list[Mapping[str, Any]]] = {}
        self.n_held = 0
        self.counters = {"acks": 0, "fills": 0, "dup_fills": 0, "dones": 0, "rejects": 0,
                         "late_dones": 0, "off_step": 0, "foreign": 0}

    # --- orders the gateway places ------------------------------------------------------------

    def add(self, o: LiveOrder) -> None:
        """Track an order about to be sent."""
        self.orders[o.cl] = o

    def forget(self, cl: str) -> None:
        """Drop a tracked order (its request made no order; events for the id adopt anew)."""
        o = self.orders.pop(cl, None)
        if o is not None and o.oid:
            self.by_oid.pop(o.oid, None)

    def reject(self, cl: str, code: str, reason: str, now_ns: int,
               retry_ms: int = 0) -> list[Any]:
        """The exchange refused the order definitively."""
        o = self.orders.get(cl)
        if o is not None:
            if o.cum or o.acked:  # it traded or exists after all: never reject that
                logger.warning("{}: refusal {} for an order that exists; not rejected", cl, code)
                return []
            o.rejected = True
        self.counters["rejects"] += 1
        return [Reject(cl=cl, code=code, reason=reason, ts=now_ns, retry_ms=retry_ms)]

    # --- exchange events ----------------------------------------------------------------------

    def resolve(self, d: Mapping[str, Any]) -> LiveOrder | None:
        """The tracked order a ccxt order/trade dict belongs to, adopting one of ours that this
        gateway did not place (a restart's) when the dict says enough to track it."""
        is_trade = "order" in d  # a ccxt trade has "order" (its order id); an order has not
        oid = str(d.get("order") or "") if is_trade else str(d.get("id") or "")
        cl = self.by_oid.get(oid) if oid else None
        if cl is None:
            xid = client_id_of(d)
            cl = self.engine_id(xid) if xid else None
        if cl is None:
            return None
        o = self.orders.get(cl)
        if o is None and not is_trade:  # an order dict says enough to adopt it
            o = self._adopt(cl, d)
        if o is not None and oid and not o.oid:
            o.oid = oid
            self.by_oid[oid] = cl
        return o

    def _adopt(self, cl: str, d: Mapping[str, Any]) -> LiveOrder | None:
        sym = self.sym_of.get(str(d.get("symbol") or ""))
        if sym is None:
            return None
        sc = self.scales[sym]
        try:
            px = sc.price_to_ticks(d["price"]) if d.get("price") else 0
            qty = sc.amount_to_lots(d["amount"]) if d.get("amount") else 0
        except OffStep:
            self.counters["off_step"] += 1
            return None
        o = LiveOrder(cl=cl, xid=client_id_of(d), sym=sym,
                      side="B" if d.get("side") == "buy" else "S", px=px, qty=qty,
                      tif=str(d.get("timeInForce") or "GTC"))
        self.orders[cl] = o
        return o

    def on_order(self, d: Mapping[str, Any], now_ns: int) -> list[Any]:
        """A ccxt order dict (create reply, stream update, fetch): ack, then done when closed."""
        o = self.resolve(d)
        if o is None:
            self.counters["foreign"] += 1
            return []
        out: list[Any] = []
        status = d.get("status")
        ts = ms_to_ns(d.get("lastUpdateTimestamp") or d.get("timestamp"), now_ns)
        if status == "rejected":
            if not o.acked and not o.cum:
                return self.reject(o.cl, "exchange_reject", "rejected by the exchange", now_ns)
            status = "canceled"  # a late refusal of an order that exists: it is closed
        if o.oid and not o.acked and not o.rejected:
            o.acked = True
            self.counters["acks"] += 1
            out.append(Ack(cl=o.cl, oid=o.oid, ts=ts))
        for t in d.get("trades") or ():
            if isinstance(t, Mapping) and t.get("id") is not None:
                out += self.on_trade({**t, "order": t.get("order") or o.oid}, now_ns)
        out += self._drain_held(o, now_ns)
        final = _CLOSED.get(str(status))
        if final and not o.closed:
            try:
                filled = self.scales[o.sym].amount_to_lots(d.get("filled") or 0)
            except OffStep:
                self.counters["off_step"] += 1
                filled = o.cum
            o.closed, o.closed_cum = final, filled
            o.done_due_ns = now_ns + self.done_wait_ns
        out += self._maybe_done(o, now_ns)
        return out

    def on_trade(self, t: Mapping[str, Any], now_ns: int) -> list[Any]:
        """A ccxt trade dict: one ``fill`` per trade id (duplicates dropped)."""
        tid = t.get("id")
        if tid is None:
            return []
        o = self.resolve(t)
        if o is None:
            oid = str(t.get("order") or "")
            if oid and self.n_held < MAX_HELD:  # its order may be learned later: hold it
                self.held.setdefault(oid, []).append(t)
                self.n_held += 1
            else:
                self.counters["foreign"] += 1
            return []
        return self._fill(o, t, now_ns)

    def _fill(self, o: LiveOrder, t: Mapping[str, Any], now_ns: int) -> list[Any]:
        tid = str(t["id"])
        if tid in o.fills:
            self.counters["dup_fills"] += 1
            return []
        sc = self.scales[o.sym]
        try:
            px = sc.price_to_ticks(t["price"])
            qty = sc.amount_to_lots(t["amount"])
        except (OffStep, KeyError, TypeError):
            self.counters["off_step"] += 1
            logger.error("{}: trade {} off the tick/lot grid: {} x {}", o.cl, tid, t.get("price"),
                         t.get("amount"))
            return []
        fee = t.get("fee") or {}
        cost = float(to_decimal(fee.get("cost") or 0))
        fccy = str(fee.get("currency") or "")
        rec = FillRecord(cl=o.cl, oid=o.oid or str(t.get("order") or ""), tid=tid, px=px,
                         qty=qty, ts=ms_to_ns(t.get("timestamp"), now_ns),
                         liq="M" if t.get("takerOrMaker") == "maker" else "T", fee=cost,
                         sym=o.sym, side=o.side)
        o.fills[tid] = rec
        o.cum += qty
        self.counters["fills"] += 1
        own_ccy = self.fee_ccy.get(o.sym, "")
        out: list[Any] = [Fill(cl=rec.cl, oid=rec.oid, tid=tid, px=px, qty=qty, ts=rec.ts,
                               liq=rec.liq, fee=cost,
                               fee_ccy=fccy if fccy and fccy != own_ccy else "")]
        return out + self._maybe_done(o, now_ns)

    def _drain_held(self, o: LiveOrder, now_ns: int) -> list[Any]:
        if not o.oid or o.oid not in self.held:
            return []
        out: list[Any] = []
        for t in self.held.pop(o.oid):
            self.n_held -= 1
            out += self._fill(o, t, now_ns)
        return out

    def _maybe_done(self, o: LiveOrder, now_ns: int) -> list[Any]:
        if not o.closed or o.done_sent or o.rejected:
            return []
        if o.cum < o.closed_cum and now_ns < o.done_due_ns:
            return []  # its fills are on the other stream: wait for them (bounded)
        if o.cum < o.closed_cum:
            self.counters["late_dones"] += 1
        o.done_sent = True
        self.counters["dones"] += 1
        return [Done(cl=o.cl, oid=o.oid, state=o.closed,  # type: ignore[arg-type]
                     cum=max(o.cum, o.closed_cum), ts=now_ns)]

    def sweep(self, now_ns: int) -> list[Any]:
        """``done``s whose fills did not come in time (the engine will query for them)."""
        out: list[Any] = []
        for o in self.orders.values():
            if o.closed and not o.done_sent and not o.rejected and now_ns >= o.done_due_ns:
                out += self._maybe_done(o, now_ns)
        return out

    def open_cls(self) -> list[str]:
        """Orders not known to be closed or rejected (the reconnect catch-up looks at these)."""
        return [o.cl for o in self.orders.values() if not o.closed and not o.rejected]

    def status(self, cl: str) -> OrderStatus:
        """The ``query`` reply from what the tracker knows."""
        o = self.orders.get(cl)
        if o is None or o.state() == "unknown":
            return OrderStatus(cl=cl, state="unknown")
        cum = max(o.cum, o.closed_cum)
        leaves = 0 if (o.closed or o.rejected) else max(0, o.qty - cum)
        return OrderStatus(cl=cl, state=o.state(), oid=o.oid, cum=cum,  # type: ignore[arg-type]
                           leaves=leaves, fills=list(o.fills.values()))

    def fills_of(self, cls: Iterable[str]) -> list[FillRecord]:
        """Every fill of the given orders."""
        return [f for cl in cls if cl in self.orders for f in self.orders[cl].fills.values()]


__all__ = ["DONE_WAIT_NS", "LiveOrder", "Tracker", "client_id_of", "ms_to_ns"]
