"""One live order's record: identity, state, fills and timestamps, walking the order state machine.

Modelled on NautilusTrader's ``OrderStatus::transition`` and trimmed as in
``notes/fault-catalogue.md`` §6 (no emulated, released or triggered states); the states and the
table are ``actors.leg.order_states``, re-exported here. Deviations chosen for money safety:

- "unknown outcome" (a timeout, a lost ack) is a flag on the order (``unknown_since_ns``), never a
  state: the order stays SUBMITTED or PENDING_* until the venue proves what happened;
- a fill is a fact: ``LiveOrder.apply_fill`` records quantity, fee and trade id *before* it checks
  the transition, so even a fill the table forbids (after a REJECTED) is never lost; it then
  raises ``IllegalTransition`` for the caller to alarm on;
- fills are deduped by trade id before anything else; an overfill (cum > qty) is recorded and
  flagged, not refused;
- a late fill after CANCELED is applied (CANCELED -> PARTIALLY_FILLED/FILLED, as in Nautilus), and
  so is one after EXPIRED: an IOC remainder is reported ``expired`` by some venues, and a fill
  reordered behind that ``done`` is the same real-world event as a fill after a cancel. A late
  *partial* fill re-closes the order in the state the venue gave it, so a closed order always
  shows a closed state.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from actors.leg.order_states import (
    EVENTS,
    LATE_FILL_FROM,
    PENDING,
    TERMINAL,
    TRANSITIONS,
    OrderState,
    St,
    is_terminal,
    transition,
)
from transports.errors import IllegalTransition

_SUBMIT_FROM_INITIALIZED = TRANSITIONS[(St.INITIALIZED, "submit")]
_ACCEPT_FROM_SUBMITTED = TRANSITIONS[(St.SUBMITTED, "accept")]
#: ``LiveOrder.trade_ids`` before the first fill (shared, immutable)
_NO_TRADES: frozenset[str] = frozenset()


class LegTimer:
    """The LegExecutor's timer keys (``SetTimer.key``); a per-order timer carries the client
    order id in ``SetTimer.arg``, so a timer is (actor, key, client id)."""

    ACK = "ack"  #: no ack, fill or done by then: the outcome is unknown
    CANCEL = "cxl"  #: no answer to a cancel by then: the outcome is unknown
    QUERY = "query"  #: the next status query of an order (backoff)
    UNKNOWN_HALT = "uhalt"  #: still unknown by then: ask risk to halt
    CANCEL_RETRY = "cxlretry"  #: a cancel held back by the venue's cancel rate
    PING = "ping"  #: the order-entry link's ping (no client id)
    RECONCILE = "recon"  #: re-ask the venue what a reconciliation still misses (no client id)
    THROTTLE = "throttle"  #: the venue's ``throttled`` back-off ends (no client id)
    POSITIONS = "poscheck"  #: the periodic positions check (no client id; ``Reconciler``)


class FillResult:
    """What applying one (new, not duplicate) fill did."""

    __slots__ = ("late", "overfill")

    def __init__(self, late: bool, overfill: bool) -> None:
        self.late = late  #: the venue had already closed the order
        self.overfill = overfill  #: cum now exceeds the order quantity


#: ``FillResult(False, False)``: what most fills return, one shared instance (no caller writes
#: a ``FillResult``)
_PLAIN_FILL = FillResult(False, False)


class LiveOrder:
    """One order this engine sent (or denied): identity, state, fills and timestamps."""

    __slots__ = (
        "acked_ns",
        "attempt",
        "cancel_sent_ns",
        "cl",
        "combo_id",
        "created_ns",
        "cum_lots",
        "done_ns",
        "duplicate_fills",
        "fees",
        "inferred",
        "late_fills",
        "leg",
        "notfound",
        "notional_ticks",
        "oid",
        "overfill_lots",
        "previous_state",
        "purpose",
        "px_ticks",
        "qty_lots",
        "queries",
        "reject_reason",
        "sent_ns",
        "side",
        "state",
        "sym",
        "tif",
        "trade_ids",
        "unknown_since_ns",
        "venue",
        "venue_cum",
    )

    def __init__(
        self,
        cl: str,
        venue: str,
        sym: str,
        side: str,
        px_ticks: int,
        qty_lots: int,
        tif: str,
        combo_id: int = 0,
        leg: int = 0,
        attempt: int = 0,
        purpose: str = "entry",
        created_ns: int = 0,
    ) -> None:
        # one plain assignment per slot: this runs once per order on the hot path
        self.cl = cl
        self.venue = venue
        self.sym = sym
        self.side = side
        self.px_ticks = px_ticks
        self.qty_lots = qty_lots
        self.tif = tif
        self.combo_id = combo_id
        self.leg = leg
        self.attempt = attempt
        self.purpose = purpose
        self.created_ns = created_ns
        self.oid = self.reject_reason = ""
        self.state = St.INITIALIZED
        self.previous_state: OrderState | None = None
        self.fees = 0.0
        # the trade ids applied: a shared empty frozenset until the first fill (most orders
        # of an IOC arbitrage never fill: no set made, and one object less for the collector,
        # per order)
        self.trade_ids: AbstractSet[str] = _NO_TRADES
        # ``venue_cum``: the venue's cumulative quantity from ``done``/``status``;
        # ``notional_ticks``: sum of px * qty over applied fills; ``unknown_since_ns``: > 0 while
        # the outcome is unknown (a flag, not a state)
        self.cum_lots = self.venue_cum = self.notional_ticks = self.duplicate_fills = 0
        self.late_fills = self.overfill_lots = self.unknown_since_ns = self.queries = 0
        self.sent_ns = self.acked_ns = self.done_ns = self.cancel_sent_ns = 0
        # ``notfound``: "not found" query answers received after the venue's unknown bound;
        # ``inferred``: REJECTED by inference from them, not by the venue
        self.notfound = 0
        self.inferred = False

    # --- views -----------------------------------------------------------------------------------

    @property
    def terminal(self) -> bool:
        """True once the order is closed."""
        return self.state in TERMINAL

    @property
    def is_open(self) -> bool:
        """True while the order may still trade as far as we know."""
        return self.state not in TERMINAL and self.state is not St.INITIALIZED

    @property
    def unknown(self) -> bool:
        """True while the outcome of the last request is unknown."""
        return self.unknown_since_ns > 0

    @property
    def overfill(self) -> bool:
        """True once fills exceeded the order quantity."""
        return self.overfill_lots > 0

    @property
    def leaves_lots(self) -> int:
        """Lots that may still trade (0 once closed)."""
        return max(0, self.qty_lots - self.cum_lots) if self.is_open else 0

    @property
    def missing_fills(self) -> bool:
        """True when the venue reported more quantity than the fills we have seen."""
        return self.venue_cum > self.cum_lots

    @property
    def avg_px(self) -> float:
        """Average fill price in ticks (0.0 before any fill)."""
        return self.notional_ticks / self.cum_lots if self.cum_lots else 0.0

    # --- transitions ------------------------------------------------------------------------------

    def _move(self, event: str) -> None:
        old = self.state
        nxt = TRANSITIONS.get((old, event))
        # a plain table hit inline; a restore (None) or a missing entry via ``transition``
        self.state = nxt if nxt is not None else transition(old, event, self.previous_state)
        # Nautilus rule: remember where we came from, except out of PENDING_* or on a restore
        if old not in PENDING and event not in ("cancel_reject", "update_reject"):
            self.previous_state = old

    def deny(self, reason: str) -> None:
        """Refused by a pre-trade check: the order never leaves the process."""
        self._move("deny")
        self.reject_reason = reason

    def submit(self, now_ns: int) -> None:
        """The order is handed to the venue connection."""
        if self.state is St.INITIALIZED:
            # ``_move("submit")`` from INITIALIZED, the only state the table lets submit
            self.state = _SUBMIT_FROM_INITIALIZED
            self.previous_state = St.INITIALIZED
        else:
            self._move("submit")  # raises IllegalTransition
        self.sent_ns = now_ns

    def mark_unknown(self, now_ns: int) -> bool:
        """Flag the outcome as unknown; return True if it was not flagged before."""
        if self.unknown_since_ns:
            return False
        self.unknown_since_ns = max(now_ns, 1)
        return True

    def apply_ack(self, oid: str, now_ns: int) -> bool:
        """The venue accepted the order; return True if the state changed.

        An ack after fills or after the order closed is stale news: only the oid is kept. An ack
        while a cancel is pending changes what a cancel reject restores, not the state.
        """
        if oid:
            self.oid = oid
        if not self.acked_ns:
            self.acked_ns = now_ns
        self.unknown_since_ns = 0
        if self.state is St.SUBMITTED:
            # ``_move("accept")`` from SUBMITTED, inline (every order's ack): the table's
            # ACCEPTED, remembering SUBMITTED (neither pending nor a restore)
            self.state = _ACCEPT_FROM_SUBMITTED
            self.previous_state = St.SUBMITTED
            return True
        if self.state in PENDING and self.previous_state is St.SUBMITTED:
            self.previous_state = St.ACCEPTED
        return False

    def apply_fill(self, tid: str, px: int, qty: int, fee: float, now_ns: int) -> FillResult | None:
        """Apply one fill; return None for a duplicate trade id.

        The fill is recorded first; if the table then forbids the transition (a fill after a
        REJECTED) ``IllegalTransition`` is raised with the fill already applied.
        """
        trade_ids = self.trade_ids
        if tid in trade_ids:
            self.duplicate_fills += 1
            return None
        if trade_ids:
            trade_ids.add(tid)  # type: ignore[attr-defined]
        else:
            self.trade_ids = {tid}  # the first fill: this order's own set
        self.cum_lots += qty
        self.notional_ticks += px * qty
        self.fees += fee
        self.unknown_since_ns = 0
        over_before = self.overfill_lots
        self.overfill_lots = max(0, self.cum_lots - self.qty_lots)
        closed = self.state
        late = closed in LATE_FILL_FROM
        if late:
            self.late_fills += 1
        if closed is not St.FILLED:  # a fill on a FILLED order is a reorder or an overfill
            # ``_move(event)``, inline (every fill): a fill is never a restore, so the state
            # it leaves is remembered unless it was a pending one
            event = "fill_full" if self.cum_lots >= self.qty_lots else "fill_partial"
            nxt = TRANSITIONS.get((closed, event))
            self.state = nxt if nxt is not None else transition(closed, event,
                                                                self.previous_state)
            if closed not in PENDING:
                self.previous_state = closed
            if late and self.state is St.PARTIALLY_FILLED:
                self._move("canceled" if closed is St.CANCELED else "expired")
        overfill = self.overfill_lots > over_before
        if late or overfill:
            return FillResult(late, overfill)
        return _PLAIN_FILL  # the common answer, shared (read only)

    def apply_done(self, state: str, cum: int, oid: str, now_ns: int) -> bool:
        """The venue closed the order (``filled``, ``canceled`` or ``expired``) with ``cum`` lots.

        Return True if the state changed. Fills the ``done`` counts but we have not seen yet are
        in flight (``missing_fills``). A ``done`` after the order already closed changes nothing,
        except that a venue saying a REJECTED order traded raises ``IllegalTransition``.
        """
        if oid:
            self.oid = oid
        self.venue_cum = max(self.venue_cum, cum)
        if not self.done_ns:
            self.done_ns = now_ns
        self.unknown_since_ns = 0
        if self.state in TERMINAL:
            if self.state in (St.REJECTED, St.DENIED) and cum > 0:
                raise IllegalTransition(
                    f"{self.cl}: done {state} cum={cum} after {self.state.value}"
                )
            return False
        if state == "filled":
            self._move("fill_full")
        else:
            self._move("canceled" if state == "canceled" else "expired")
        return True

    def apply_reject(self, reason: str, now_ns: int) -> bool:
        """The venue definitively refused the order; return True if the state changed."""
        self.unknown_since_ns = 0
        old = self.state
        if old is St.REJECTED:
            return False
        # ``_move("reject")``, inline (every reject): the table has no restore for "reject", so
        # a missing entry raises in ``transition`` and the state stays
        nxt = TRANSITIONS.get((old, "reject"))
        self.state = nxt if nxt is not None else transition(old, "reject", self.previous_state)
        if old not in PENDING:
            self.previous_state = old
        self.reject_reason = reason
        if not self.done_ns:
            self.done_ns = now_ns
        return True

    def infer_reject(self, now_ns: int) -> bool:
        """The venue kept answering "not found" past its bound: REJECTED, reason ``inferred``.

        Return True if the state changed. A later ack, fill or status may still ``revive`` it.
        """
        changed = self.apply_reject("inferred", now_ns)
        if changed:
            self.inferred = True
        return changed

    def revive(self) -> bool:
        """An inferred reject the venue contradicts: REJECTED -> ACCEPTED (a reconciliation).

        Return True if it happened (only for an inferred reject still REJECTED); the caller then
        applies the venue's report as usual and raises the alarm.
        """
        if not self.inferred or self.state is not St.REJECTED:
            return False
        self._move("reconcile")
        self.inferred = False
        self.reject_reason = ""
        self.done_ns = 0
        self.notfound = 0
        return True

    def request_cancel(self, now_ns: int) -> bool:
        """A cancel is being sent; return False if the order is not open."""
        if not self.is_open:
            return False
        self._move("cancel_request")
        self.cancel_sent_ns = now_ns
        return True

    def apply_cancel_reject(self, reason: str) -> bool:
        """The venue refused the cancel; restore the previous state if one is pending."""
        if self.state is not St.PENDING_CANCEL:
            return False  # stale: the order moved on (filled, closed) since the cancel left
        self._move("cancel_reject")
        return True


__all__ = [
    "EVENTS",
    "LATE_FILL_FROM",
    "PENDING",
    "TERMINAL",
    "TRANSITIONS",
    "FillResult",
    "LegTimer",
    "LiveOrder",
    "OrderState",
    "St",
    "is_terminal",
    "transition",
]
