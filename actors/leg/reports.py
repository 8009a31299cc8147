"""How the venue's order-entry reports change one venue account's orders.

The LegExecutor (``actors.leg.executor``) owns one ``Reports``, which changes the executor's
``OrderBook`` (``actors.leg.book``, passed in at construction) and produces what follows:
``ExecReport``\\s to every name in ``report_to``, queries and timers on ``@oe``/``@timer`` and
alarm ``Decision``\\s to the journal. It handles the venue's reports (``Ack``, ``Fill``, ``Done``,
``Reject`` and ``CancelReject``), each through the order's state machine
(``actors.leg.orders``); the executor's handlers of the same names delegate to it:

- ``accepted`` when an ack moves a SUBMITTED order (a stale ack after fills reports nothing);
- ``fill`` once per trade id, ever, even late (``reason="late_fill"``), beyond the order quantity
  (an ``overfill`` alarm) or after an illegal transition (alarmed; the fill is never dropped);
- ``done`` once per order, the first time the venue closes it; its ``cum_lots`` is the venue's
  final quantity, which may exceed the fills seen so far (they are in flight and get queried);
- ``rejected`` (definitive) and ``cancel_reject`` (the previous state is restored and the order is
  queried to learn what did happen).

It also flags an outcome *unknown* (``flag_unknown``: queried with backoff, never resent) and
sends the cancels the executor decided (``cancel``).

A query's answer (``OrderStatus``) is ``actors.leg.status``'s: a "not found" is not a rejection by
itself; an inferred reject the venue later contradicts (an ack, a fill, a done, a real status) is
revived here (``revive``) and the report applied: a fill is never lost.
"""

from __future__ import annotations

import json
from typing import Any

from actors.core import Out
from actors.leg.book import OrderBook
from actors.leg.orders import TERMINAL, FillResult, LegTimer, LiveOrder, St
from transports.errors import IllegalTransition
from transports.wire.messages import Decision, ExecReport, Halt, Reduce, SetTimer
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Fill,
    QueryReq,
    Reject,
)

_MS = 1_000_000
_INITIALIZED, _DENIED = St.INITIALIZED, St.DENIED


class Reports:
    """The venue report handlers, queries and alarms of one venue account (its records are
    ``book``'s)."""

    def __init__(self, book: OrderBook, name: str, venue: str, report_to: list[str],
                 journal: str, risk: str, timeout_ns: int, max_queries: int,
                 max_query_interval_ns: int, unknown_bound_ns: int = 0,
                 unknown_halt_ns: int = 0) -> None:
        self.book = book  #: the executor's order records, changed here
        self.name = name  #: the executor's actor name (its alarms are its decisions)
        self.venue = venue
        self.report_to = list(report_to)
        self.journal = journal
        self.risk = risk  #: the risk actor (a ``Halt`` for an outcome unknown too long)
        self.timeout_ns = timeout_ns  #: ack / cancel answer timeout; the first query backoff
        self.max_queries = max_queries
        self.max_query_interval_ns = max_query_interval_ns
        self.unknown_bound_ns = unknown_bound_ns  #: ``VenueConfig.unknown_bound_ms``; 0 = never
        self.unknown_halt_ns = unknown_halt_ns  #: ``VenueConfig.unknown_halt_ms``; 0 = never
        #: the next query after a counted "not found" (bounded below by 50 ms)
        self.notfound_gap_ns = max(timeout_ns // 4, 50 * _MS)
        #: the executor's ``actors.leg.offsets.Offsets`` when a contract has offsets: every fill
        #: is applied to its two-sided positions too
        self.offsets: Any = None

    # --- outputs ---------------------------------------------------------------------------------

    def alarm(self, kind: str, now_ns: int, **detail: Any) -> tuple[str, Decision]:
        """An alarm ``Decision`` of the executor, to the journal."""
        detail = {"alarm": kind, "venue": self.venue, **detail}
        return (
            self.journal,
            Decision(self.name, "alarm", json.dumps(detail, sort_keys=True), now_ns),
        )

    def illegal(self, lo: LiveOrder, exc: IllegalTransition, now_ns: int) -> tuple[str, Decision]:
        """Count and alarm an illegal transition of ``lo``."""
        self.book.counters["illegal_transitions"] += 1
        return self.alarm(
            "illegal_transition", now_ns, cl=lo.cl, state=lo.state.value, error=str(exc)
        )

    def emit(self, lo: LiveOrder, kind: str, now_ns: int, ts_event_ns: int = 0,
             px: int | None = None, qty: int | None = None, cum: int | None = None,
             fee: float = 0.0, trade_id: str = "", reason: str = "", fee_ccy: str = "") -> Out:
        """The ``ExecReport`` ``kind`` of ``lo`` to every name in ``report_to``; ``px``,
        ``qty`` and ``cum`` default to the order's."""
        state = lo.state
        # ``lo.leaves_lots``, inline (two property calls on every report)
        leaves = (lo.qty_lots - lo.cum_lots
                  if state not in TERMINAL and state is not _INITIALIZED else 0)
        rep = ExecReport(
            self.venue, lo.cl, lo.combo_id, lo.leg, lo.attempt, lo.sym,
            lo.side,  # type: ignore[arg-type]
            kind,  # type: ignore[arg-type]
            state._value_,  # ``.value`` is a Python-level property: this is the same string
            lo.px_ticks if px is None else px, lo.qty_lots if qty is None else qty,
            lo.cum_lots if cum is None else cum, leaves if leaves > 0 else 0, fee, trade_id,
            reason, ts_event_ns or now_ns, now_ns, fee_ccy,
            "" if self.offsets is None else self.offsets.of.get(lo.cl, ""),
        )
        to = self.report_to
        if len(to) == 2:  # the usual fan-out, built without a comprehension's frame
            return [(to[0], rep), (to[1], rep)]
        return [(d, rep) for d in to]

    def lookup(self, cl: str, what: str, now_ns: int) -> tuple[LiveOrder | None, Out]:
        """The order ``cl`` a ``what`` report is about (revived if retired), or None and an
        ``unknown_cl`` alarm (not ours, or denied: it never left)."""
        lo = self.book.find(cl)
        if lo is None or lo.state is St.DENIED:
            self.book.counters["unknown_reports"] += 1
            return None, [self.alarm("unknown_cl", now_ns, cl=cl, report=what)]
        return lo, []

    def revive(self, lo: LiveOrder, what: str, now_ns: int) -> Out:
        """An inferred reject the venue contradicts: back to ACCEPTED, alarmed (reconciliation)."""
        if not lo.revive():
            return []
        self.book.counters["inferred_reconciled"] += 1
        self.book.sync(lo)
        return [self.alarm("inferred_reject_reconciled", now_ns, cl=lo.cl, report=what)]

    def query(self, lo: LiveOrder, now_ns: int) -> Out:
        """Ask the venue for ``lo``'s status, with exponential backoff up to ``max_queries``
        (then alarm ``unresolved`` once)."""
        counters = self.book.counters
        if lo.queries >= self.max_queries:
            if lo.queries == self.max_queries:
                lo.queries += 1  # alarm once
                counters["queries_exhausted"] += 1
                return [self.alarm("unresolved", now_ns, cl=lo.cl, state=lo.state.value,
                                   unknown=lo.unknown, missing_fills=lo.missing_fills)]
            return []
        lo.queries += 1
        counters["queries"] += 1
        delay = min(self.timeout_ns << min(lo.queries - 1, 20), self.max_query_interval_ns)
        return [
            ("@oe", QueryReq(cl=lo.cl)),
            ("@timer", SetTimer(LegTimer.QUERY, now_ns + max(delay, 1), lo.cl)),
        ]

    def flag_unknown(self, lo: LiveOrder, why: str, now_ns: int) -> Out:
        """``lo``'s outcome is unknown (``why``): flag it, arm the halt timer, query it."""
        out: Out = []
        if lo.mark_unknown(now_ns):
            self.book.counters["unknown_outcomes"] += 1
            out.append(
                self.alarm("unknown_outcome", now_ns, cl=lo.cl, why=why, state=lo.state.value)
            )
            if self.unknown_halt_ns:
                out.append(("@timer", SetTimer(LegTimer.UNKNOWN_HALT,
                                               now_ns + self.unknown_halt_ns, lo.cl)))
        self.book.sync(lo)
        return out + self.query(lo, now_ns)

    def cancel(self, lo: LiveOrder, now_ns: int) -> Out:
        """Send the cancel of ``lo`` (the executor checked it may go now)."""
        try:
            lo.request_cancel(now_ns)
        except IllegalTransition as exc:
            return [self.illegal(lo, exc, now_ns)]
        self.book.counters["cancels"] += 1
        return [
            ("@oe", CancelReq(cl=lo.cl, ts=now_ns)),
            ("@timer", SetTimer(LegTimer.CANCEL, now_ns + self.timeout_ns, lo.cl)),
        ]

    def on_order_timer(self, key: str, lo: LiveOrder, now_ns: int) -> Out:
        """An order's ``ACK``, ``CANCEL``, ``QUERY`` or ``UNKNOWN_HALT`` timer came due."""
        if key == LegTimer.ACK:
            state = lo.state  # ``lo.is_open``, inline: every order's ack timer comes due
            if state not in TERMINAL and state is not _INITIALIZED \
                    and not (lo.acked_ns or lo.cum_lots or lo.done_ns):
                return self.flag_unknown(lo, "no_ack", now_ns)  # query, never resend
        elif key == LegTimer.CANCEL:
            if lo.state is St.PENDING_CANCEL:
                return self.flag_unknown(lo, "no_cancel_answer", now_ns)
        elif key == LegTimer.QUERY and (
            lo.unknown or lo.missing_fills or lo.state is St.PENDING_CANCEL
        ):
            return self.query(lo, now_ns)
        elif key == LegTimer.UNKNOWN_HALT:
            return self.unknown_halt(lo, now_ns)
        return []

    # --- venue reports ---------------------------------------------------------------------------

    def on_ack(self, m: Ack, now_ns: int) -> Out:
        """An ack: ``accepted`` when it moves a SUBMITTED order."""
        lo = self.book.orders.get(m.cl)  # ``lookup``, inline for a live order of ours
        if lo is None or lo.state is _DENIED:
            lo, out = self.lookup(m.cl, "ack", now_ns)  # retired, or not ours
            if lo is None:
                return out
        else:
            out = []
        if lo.inferred:
            out += self.revive(lo, "ack", now_ns)
        try:
            changed = lo.apply_ack(m.oid, now_ns)
        except IllegalTransition as exc:
            changed, out = False, [self.illegal(lo, exc, now_ns)]
        self.book.sync(lo)
        if changed:
            rep = self.emit(lo, "accepted", now_ns, m.ts)  # ``ts_event_ns=m.ts``, positional
            return out + rep if out else rep
        return out

    def apply_fill(
        self, lo: LiveOrder, tid: str, px: int, qty: int, fee: float, ts: int, now_ns: int,
        fee_ccy: str = "",
    ) -> Out:
        """Apply one trade of ``lo`` (deduplicated by ``tid``) to the order and the positions;
        ``fee_ccy``: the fee's currency when the venue says it is not the instrument's."""
        book = self.book
        out: Out = []
        over_before = lo.overfill_lots
        try:
            res = lo.apply_fill(tid, px, qty, fee, now_ns)
        except IllegalTransition as exc:
            # the fill was recorded before the transition check: report it all the same
            res = FillResult(False, lo.overfill_lots > over_before)
            out.append(self.illegal(lo, exc, now_ns))
        book.sync(lo)
        counters = book.counters
        if res is None:
            counters["duplicate_fills"] += 1
            return out
        counters["fills"] += 1
        if ts > book.last_fill_ts:
            book.last_fill_ts = ts
        positions = book.positions
        positions[lo.sym] = positions.get(lo.sym, 0) + (qty if lo.side == "B" else -qty)
        if self.offsets is not None:
            self.offsets.on_fill(lo.cl, lo.sym, lo.side, qty, now_ns)
        # (ts_event_ns, px, qty, cum, fee, trade_id, reason, fee_ccy), positional
        out += self.emit(lo, "fill", now_ns, ts, px, qty, None, fee, tid,
                         "late_fill" if res.late else "", fee_ccy)
        if res.late:
            counters["late_fills"] += 1
            out.append(self.alarm("late_fill", now_ns, cl=lo.cl, tid=tid, qty=qty))
        if res.overfill:
            # the venue traded more than we asked: applied (it is the venue's position), alarmed,
            # and risk reduces until an operator resumes (a venue that overfills is not trusted
            # to open more; the combo's repair brings the extra lots back)
            counters["overfills"] += 1
            out.append(
                self.alarm("overfill", now_ns, cl=lo.cl, tid=tid, cum=lo.cum_lots, qty=lo.qty_lots)
            )
            out.append((self.risk, Reduce(f"overfill:{self.venue}: {lo.cl} filled {lo.cum_lots} "
                                          f"of {lo.qty_lots} lots")))
        return out

    def on_fill(self, m: Fill, now_ns: int) -> Out:
        """A fill: one ``fill`` report per trade id, ever; a fill we cannot attribute is
        alarmed ``unknown_fill``."""
        book = self.book
        lo = book.orders.get(m.cl)  # ``book.find``, inline for a live order of ours
        if lo is None:
            lo = book.find(m.cl)  # retired (revived), or not ours
        if lo is None or lo.state is _DENIED:
            # a trade on our account we cannot attribute: risk must reconcile with the venue
            self.book.counters["unknown_reports"] += 1
            return [self.alarm("unknown_fill", now_ns, cl=m.cl, tid=m.tid, px=m.px, qty=m.qty)]
        if m.oid and not lo.oid:
            lo.oid = m.oid
        if lo.inferred:
            return self.revive(lo, "fill", now_ns) + self.apply_fill(
                lo, m.tid, m.px, m.qty, m.fee, m.ts, now_ns, m.fee_ccy
            )
        return self.apply_fill(lo, m.tid, m.px, m.qty, m.fee, m.ts, now_ns, m.fee_ccy)

    def close(self, lo: LiveOrder, state: str, cum: int, oid: str, ts: int, now_ns: int) -> Out:
        """The venue closed ``lo`` (``state``, ``cum`` lots in all): ``done`` the first time,
        and the fills it counts that we have not seen are queried."""
        out: Out = []
        first = not lo.done_ns  # one "done" report per order: the first time the venue closes it
        try:
            lo.apply_done(state, cum, oid, now_ns)
        except IllegalTransition as exc:
            first = False
            out.append(self.illegal(lo, exc, now_ns))
        self.book.sync(lo)
        if first:
            # cum_lots is the venue's final quantity; fills beyond ours are still in flight
            # (ts_event_ns, px, qty, cum, fee, trade_id, reason), positional
            out += self.emit(lo, "done", now_ns, ts, None, None, max(lo.cum_lots, lo.venue_cum),
                             0.0, "", state)
        if lo.venue_cum > lo.cum_lots:  # ``lo.missing_fills``
            out += self.query(lo, now_ns)
        return out

    def on_done(self, m: Done, now_ns: int) -> Out:
        """The venue closed an order: ``done`` once per order."""
        lo = self.book.orders.get(m.cl)  # ``lookup``, inline for a live order of ours
        if lo is None or lo.state is _DENIED:
            lo, out = self.lookup(m.cl, "done", now_ns)  # retired, or not ours
            if lo is None:
                return out
        if lo.inferred:
            # the venue contradicts an inferred reject: alarmed as an ack, a fill or a status
            # that does is (before session 10 the alarm of a done was dropped: a journal of
            # that code holding this case replays with one alarm more here)
            return self.revive(lo, "done", now_ns) + self.close(lo, m.state, m.cum, m.oid, m.ts,
                                                                now_ns)
        return self.close(lo, m.state, m.cum, m.oid, m.ts, now_ns)

    def reject(self, lo: LiveOrder, reason: str, ts: int, now_ns: int) -> Out:
        """``lo`` is definitively rejected (``reason``): ``rejected`` if its state changed."""
        out: Out = []
        try:
            changed = lo.apply_reject(reason, now_ns)
        except IllegalTransition as exc:
            changed = False
            out.append(self.illegal(lo, exc, now_ns))
        book = self.book
        book.sync(lo)
        if changed:
            book.counters["rejects"] += 1
            rep = self.emit(lo, "rejected", now_ns, ts, None, None, None, 0.0, "", reason)
            return out + rep if out else rep
        return out

    def reject_local(self, lo: LiveOrder, reason: str, now_ns: int) -> Out:
        """Reject an order that never left this process (its intent could not be made
        durable): definitive, as a venue's reject."""
        return self.reject(lo, reason, now_ns, now_ns)

    def on_reject(self, m: Reject, now_ns: int) -> Out:
        """The venue rejected an order (definitive)."""
        lo = self.book.orders.get(m.cl)  # ``lookup``, inline for a live order of ours
        if lo is None or lo.state is _DENIED:
            lo, out = self.lookup(m.cl, "reject", now_ns)  # retired, or not ours
            if lo is None:
                return out
        lo.inferred = False  # the venue confirms it
        return self.reject(lo, f"{m.code}:{m.reason}", m.ts, now_ns)

    def on_cancel_reject(self, m: CancelReject, now_ns: int, query: bool = True) -> Out:
        """A cancel refused: the previous state is back; the order is queried if still open
        (``query``; False when the executor retries the cancel itself: ``throttled``)."""
        lo, out = self.lookup(m.cl, "cancel_reject", now_ns)
        if lo is None:
            return out
        self.book.counters["cancel_rejects"] += 1
        try:
            lo.apply_cancel_reject(m.reason)
        except IllegalTransition as exc:
            out.append(self.illegal(lo, exc, now_ns))
        self.book.sync(lo)
        out += self.emit(
            lo, "cancel_reject", now_ns, ts_event_ns=m.ts, reason=f"{m.code}:{m.reason}"
        )
        if lo.is_open and query:
            out += self.query(lo, now_ns)  # "too late to cancel": learn what did happen
        return out

    def unknown_halt(self, lo: LiveOrder, now_ns: int) -> Out:
        """Still unknown past ``unknown_halt_ns``: ask risk to halt (``Halt``, once per order)."""
        if not lo.unknown:
            return []
        self.book.counters["unknown_halts"] += 1
        return [
            (self.risk, Halt(f"unresolved_unknown:{lo.cl}")),
            self.alarm("unresolved_unknown_halt", now_ns, cl=lo.cl, state=lo.state.value),
        ]


__all__ = ["Reports"]
