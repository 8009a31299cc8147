"""The order records of one venue account, and how the venue's reports change them.

``VenueReportsCore`` is the half of the LegExecutor (``actors.leg.executor``) that owns the
``LiveOrder``\\s, the positions and the counters, and handles the venue's order-entry reports:
``Ack``, ``Fill``, ``Done``, ``Reject``, ``CancelReject`` and ``OrderStatus``. Each report updates
its order through the state machine (``actors.leg.orders``) and produces ``ExecReport``\\s to
every name in ``report_to``:

- ``accepted`` when an ack moves a SUBMITTED order (a stale ack after fills reports nothing);
- ``fill`` once per trade id, ever, even late (``reason="late_fill"``), beyond the order quantity
  (an ``overfill`` alarm) or after an illegal transition (alarmed; the fill is never dropped);
- ``done`` once per order, the first time the venue closes it; its ``cum_lots`` is the venue's
  final quantity, which may exceed the fills seen so far (they are in flight and get queried);
- ``rejected`` (definitive) and ``cancel_reject`` (the previous state is restored and the order is
  queried to learn what did happen).

An ``OrderStatus`` of ``unknown`` (not found) is NOT a rejection by itself. It counts only for an
order whose outcome is unknown and that the venue never proved (no ack, fill or done), and only
once ``unknown_bound_ns`` has passed since the send: the first such answer plus ``UNKNOWN_AGREE``
further ones make the order REJECTED with reason ``inferred`` (counter ``inferred_rejects``);
until then each counted answer brings the next query forward to ``notfound_gap_ns``. Lost
queries (a transport error) count nothing: the backoff timer just queries again. An inferred
reject the venue later contradicts (an ack, a fill, a done, a real status) is revived to
ACCEPTED and the report applied (alarm ``inferred_reject_reconciled``): a fill is never lost.
A known status applies its fills (deduped) and its state, and clears the unknown-outcome flag.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

from actors.core import Core, Out
from actors.leg.orders import PENDING, TERMINAL, FillResult, LiveOrder, St
from transports.errors import IllegalTransition
from transports.wire.messages import Control, Decision, ExecReport, SetTimer
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Fill,
    OrderStatus,
    QueryReq,
    Reject,
)

_COUNTERS = (
    "sent",
    "rejects",
    "fills",
    "duplicate_fills",
    "late_fills",
    "overfills",
    "illegal_transitions",
    "unknown_outcomes",
    "queries",
    "cancels",
    "cancel_rejects",
    "unknown_reports",
    "unresolved",
    "queries_exhausted",
    "inferred_rejects",
    "inferred_reconciled",
    "unknown_halts",
    "recovered_fills",
    "reconciles",
    "orphans_canceled",
    "position_mismatches",
    "oe_disconnects",
    "revived",
)

#: "not found" answers after the first one past the bound that must agree before a reject is
#: inferred
UNKNOWN_AGREE = 2
_MS = 1_000_000
#: an order closed this long ago is retired (pickled aside, see ``VenueReportsCore.retire``)
RETIRE_AFTER_NS = 600 * 1_000_000_000
RETIRE_EVERY_NS = 60 * 1_000_000_000


class VenueReportsCore(Core):
    """Order records, positions and counters of one venue account; venue report handlers."""

    def __init__(
        self,
        name: str,
        venue: str,
        report_to: list[str],
        journal: str,
        timeout_ns: int,
        max_queries: int,
        max_query_interval_ns: int,
    ) -> None:
        super().__init__(name)
        self.venue = venue
        self.report_to = list(report_to)
        self.journal = journal
        self.timeout_ns = timeout_ns
        self.max_queries = max_queries
        self.max_query_interval_ns = max_query_interval_ns
        self.orders: dict[str, LiveOrder] = {}
        #: closed orders past ``RETIRE_AFTER_NS``, pickled: kept (their ids stay used, a late
        #: report finds them, ``_find`` revives them) without weighing on every checkpoint
        self._retired: dict[str, bytes] = {}
        self._next_retire_ns = 0
        self.positions: dict[str, int] = {}  #: signed lots per sym, from fills
        self.counters: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self._open: dict[str, LiveOrder] = {}
        self._unknown: set[str] = set()
        self.unknown_bound_ns = 0  #: ``VenueConfig.unknown_bound_ms``; 0 = never infer
        self.unknown_halt_ns = 0  #: ``VenueConfig.unknown_halt_ms``; 0 = never halt
        #: the next query after a counted "not found" (bounded below by 50 ms)
        self.notfound_gap_ns = max(timeout_ns // 4, 50 * _MS)
        self.risk_name = "risk"
        self.last_fill_ts = 0  #: the venue ts of the latest fill applied (for ``TradesReq``)

    # --- helpers ---------------------------------------------------------------------------------

    def _sync(self, lo: LiveOrder) -> None:
        state = lo.state
        # ``lo.is_open`` and ``lo.unknown``, inline (this runs on every order and report)
        if state not in TERMINAL and state is not St.INITIALIZED:
            self._open[lo.cl] = lo
        else:
            self._open.pop(lo.cl, None)
        if lo.unknown_since_ns > 0:
            self._unknown.add(lo.cl)
        else:
            self._unknown.discard(lo.cl)

    def _find(self, cl: str) -> LiveOrder | None:
        """The order ``cl``, revived from the retired ones if it was retired."""
        lo = self.orders.get(cl)
        if lo is None and cl in self._retired:
            lo = self.orders[cl] = pickle.loads(self._retired.pop(cl))  # our own bytes
            self.counters["revived"] += 1
        return lo

    def retire(self, now_ns: int) -> int:
        """Retire the orders closed (terminal, outcome known, every fill the venue reported
        applied) for more than ``RETIRE_AFTER_NS``;
        return how many. Run from the ping timer at most once a ``RETIRE_EVERY_NS``."""
        self._next_retire_ns = now_ns + RETIRE_EVERY_NS
        horizon = now_ns - RETIRE_AFTER_NS
        old = [lo for lo in self.orders.values()
               if lo.state in TERMINAL and not lo.unknown_since_ns and lo.cl not in self._open
               and not lo.missing_fills  # its fills are still being asked for: keep it live
               and max(lo.done_ns, lo.sent_ns, lo.created_ns) < horizon]
        for lo in old:
            self._retired[lo.cl] = pickle.dumps(lo, protocol=5)
            del self.orders[lo.cl]
        return len(old)

    def _alarm(self, kind: str, now_ns: int, **detail: Any) -> tuple[str, Decision]:
        detail = {"alarm": kind, "venue": self.venue, **detail}
        return (
            self.journal,
            Decision(self.name, "alarm", json.dumps(detail, sort_keys=True), now_ns),
        )

    def _illegal(self, lo: LiveOrder, exc: IllegalTransition, now_ns: int) -> tuple[str, Decision]:
        self.counters["illegal_transitions"] += 1
        return self._alarm(
            "illegal_transition", now_ns, cl=lo.cl, state=lo.state.value, error=str(exc)
        )

    def _reports(
        self,
        lo: LiveOrder,
        kind: str,
        now_ns: int,
        ts_event_ns: int = 0,
        px: int | None = None,
        qty: int | None = None,
        cum: int | None = None,
        fee: float = 0.0,
        trade_id: str = "",
        reason: str = "",
    ) -> Out:
        rep = ExecReport(
            self.venue,
            lo.cl,
            lo.combo_id,
            lo.leg,
            lo.attempt,
            lo.sym,
            lo.side,  # type: ignore[arg-type]
            kind,  # type: ignore[arg-type]
            lo.state._value_,  # ``.value`` is a Python-level property: this is the same string
            lo.px_ticks if px is None else px,
            lo.qty_lots if qty is None else qty,
            lo.cum_lots if cum is None else cum,
            lo.leaves_lots,
            fee,
            trade_id,
            reason,
            ts_event_ns or now_ns,
            now_ns,
        )
        to = self.report_to
        if len(to) == 2:  # the usual fan-out, built without a comprehension's frame
            return [(to[0], rep), (to[1], rep)]
        return [(d, rep) for d in to]

    def _lookup(self, cl: str, what: str, now_ns: int) -> tuple[LiveOrder | None, Out]:
        lo = self._find(cl)
        if lo is None or lo.state is St.DENIED:
            self.counters["unknown_reports"] += 1
            return None, [self._alarm("unknown_cl", now_ns, cl=cl, report=what)]
        return lo, []

    def _revive(self, lo: LiveOrder, what: str, now_ns: int) -> Out:
        """An inferred reject the venue contradicts: back to ACCEPTED, alarmed (reconciliation)."""
        if not lo.revive():
            return []
        self.counters["inferred_reconciled"] += 1
        self._sync(lo)
        return [self._alarm("inferred_reject_reconciled", now_ns, cl=lo.cl, report=what)]

    def _query(self, lo: LiveOrder, now_ns: int) -> Out:
        if lo.queries >= self.max_queries:
            if lo.queries == self.max_queries:
                lo.queries += 1  # alarm once
                self.counters["queries_exhausted"] += 1
                return [
                    self._alarm(
                        "unresolved",
                        now_ns,
                        cl=lo.cl,
                        state=lo.state.value,
                        unknown=lo.unknown,
                        missing_fills=lo.missing_fills,
                    )
                ]
            return []
        lo.queries += 1
        self.counters["queries"] += 1
        delay = min(self.timeout_ns << min(lo.queries - 1, 20), self.max_query_interval_ns)
        return [
            ("@oe", QueryReq(cl=lo.cl)),
            ("@timer", SetTimer(f"query:{lo.cl}", now_ns + max(delay, 1))),
        ]

    # --- venue reports ---------------------------------------------------------------------------

    def on_ack(self, m: Ack, now_ns: int) -> Out:
        lo, out = self._lookup(m.cl, "ack", now_ns)
        if lo is None:
            return out
        if lo.inferred:
            out += self._revive(lo, "ack", now_ns)
        try:
            changed = lo.apply_ack(m.oid, now_ns)
        except IllegalTransition as exc:
            changed, out = False, [self._illegal(lo, exc, now_ns)]
        self._sync(lo)
        if changed:
            out += self._reports(lo, "accepted", now_ns, ts_event_ns=m.ts)
        return out

    def _fill(
        self, lo: LiveOrder, tid: str, px: int, qty: int, fee: float, ts: int, now_ns: int
    ) -> Out:
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
        if ts > self.last_fill_ts:
            self.last_fill_ts = ts
        self.positions[lo.sym] = self.positions.get(lo.sym, 0) + (qty if lo.side == "B" else -qty)
        out += self._reports(
            lo,
            "fill",
            now_ns,
            ts_event_ns=ts,
            px=px,
            qty=qty,
            fee=fee,
            trade_id=tid,
            reason="late_fill" if res.late else "",
        )
        if res.late:
            self.counters["late_fills"] += 1
            out.append(self._alarm("late_fill", now_ns, cl=lo.cl, tid=tid, qty=qty))
        if res.overfill:
            self.counters["overfills"] += 1
            out.append(
                self._alarm("overfill", now_ns, cl=lo.cl, tid=tid, cum=lo.cum_lots, qty=lo.qty_lots)
            )
        return out

    def on_fill(self, m: Fill, now_ns: int) -> Out:
        lo = self._find(m.cl)
        if lo is None or lo.state is St.DENIED:
            # a trade on our account we cannot attribute: risk must reconcile with the venue
            self.counters["unknown_reports"] += 1
            return [self._alarm("unknown_fill", now_ns, cl=m.cl, tid=m.tid, px=m.px, qty=m.qty)]
        if m.oid and not lo.oid:
            lo.oid = m.oid
        if lo.inferred:
            return self._revive(lo, "fill", now_ns) + self._fill(
                lo, m.tid, m.px, m.qty, m.fee, m.ts, now_ns
            )
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
            out += self._reports(
                lo, "done", now_ns, ts_event_ns=ts, cum=max(lo.cum_lots, lo.venue_cum), reason=state
            )
        if lo.missing_fills:
            out += self._query(lo, now_ns)
        return out

    def on_done(self, m: Done, now_ns: int) -> Out:
        lo, out = self._lookup(m.cl, "done", now_ns)
        if lo is None:
            return out
        if lo.inferred:
            out += self._revive(lo, "done", now_ns)
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
            out += self._reports(lo, "rejected", now_ns, ts, None, None, None, 0.0, "", reason)
        return out

    def on_reject(self, m: Reject, now_ns: int) -> Out:
        lo, out = self._lookup(m.cl, "reject", now_ns)
        if lo is None:
            return out
        lo.inferred = False  # the venue confirms it
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
        out += self._reports(
            lo, "cancel_reject", now_ns, ts_event_ns=m.ts, reason=f"{m.code}:{m.reason}"
        )
        if lo.is_open:
            out += self._query(lo, now_ns)  # "too late to cancel": learn what did happen
        return out

    def on_order_status(self, m: OrderStatus, now_ns: int) -> Out:
        lo, out = self._lookup(m.cl, "status", now_ns)
        if lo is None:
            return out
        if m.state == "unknown":
            return self._not_found(lo, now_ns)
        if lo.inferred:
            if m.state == "rejected":
                lo.inferred = False  # the venue confirms it
            else:
                out += self._revive(lo, "status", now_ns)
        if m.oid and not lo.oid:
            lo.oid = m.oid
        for f in m.fills:
            out += self._fill(lo, f.tid, f.px, f.qty, f.fee, f.ts, now_ns)
        if m.state in ("new", "partial"):
            if lo.state is St.SUBMITTED or (lo.state in PENDING and not lo.acked_ns):
                out += self.on_ack(Ack(cl=m.cl, oid=m.oid, ts=now_ns), now_ns)
            lo.venue_cum = max(lo.venue_cum, m.cum)
            if (
                lo.state is St.PENDING_CANCEL
                and now_ns - lo.cancel_sent_ns >= self.timeout_ns
            ):
                # still working at the venue: our cancel was lost; a cancel is safe to repeat
                self.counters["cancels"] += 1
                lo.cancel_sent_ns = now_ns
                out += [
                    ("@oe", CancelReq(cl=lo.cl, ts=now_ns)),
                    ("@timer", SetTimer(f"cxl:{lo.cl}", now_ns + self.timeout_ns)),
                ]
        elif m.state == "rejected":
            out += self._reject(lo, "status:rejected", now_ns, now_ns)
        else:
            out += self._done(lo, m.state, m.cum, m.oid, now_ns, now_ns)
        lo.unknown_since_ns = 0  # the venue proved the order's existence and state
        self._sync(lo)
        return out

    def _not_found(self, lo: LiveOrder, now_ns: int) -> Out:
        """A query answered ``unknown``: count it toward an inferred reject (see the module)."""
        if (
            not lo.unknown
            or lo.acked_ns
            or lo.cum_lots
            or lo.done_ns
            or lo.state not in (St.SUBMITTED, St.PENDING_CANCEL)
        ):
            return []  # the venue proved this order exists: "not found" is noise
        if not self.unknown_bound_ns or now_ns - lo.sent_ns < self.unknown_bound_ns:
            return []  # too early to mean anything; the backoff timer goes on
        lo.notfound += 1
        if lo.notfound <= UNKNOWN_AGREE:
            # the next query comes sooner than the backoff: agreement is what we wait for
            return [("@timer", SetTimer(f"query:{lo.cl}", now_ns + self.notfound_gap_ns))]
        out: Out = []
        try:
            changed = lo.infer_reject(now_ns)
        except IllegalTransition as exc:
            return [self._illegal(lo, exc, now_ns)]
        self._sync(lo)
        if changed:
            self.counters["inferred_rejects"] += 1
            self.counters["rejects"] += 1
            out += self._reports(lo, "rejected", now_ns, reason="inferred")
            out.append(
                self._alarm(
                    "inferred_reject", now_ns, cl=lo.cl, notfound=lo.notfound,
                    since_send_ms=(now_ns - lo.sent_ns) // _MS,
                )
            )
        return out

    def _unknown_halt(self, lo: LiveOrder, now_ns: int) -> Out:
        """Still unknown past ``unknown_halt_ns``: ask risk to halt (once per order)."""
        if not lo.unknown:
            return []
        self.counters["unknown_halts"] += 1
        return [
            (self.risk_name, Control("halt", f"unresolved_unknown:{lo.cl}")),
            self._alarm("unresolved_unknown_halt", now_ns, cl=lo.cl, state=lo.state.value),
        ]


__all__ = ["VenueReportsCore"]
