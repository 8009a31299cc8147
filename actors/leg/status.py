"""A query's answer (``OrderStatus``): what the venue says of one order the LegExecutor asked it
about (``Reports.query``, an unknown outcome, fills in flight, a lost cancel).

A known status applies its fills (deduped) and its state, and clears the unknown-outcome flag.
A status that shows an unacked order working is its ack (the executor's own ``on_ack``, so its
gate is re-judged right there). A status showing an order still working while our cancel went
unanswered past the timeout resends the cancel (a cancel is safe to repeat).

An ``OrderStatus`` of ``unknown`` (not found) is NOT a rejection by itself. It counts only for an
order whose outcome is unknown and that the venue never proved (no ack, fill or done), and only
once ``unknown_bound_ns`` has passed since the send: the first such answer plus ``UNKNOWN_AGREE``
further ones make the order REJECTED with reason ``inferred`` (counter ``inferred_rejects``);
until then each counted answer brings the next query forward to ``notfound_gap_ns``. Lost
queries (a transport error) count nothing: the backoff timer just queries again. An inferred
reject the venue later contradicts (an ack, a fill, a done, a real status) is revived to
ACCEPTED and the report applied (alarm ``inferred_reject_reconciled``): a fill is never lost.

Functions of the executor's ``Reports`` (``actors.leg.reports``: its records, outputs and
settings), kept apart from the report handlers; the executor's ``on_order_status`` calls
``on_order_status`` here.
"""

from __future__ import annotations

from collections.abc import Callable

from actors.core import Out
from actors.leg.orders import PENDING, LegTimer, LiveOrder, St
from actors.leg.reports import Reports
from transports.errors import IllegalTransition
from transports.wire.messages import SetTimer
from transports.wire.venue_msgs import Ack, CancelReq, OrderStatus

#: "not found" answers after the first one past the bound that must agree before a reject is
#: inferred
UNKNOWN_AGREE = 2
_MS = 1_000_000


def on_order_status(reports: Reports, m: OrderStatus, now_ns: int,
                    ack: Callable[[Ack, int], Out]) -> Out:
    """A query's answer, for ``reports`` (see the module); ``ack``: the executor's own
    ``on_ack``."""
    lo, out = reports.lookup(m.cl, "status", now_ns)
    if lo is None:
        return out
    if m.state == "unknown":
        return not_found(reports, lo, now_ns)
    if lo.inferred:
        if m.state == "rejected":
            lo.inferred = False  # the venue confirms it
        else:
            out += reports.revive(lo, "status", now_ns)
    if m.oid and not lo.oid:
        lo.oid = m.oid
    for f in m.fills:
        out += reports.apply_fill(lo, f.tid, f.px, f.qty, f.fee, f.ts, now_ns)
    if m.state in ("new", "partial"):
        if lo.state is St.SUBMITTED or (lo.state in PENDING and not lo.acked_ns):
            out += ack(Ack(cl=m.cl, oid=m.oid, ts=now_ns), now_ns)
        lo.venue_cum = max(lo.venue_cum, m.cum)
        if (
            lo.state is St.PENDING_CANCEL
            and now_ns - lo.cancel_sent_ns >= reports.timeout_ns
        ):
            # still working at the venue: our cancel was lost; a cancel is safe to repeat
            reports.book.counters["cancels"] += 1
            lo.cancel_sent_ns = now_ns
            out += [
                ("@oe", CancelReq(cl=lo.cl, ts=now_ns)),
                ("@timer", SetTimer(LegTimer.CANCEL, now_ns + reports.timeout_ns, lo.cl)),
            ]
    elif m.state == "rejected":
        out += reports.reject(lo, "status:rejected", now_ns, now_ns)
    else:
        out += reports.close(lo, m.state, m.cum, m.oid, now_ns, now_ns)
    lo.unknown_since_ns = 0  # the venue proved the order's existence and state
    reports.book.sync(lo)
    return out


def not_found(reports: Reports, lo: LiveOrder, now_ns: int) -> Out:
    """A query answered ``unknown``: count it toward an inferred reject (see the module)."""
    if (
        not lo.unknown
        or lo.acked_ns
        or lo.cum_lots
        or lo.done_ns
        or lo.state not in (St.SUBMITTED, St.PENDING_CANCEL)
    ):
        return []  # the venue proved this order exists: "not found" is noise
    if not reports.unknown_bound_ns or now_ns - lo.sent_ns < reports.unknown_bound_ns:
        return []  # too early to mean anything; the backoff timer goes on
    lo.notfound += 1
    if lo.notfound <= UNKNOWN_AGREE:
        # the next query comes sooner than the backoff: agreement is what we wait for
        return [("@timer", SetTimer(LegTimer.QUERY, now_ns + reports.notfound_gap_ns, lo.cl))]
    out: Out = []
    try:
        changed = lo.infer_reject(now_ns)
    except IllegalTransition as exc:
        return [reports.illegal(lo, exc, now_ns)]
    reports.book.sync(lo)
    if changed:
        reports.book.counters["inferred_rejects"] += 1
        reports.book.counters["rejects"] += 1
        out += reports.emit(lo, "rejected", now_ns, reason="inferred")
        out.append(
            reports.alarm(
                "inferred_reject", now_ns, cl=lo.cl, notfound=lo.notfound,
                since_send_ms=(now_ns - lo.sent_ns) // _MS,
            )
        )
    return out


__all__ = ["UNKNOWN_AGREE", "not_found", "on_order_status"]
