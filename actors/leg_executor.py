"""LegExecutor actor (one per venue account): pre-trade checks, client order ids, order states.

In: ``LegOrder`` and ``CancelLeg`` from the ComboExecutor (or risk), ``TradingState`` from the
RiskSupervisor, the venue's order-entry reports (``Ack``, ``Reject``, ``Fill``, ``Done``,
``CancelReject``, ``OrderStatus``) and its own ``Timer``\\s. Out: ``NewOrder``/``CancelReq``/
``QueryReq`` to ``@oe``, ``ExecReport`` to every name in ``report_to``, ``SetTimer`` to
``@timer`` and alarm ``Decision``\\s to the journal.

Money rules this core keeps:

- the client order id is ``f"{epoch}.{combo_id}.{leg}.{attempt}"`` and an id is used at most once,
  ever (a repeated ``LegOrder`` is denied ``duplicate_cl``, denied ids stay reserved);
- no ack, fill or done within ``request_timeout_ms`` makes the outcome *unknown* (a flag): the
  order is queried with backoff, never resent; ``unknown`` answers keep the flag, they are not a
  rejection; while any order is unknown only position-reducing orders pass (``venue_uncertain``);
- fills are deduped by trade id (one ExecReport ``fill`` per trade, ever), applied even when late
  or beyond the order quantity (alarmed), and drive the positions;
- an illegal transition is caught, counted and journaled as an alarm; a fill is never dropped.
"""

from __future__ import annotations

import json
from typing import Any

from actors.base import Core, Out
from actors.order_state import PENDING, FillResult, LiveOrder, OrderState
from transports.config import ContractConfig, RiskConfig
from transports.errors import IllegalTransition
from transports.messages import (
    CancelLeg,
    Decision,
    ExecReport,
    LegOrder,
    SetTimer,
    Timer,
    TradingState,
)
from transports.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Fill,
    NewOrder,
    OrderStatus,
    QueryReq,
    Reject,
)

_NS = 1_000_000
_TOKEN = 1_000_000_000  #: one order in the bucket's nano-token units
_COUNTERS = ("sent", "rejects", "fills", "duplicate_fills", "late_fills", "overfills",
             "illegal_transitions", "unknown_outcomes", "queries", "cancels", "cancel_rejects",
             "unknown_reports", "unresolved")


class LegExecutorCore(Core):
    """Pure order management for one venue account."""

    def __init__(self, name: str, venue: str, account: str,
                 contracts: dict[str, ContractConfig], epoch: int, risk: RiskConfig,
                 report_to: list[str], request_timeout_ms: int, *, journal: str = "journal",
                 max_queries: int = 10, max_query_interval_ms: int = 10_000) -> None:
        super().__init__(name)
        self.venue = venue
        self.account = account
        self.contracts = contracts  #: keyed by sym on this venue
        self.epoch = epoch
        self.risk = risk
        self.report_to = list(report_to)
        self.journal = journal
        self.timeout_ns = request_timeout_ms * _NS
        self.max_queries = max_queries
        self.max_query_interval_ns = max_query_interval_ms * _NS
        self.trading_state = "ACTIVE"
        self.orders: dict[str, LiveOrder] = {}
        self.positions: dict[str, int] = {}  #: signed lots per sym, from fills
        self.counters: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self.denied: dict[str, int] = {}
        self._open: dict[str, LiveOrder] = {}
        self._unknown: set[str] = set()
        # token bucket in nano-tokens: refills max_orders_per_s per second, bursts one second
        self._rate = risk.max_orders_per_s
        self._tokens = self._rate * _TOKEN
        self._refill_ns: int | None = None

    # --- helpers ---------------------------------------------------------------------------------

    def cl_for(self, combo_id: int, leg: int, attempt: int) -> str:
        """Return the deterministic client order id."""
        return f"{self.epoch}.{combo_id}.{leg}.{attempt}"

    def _sync(self, lo: LiveOrder) -> None:
        if lo.is_open:
            self._open[lo.cl] = lo
        else:
            self._open.pop(lo.cl, None)
        if lo.unknown:
            self._unknown.add(lo.cl)
        else:
            self._unknown.discard(lo.cl)

    def _alarm(self, kind: str, now_ns: int, **detail: Any) -> tuple[str, Decision]:
        detail = {"alarm": kind, "venue": self.venue, **detail}
        return (self.journal, Decision(self.name, "alarm", json.dumps(detail, sort_keys=True),
                                       now_ns))

    def _illegal(self, lo: LiveOrder, exc: IllegalTransition, now_ns: int) -> tuple[str, Decision]:
        self.counters["illegal_transitions"] += 1
        return self._alarm("illegal_transition", now_ns, cl=lo.cl, state=lo.state.value,
                           error=str(exc))

    def _reports(self, lo: LiveOrder, kind: str, now_ns: int, *, ts_event_ns: int = 0,
                 px: int | None = None, qty: int | None = None, cum: int | None = None,
                 fee: float = 0.0, trade_id: str = "", reason: str = "") -> Out:
        rep = ExecReport(self.venue, lo.cl, lo.combo_id, lo.leg, lo.attempt, lo.sym,
                         lo.side,  # type: ignore[arg-type]
                         kind,  # type: ignore[arg-type]
                         lo.state.value, lo.px_ticks if px is None else px,
                         lo.qty_lots if qty is None else qty,
                         lo.cum_lots if cum is None else cum, lo.leaves_lots, fee, trade_id,
                         reason, ts_event_ns or now_ns, now_ns)
        return [(dest, rep) for dest in self.report_to]

    def _lookup(self, cl: str, what: str, now_ns: int) -> tuple[LiveOrder | None, Out]:
        lo = self.orders.get(cl)
        if lo is None or lo.state is OrderState.DENIED:
            self.counters["unknown_reports"] += 1
            return None, [self._alarm("unknown_cl", now_ns, cl=cl, report=what)]
        return lo, []

    # --- pre-trade checks ------------------------------------------------------------------------

    def _reduces(self, o: LegOrder) -> bool:
        """True if the order can only bring this instrument's position closer to zero."""
        pos = self.positions.get(o.sym, 0)
        sign = 1 if o.side == "B" else -1
        if pos * sign >= 0:
            return False
        pending = sum(x.leaves_lots for x in self._open.values()
                      if x.sym == o.sym and x.side == o.side)
        return pending + o.qty_lots <= abs(pos)

    def _take_token(self, now_ns: int) -> bool:
        last = now_ns if self._refill_ns is None else self._refill_ns
        if now_ns > last:
            self._tokens = min(self._rate * _TOKEN, self._tokens + (now_ns - last) * self._rate)
        self._refill_ns = max(now_ns, last)
        if self._tokens < _TOKEN:
            return False
        self._tokens -= _TOKEN
        return True

    def _check(self, o: LegOrder, now_ns: int) -> str:
        """Return a denial reason code, or "" if the order may be sent."""
        if o.venue != self.venue:
            return "wrong_venue"
        c = self.contracts.get(o.sym)
        if c is None:
            return "unknown_instrument"
        if o.qty_lots <= 0:
            return "bad_qty"
        if self.trading_state == "HALTED":
            return "halted"
        reduces = self._reduces(o)
        if self.trading_state == "REDUCING" and not reduces:
            return "reducing"
        if self._unknown and not reduces:
            return "venue_uncertain"
        if o.qty_lots > c.max_lots_per_order:
            return "max_lots"
        pos = self.positions.get(o.sym, 0)
        sign = 1 if o.side == "B" else -1
        pending = sum(x.leaves_lots for x in self._open.values()
                      if x.sym == o.sym and x.side == o.side)
        worst = pos + sign * (pending + o.qty_lots)
        if abs(worst) > c.max_position_lots and abs(worst) > abs(pos):
            return "max_position"
        if not self._take_token(now_ns):
            return "rate_limit"
        return ""

    # --- orders in -------------------------------------------------------------------------------

    def on_leg_order(self, o: LegOrder, now_ns: int) -> Out:
        cl = self.cl_for(o.combo_id, o.leg, o.attempt)
        if cl in self.orders:
            # never send a cl twice; the existing order's record is left untouched
            self.denied["duplicate_cl"] = self.denied.get("duplicate_cl", 0) + 1
            dup = LiveOrder(cl, o.venue, o.sym, o.side, o.px_ticks, o.qty_lots, o.tif,
                            combo_id=o.combo_id, leg=o.leg, attempt=o.attempt, purpose=o.purpose)
            dup.deny("duplicate_cl")
            return [*self._reports(dup, "denied", now_ns, reason="duplicate_cl"),
                    self._alarm("duplicate_cl", now_ns, cl=cl)]
        lo = LiveOrder(cl, o.venue, o.sym, o.side, o.px_ticks, o.qty_lots, o.tif,
                       combo_id=o.combo_id, leg=o.leg, attempt=o.attempt, purpose=o.purpose,
                       created_ns=now_ns)
        self.orders[cl] = lo
        reason = self._check(o, now_ns)
        if reason:
            lo.deny(reason)
            self.denied[reason] = self.denied.get(reason, 0) + 1
            return self._reports(lo, "denied", now_ns, reason=reason)
        lo.submit(now_ns)
        self._sync(lo)
        self.counters["sent"] += 1
        new = NewOrder(cl=cl, sym=o.sym, side=o.side, px=o.px_ticks, qty=o.qty_lots, tif=o.tif,
                       ts=now_ns)
        # the "sent" report goes first so the journal holds the intent before the order leaves
        return [*self._reports(lo, "sent", now_ns, reason=o.purpose), ("@oe", new),
                ("@timer", SetTimer(f"ack:{cl}", now_ns + self.timeout_ns))]

    def _cancel(self, lo: LiveOrder, now_ns: int) -> Out:
        if not lo.is_open or lo.state is OrderState.PENDING_CANCEL:
            return []
        try:
            lo.request_cancel(now_ns)
        except IllegalTransition as exc:
            return [self._illegal(lo, exc, now_ns)]
        self.counters["cancels"] += 1
        return [("@oe", CancelReq(cl=lo.cl, ts=now_ns)),
                ("@timer", SetTimer(f"cxl:{lo.cl}", now_ns + self.timeout_ns))]

    def on_cancel_leg(self, m: CancelLeg, now_ns: int) -> Out:
        lo = self.orders.get(m.cl)
        if lo is None or m.venue != self.venue:
            self.counters["unknown_reports"] += 1
            return [self._alarm("cancel_unknown_cl", now_ns, cl=m.cl)]
        return self._cancel(lo, now_ns)

    def on_trading_state(self, m: TradingState, now_ns: int) -> Out:
        self.trading_state = m.state
        out: Out = []
        if m.state == "HALTED":
            for lo in list(self._open.values()):
                out += self._cancel(lo, now_ns)
        return out

    # --- venue reports ---------------------------------------------------------------------------

    def on_ack(self, m: Ack, now_ns: int) -> Out:
        lo, out = self._lookup(m.cl, "ack", now_ns)
        if lo is None:
            return out
        try:
            changed = lo.apply_ack(m.oid, now_ns)
        except IllegalTransition as exc:
            changed, out = False, [self._illegal(lo, exc, now_ns)]
        self._sync(lo)
        if changed:
            out += self._reports(lo, "accepted", now_ns, ts_event_ns=m.ts)
        return out

    def _fill(self, lo: LiveOrder, tid: str, px: int, qty: int, fee: float, ts: int,
              now_ns: int) -> Out:
        out: Out = []
        over_before = lo.overfill_lots
        try:
            res = lo.apply_fill(tid, px, qty, fee, now_ns)
        except IllegalTransition as exc:
            # the fill was recorded before the transition check: report it all the same
            res = FillResult(False, lo.overfill_lots > over_before)
            out.append(self._illegal(lo, exc, now_ns))
        self._sync(lo)
        if res is None:
            self.counters["duplicate_fills"] += 1
            return out
        self.counters["fills"] += 1
        self.positions[lo.sym] = self.positions.get(lo.sym, 0) + (qty if lo.side == "B" else -qty)
        out += self._reports(lo, "fill", now_ns, ts_event_ns=ts, px=px, qty=qty, fee=fee,
                             trade_id=tid, reason="late_fill" if res.late else "")
        if res.late:
            self.counters["late_fills"] += 1
            out.append(self._alarm("late_fill", now_ns, cl=lo.cl, tid=tid, qty=qty))
        if res.overfill:
            self.counters["overfills"] += 1
            out.append(self._alarm("overfill", now_ns, cl=lo.cl, tid=tid, cum=lo.cum_lots,
                                   qty=lo.qty_lots))
        return out

    def on_fill(self, m: Fill, now_ns: int) -> Out:
        lo = self.orders.get(m.cl)
        if lo is None or lo.state is OrderState.DENIED:
            # a trade on our account we cannot attribute: risk must reconcile with the venue
            self.counters["unknown_reports"] += 1
            return [self._alarm("unknown_fill", now_ns, cl=m.cl, tid=m.tid, px=m.px, qty=m.qty)]
        if m.oid and not lo.oid:
            lo.oid = m.oid
        return self._fill(lo, m.tid, m.px, m.qty, m.fee, m.ts, now_ns)

    def _done(self, lo: LiveOrder, state: str, cum: int, oid: str, ts: int, now_ns: int) -> Out:
        out: Out = []
        first = not lo.done_ns  # one "done" report per order: the first time the venue closes it
        try:
            lo.apply_done(state, cum, oid, now_ns)
        except IllegalTransition as exc:
            first = False
            out.append(self._illegal(lo, exc, now_ns))
        self._sync(lo)
        if first:
            # cum_lots is the venue's final quantity; fills beyond ours are still in flight
            out += self._reports(lo, "done", now_ns, ts_event_ns=ts,
                                 cum=max(lo.cum_lots, lo.venue_cum), reason=state)
        if lo.missing_fills:
            out += self._query(lo, now_ns)
        return out

    def on_done(self, m: Done, now_ns: int) -> Out:
        lo, out = self._lookup(m.cl, "done", now_ns)
        if lo is None:
            return out
        return self._done(lo, m.state, m.cum, m.oid, m.ts, now_ns)

    def _reject(self, lo: LiveOrder, reason: str, ts: int, now_ns: int) -> Out:
        out: Out = []
        try:
            changed = lo.apply_reject(reason, now_ns)
        except IllegalTransition as exc:
            changed = False
            out.append(self._illegal(lo, exc, now_ns))
        self._sync(lo)
        if changed:
            self.counters["rejects"] += 1
            out += self._reports(lo, "rejected", now_ns, ts_event_ns=ts, reason=reason)
        return out

    def on_reject(self, m: Reject, now_ns: int) -> Out:
        lo, out = self._lookup(m.cl, "reject", now_ns)
        if lo is None:
            return out
        return self._reject(lo, f"{m.code}:{m.reason}", m.ts, now_ns)

    def on_cancel_reject(self, m: CancelReject, now_ns: int) -> Out:
        lo, out = self._lookup(m.cl, "cancel_reject", now_ns)
        if lo is None:
            return out
        self.counters["cancel_rejects"] += 1
        try:
            lo.apply_cancel_reject(m.reason)
        except IllegalTransition as exc:
            out.append(self._illegal(lo, exc, now_ns))
        self._sync(lo)
        out += self._reports(lo, "cancel_reject", now_ns, ts_event_ns=m.ts,
                             reason=f"{m.code}:{m.reason}")
        if lo.is_open:
            out += self._query(lo, now_ns)  # "too late to cancel": learn what did happen
        return out

    def on_order_status(self, m: OrderStatus, now_ns: int) -> Out:
        lo, out = self._lookup(m.cl, "status", now_ns)
        if lo is None:
            return out
        if m.state == "unknown":
            return []  # not found (yet): NOT a rejection; keep the flag, the query timer goes on
        if m.oid and not lo.oid:
            lo.oid = m.oid
        for f in m.fills:
            out += self._fill(lo, f.tid, f.px, f.qty, f.fee, f.ts, now_ns)
        if m.state in ("new", "partial"):
            if lo.state is OrderState.SUBMITTED or (lo.state in PENDING and not lo.acked_ns):
                out += self.on_ack(Ack(cl=m.cl, oid=m.oid, ts=now_ns), now_ns)
            lo.venue_cum = max(lo.venue_cum, m.cum)
            if lo.state is OrderState.PENDING_CANCEL and now_ns - lo.cancel_sent_ns >= \
                    self.timeout_ns:
                # still working at the venue: our cancel was lost; a cancel is safe to repeat
                self.counters["cancels"] += 1
                lo.cancel_sent_ns = now_ns
                out += [("@oe", CancelReq(cl=lo.cl, ts=now_ns)),
                        ("@timer", SetTimer(f"cxl:{lo.cl}", now_ns + self.timeout_ns))]
        elif m.state == "rejected":
            out += self._reject(lo, "status:rejected", now_ns, now_ns)
        else:
            out += self._done(lo, m.state, m.cum, m.oid, now_ns, now_ns)
        lo.unknown_since_ns = 0  # the venue proved the order's existence and state
        self._sync(lo)
        return out

    # --- timers and queries ----------------------------------------------------------------------

    def _query(self, lo: LiveOrder, now_ns: int) -> Out:
        if lo.queries >= self.max_queries:
            if lo.queries == self.max_queries:
                lo.queries += 1  # alarm once
                self.counters["unresolved"] += 1
                return [self._alarm("unresolved", now_ns, cl=lo.cl, state=lo.state.value,
                                    unknown=lo.unknown, missing_fills=lo.missing_fills)]
            return []
        lo.queries += 1
        self.counters["queries"] += 1
        delay = min(self.timeout_ns << min(lo.queries - 1, 20), self.max_query_interval_ns)
        return [("@oe", QueryReq(cl=lo.cl)),
                ("@timer", SetTimer(f"query:{lo.cl}", now_ns + max(delay, 1)))]

    def _flag_unknown(self, lo: LiveOrder, why: str, now_ns: int) -> Out:
        out: Out = []
        if lo.mark_unknown(now_ns):
            self.counters["unknown_outcomes"] += 1
            out.append(self._alarm("unknown_outcome", now_ns, cl=lo.cl, why=why,
                                   state=lo.state.value))
        self._sync(lo)
        return out + self._query(lo, now_ns)

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        kind, _, cl = t.key.partition(":")
        lo = self.orders.get(cl)
        if lo is None:
            return []
        if kind == "ack":
            if lo.is_open and not (lo.acked_ns or lo.cum_lots or lo.done_ns):
                return self._flag_unknown(lo, "no_ack", now_ns)  # query, never resend
        elif kind == "cxl":
            if lo.state is OrderState.PENDING_CANCEL:
                return self._flag_unknown(lo, "no_cancel_answer", now_ns)
        elif kind == "query" and (lo.unknown or lo.missing_fills
                                  or lo.state is OrderState.PENDING_CANCEL):
            return self._query(lo, now_ns)
        return []

    # --- views -----------------------------------------------------------------------------------

    def open_orders(self) -> list[LiveOrder]:
        """Return the orders that may still trade."""
        return list(self._open.values())

    def flatten_orders(self, now_ns: int, px_ticks: dict[str, int],
                       combo_id: int) -> list[LegOrder]:
        """Return IOC ``flatten`` orders that would bring each priced position to zero.

        The caller feeds them back through ``handle`` (so every check applies) and must pick a
        ``combo_id`` no combo uses; leg i is the i-th instrument in sorted order.
        """
        out: list[LegOrder] = []
        for i, sym in enumerate(sorted(self.positions)):
            pos = self.positions[sym]
            if pos == 0 or sym not in px_ticks:
                continue
            out.append(LegOrder(combo_id, i, 0, self.venue, sym, "S" if pos > 0 else "B",
                                abs(pos), px_ticks[sym], "IOC", "flatten", now_ns, now_ns))
        return out

    def snapshot(self) -> dict[str, Any]:
        """Return orders (cl -> state, cum, unknown), positions and counters."""
        return {
            "venue": self.venue,
            "trading_state": self.trading_state,
            "orders": {cl: {"state": lo.state.value, "cum": lo.cum_lots, "unknown": lo.unknown}
                       for cl, lo in self.orders.items()},
            "positions": dict(self.positions),
            "open": sorted(self._open),
            "counters": {**self.counters, "denied": dict(self.denied)},
        }


__all__ = ["LegExecutorCore"]
