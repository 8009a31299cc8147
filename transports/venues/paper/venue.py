"""The paper venue: the order-entry side of the protocol around the fill model.

Pure logic, time passed in. ``request`` takes one decoded oe request of an account (the DEALER
identity) at ``now``. ``new`` and ``cancel`` wait one ``latency_us``: they are processed by
``advance`` at ``arrival + latency`` against the book as it is then, and their reports carry that
time; the other requests (query, open_orders, trades, positions, balances, ping) are answered at
once from the venue's state. ``on_book`` is called after every change of a source book and fills
the resting orders it reaches. Reports pile up in ``out`` as ``(account, message)``.

Reject codes: ``unknown_symbol``; ``bad_qty`` (qty <= 0 or below the instrument's ``min_qty``);
``qty_above_max``; ``bad_price`` (px <= 0 ticks: prices travel as integer ticks, so this is
the only off-tick price the wire can carry); ``duplicate_cl`` (the account used that ``cl``
before, open or closed; counted in ``duplicate_client_ids``); ``session_closed`` (the source
says the symbol is not ``open``); ``no_market_data`` (the source book is resyncing or stale:
there is nothing to fill against); ``insufficient_balance`` (spot: the account cannot pay for
a buy at its limit with the taker fee, or deliver a sell, beside what its open orders hold);
``reduce_only`` (a reduce-only order that would not reduce the position); ``fenced`` (an
``epoch`` older than the highest seen from that account).
Cancel-reject codes as the simulator's: ``unknown_order``, ``not_open``.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

import msgspec

from transports.config.gateways import PaperVenueConfig
from transports.venues.fence import FENCED, EpochFence
from transports.venues.paper.book import LevelChange, SourceBook
from transports.venues.paper.ledger import Ledger, PaperTruth, Spec
from transports.venues.paper.matcher import Execution, FillModel, PaperOrder
from transports.wire.venue_msgs import (
    Ack,
    Balances,
    BalancesReq,
    CancelReject,
    CancelReq,
    Done,
    Error,
    Fill,
    NewOrder,
    OpenOrderRecord,
    OpenOrders,
    OpenOrdersReq,
    OrderStatus,
    Ping,
    Pong,
    Positions,
    PositionsReq,
    QueryReq,
    Reject,
    Trades,
    TradesReq,
)

_RECONCILE = {OpenOrdersReq: "open_orders", TradesReq: "trades", PositionsReq: "positions",
              BalancesReq: "balances"}


class PaperVenue:
    """Orders, latency and reports of one paper venue over the source's books."""

    def __init__(self, name: str, specs: dict[str, Spec], books: Mapping[str, SourceBook],
                 cfg: PaperVenueConfig, *, id_prefix: str,
                 truth: PaperTruth | None = None) -> None:
        self.name = name
        self.specs = specs
        self.books = books
        self.latency_ns = cfg.latency_us * 1000
        self.model = FillModel(books, cfg.queue_ahead)
        self.truth = truth if truth is not None else PaperTruth(name)
        self.ledger = Ledger(name, specs, taker_bps=cfg.taker_bps, maker_bps=cfg.maker_bps,
                             balances=dict(cfg.balances), truth=self.truth)
        self.prefix = id_prefix
        self.orders: dict[tuple[str, str], PaperOrder] = {}  #: (account, cl) -> the order
        self.used: set[tuple[str, str]] = set()
        self.fence = EpochFence()  #: account -> highest fencing epoch seen (in memory)
        self.session: dict[str, str] = dict.fromkeys(specs, "open")
        self.out: list[tuple[str, msgspec.Struct]] = []
        self._pending: list[tuple[int, int, str, msgspec.Struct]] = []
        self._n = self._oid = self._tid = 0

    # --- inputs ---------------------------------------------------------------------------------

    def request(self, now: int, account: str, req: msgspec.Struct) -> None:
        """One oe request of ``account`` arrived at ``now``."""
        if isinstance(req, NewOrder | CancelReq):
            self._n += 1
            heapq.heappush(self._pending, (now + self.latency_ns, self._n, account, req))
            return
        tag = _RECONCILE.get(type(req))
        if tag is not None:
            self.truth.requests.append({"ts": now, "venue": self.name, "account": account,
                                        "t": tag})
        self.out.append((account, self._answer(now, account, req)))

    def next_due(self) -> int | None:
        """When the next delayed request is due (None: nothing waits)."""
        return self._pending[0][0] if self._pending else None

    def advance(self, now: int) -> None:
        """Process every new and cancel due at or before ``now``, each at its due time."""
        while self._pending and self._pending[0][0] <= now:
            due, _, account, req = heapq.heappop(self._pending)
            if isinstance(req, NewOrder):
                self._new(due, account, req)
            else:
                assert isinstance(req, CancelReq)
                self._cancel(due, account, req)

    def on_book(self, now: int, sym: str, changes: list[LevelChange]) -> None:
        """The source book of ``sym`` changed (and is synced): fill what it reaches."""
        self._report(now, self.model.on_changes(sym, changes))

    # --- answers at once ------------------------------------------------------------------------

    def _answer(self, now: int, account: str, req: msgspec.Struct) -> msgspec.Struct:
        if isinstance(req, QueryReq):
            return self.status(account, req.cl)
        if isinstance(req, OpenOrdersReq):
            return OpenOrders(list=[
                OpenOrderRecord(o.cl, o.oid, o.sym, o.side, o.px, o.qty, o.cum, o.tif)
                for (acct, _), o in self.orders.items() if acct == account and o.is_open])
        if isinstance(req, TradesReq):
            return Trades(list=self.ledger.fills_since(account, req.since))
        if isinstance(req, PositionsReq):
            return Positions(list=self.ledger.positions(account))
        if isinstance(req, BalancesReq):
            return Balances(list=self.ledger.balances(account))
        if isinstance(req, Ping):
            return Pong(ts=now, echo=req.ts)
        return Error(code="unsupported", msg=type(req).__name__)

    def status(self, account: str, cl: str) -> OrderStatus:
        """The ``query`` answer: the order's state and every fill (``unknown`` if never seen;
        an order still inside its latency has not arrived yet)."""
        o = self.orders.get((account, cl))
        if o is None:
            return OrderStatus(cl=cl, state="unknown")
        return OrderStatus(cl=cl, state=o.state, oid=o.oid, cum=o.cum, leaves=o.leaves,  # type: ignore[arg-type]
                           fills=list(o.fills))

    # --- new orders -----------------------------------------------------------------------------

    def _reject(self, now: int, account: str, cl: str, code: str, reason: str) -> None:
        self.truth.count("rejects")
        self.out.append((account, Reject(cl=cl, code=code, reason=reason, ts=now)))

    def _check(self, m: NewOrder, account: str) -> tuple[str, str] | None:
        s = self.specs.get(m.sym)
        if s is None:
            return "unknown_symbol", f"{self.name} has no symbol {m.sym!r}"
        if m.qty <= 0 or m.qty < s.min_qty:
            return "bad_qty", f"qty must be >= {max(1, s.min_qty)} lots, got {m.qty}"
        if m.qty > s.max_qty:
            return "qty_above_max", f"qty {m.qty} above max {s.max_qty}"
        if m.px <= 0:
            return "bad_price", f"px must be > 0 ticks, got {m.px}"
        state = self.session.get(m.sym, "open")
        if state != "open":
            return "session_closed", f"{m.sym} session is {state}"
        if not self.books[m.sym].synced:
            return "no_market_data", f"the source book of {m.sym} is not current"
        if s.cash_settled:
            short = self._unfunded(account, m, s)
            if short:
                return "insufficient_balance", short
        if m.reduce_only:
            pos = next((p.qty for p in self.ledger.positions(account) if p.sym == m.sym), 0)
            reduces = (pos > 0 and m.side == "S") or (pos < 0 and m.side == "B")
            if not reduces or m.qty > abs(pos):
                return "reduce_only", f"would not reduce the position of {pos} lots"
        return None

    def _unfunded(self, account: str, m: NewOrder, s: Spec) -> str:
        """Spot: what the account lacks to pay for a buy (at its limit, with the taker fee) or
        deliver a sell, after what its open orders hold; "" when it has enough."""
        held = 0.0
        for (acct, _), o in self.orders.items():
            if acct == account and o.is_open and o.side == m.side:
                so = self.specs[o.sym]
                if so.cash_settled and (so.ccy if m.side == "B" else so.base) == (
                        s.ccy if m.side == "B" else s.base):
                    held += (o.leaves * o.px * so.value_per_tick_lot if m.side == "B"
                             else o.leaves * float(so.lot))
        if m.side == "B":
            ccy = s.ccy
            need = m.qty * m.px * s.value_per_tick_lot * (1 + self.ledger.taker_bps / 1e4)
        else:
            ccy, need = s.base, m.qty * float(s.lot)
        have = self.ledger.total(account, ccy) - held
        return "" if need <= have + 1e-12 else f"needs {need:.10g} {ccy}, has {have:.10g}"

    def _new(self, now: int, account: str, m: NewOrder) -> None:
        self.truth.orders.append({"ts": now, "venue": self.name, "account": account,
                                  "cl": m.cl, "sym": m.sym, "side": m.side, "px": m.px,
                                  "qty": m.qty, "tif": m.tif})
        self.truth.count("orders")
        fenced = self.fence.check(account, m.epoch)
        if fenced:
            self._reject(now, account, m.cl, FENCED, fenced)
            return
        key = (account, m.cl)
        if key in self.used:  # never a second order under one cl: the first keeps its record
            self.truth.count("duplicate_client_ids")
            prev = self.orders.get(key)
            why = "client order id is open" if prev is not None and prev.is_open else \
                "client order id was used"
            self._reject(now, account, m.cl, "duplicate_cl", why)
            return
        self.used.add(key)
        bad = self._check(m, account)
        if bad is not None:
            self.orders[key] = PaperOrder("", account, m.cl, m.sym, m.side, m.px, m.qty, m.tif,
                                          now, state="rejected")
            self._reject(now, account, m.cl, *bad)
            return
        self._oid += 1
        o = PaperOrder(f"{self.prefix}-{self._oid}", account, m.cl, m.sym, m.side, m.px, m.qty,
                       m.tif, now)
        self.orders[key] = o
        self.out.append((account, Ack(cl=m.cl, oid=o.oid, ts=now)))
        self._report(now, self.model.take(o))
        if o.is_open:
            if o.tif == "GTC":
                self.model.rest(o)
            else:  # IOC / FOK remainder: closed with what it got
                o.state = "canceled"
                self._done(now, o)

    def _cancel(self, now: int, account: str, m: CancelReq) -> None:
        fenced = self.fence.check(account, m.epoch)
        if fenced:
            self._cancel_reject(now, account, m.cl, FENCED, fenced)
            return
        o = self.orders.get((account, m.cl))
        if o is None or not o.oid:
            reason = "no such order" if o is None else "order was rejected"
            self._cancel_reject(now, account, m.cl, "unknown_order", reason)
            return
        if not o.is_open:
            self._cancel_reject(now, account, m.cl, "not_open", f"order is {o.state}")
            return
        self.model.remove(o)
        o.state = "canceled"
        self.truth.count("cancels")
        self._done(now, o)

    def _cancel_reject(self, now: int, account: str, cl: str, code: str, reason: str) -> None:
        self.truth.count("cancel_rejects")
        self.out.append((account, CancelReject(cl=cl, code=code, reason=reason, ts=now)))

    # --- reports --------------------------------------------------------------------------------

    def _report(self, now: int, execs: list[Execution]) -> None:
        for ex in execs:
            o = ex.order
            self._tid += 1
            tid = f"{self.prefix}-t{self._tid}"
            rec = self.ledger.fill(now=now, account=o.account, cl=o.cl, oid=o.oid, sym=o.sym,
                                   side=o.side, px=ex.px, qty=ex.qty, liq=ex.liq, tid=tid)
            o.fills.append(rec)
            self.out.append((o.account, Fill(cl=o.cl, oid=o.oid, tid=tid, px=ex.px, qty=ex.qty,
                                             ts=now, liq=ex.liq, fee=rec.fee)))  # type: ignore[arg-type]
            if o.state == "filled" and sum(f.qty for f in o.fills) == o.qty:
                self._done(now, o)

    def _done(self, now: int, o: PaperOrder) -> None:
        self.out.append((o.account, Done(cl=o.cl, oid=o.oid, state=o.state, cum=o.cum,  # type: ignore[arg-type]
                                         ts=now)))

    def take_out(self) -> list[tuple[str, msgspec.Struct]]:
        """The reports queued so far (the queue is emptied)."""
        out, self.out = self.out, []
        return out

    def truth_dict(self, now: int) -> dict[str, Any]:
        """The record so far, ``meta.end_ns`` set to ``now``."""
        self.truth.meta["end_ns"] = now
        return self.truth.to_dict()


__all__ = ["PaperVenue"]
