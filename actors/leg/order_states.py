"""The order state machine: the states and the legal transition table, without any order.

Modelled on NautilusTrader's ``OrderStatus::transition`` and trimmed as in
``notes/fault-catalogue.md`` §6 (no emulated, released or triggered states). What the table
allows, for money safety:

- no "unknown" state: an unknown outcome is a flag on the order (``actors.leg.orders``);
- a late fill after CANCELED or EXPIRED is a legal move (to PARTIALLY_FILLED/FILLED, as in
  Nautilus): an IOC remainder is reported ``expired`` by some venues, and a fill reordered
  behind that ``done`` is the same real-world event as a fill after a cancel;
- SUBMITTED -> EXPIRED is legal: the venue may expire an IOC before its ack reaches us;
- REJECTED -> ACCEPTED (``reconcile``) only for a reject we inferred and the venue contradicts.

One order's record that walks this table is ``actors.leg.orders.LiveOrder``.
"""

from __future__ import annotations

from enum import Enum

from transports.errors import IllegalTransition


class OrderState(Enum):
    """The life of one order (FIX / NautilusTrader names)."""

    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    PENDING_UPDATE = "PENDING_UPDATE"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    FILLED = "FILLED"

    # Members are singletons compared by identity; Enum's own ``__hash__`` hashes the name in
    # Python code, which made every ``state in TERMINAL`` and transition-table lookup a Python
    # call on the order path. The identity hash is consistent with identity equality.
    __hash__ = object.__hash__


S = OrderState


class St:
    """The ``OrderState`` members as plain class attributes, for the per-order paths:
    ``OrderState.X`` is a lookup through the enum's metaclass (about 0.1 µs each on the
    reference VM), ``St.X`` an ordinary attribute read of the very same member."""

    INITIALIZED, DENIED, SUBMITTED = S.INITIALIZED, S.DENIED, S.SUBMITTED
    ACCEPTED, PARTIALLY_FILLED = S.ACCEPTED, S.PARTIALLY_FILLED
    PENDING_CANCEL, PENDING_UPDATE = S.PENDING_CANCEL, S.PENDING_UPDATE
    CANCELED, REJECTED, EXPIRED, FILLED = S.CANCELED, S.REJECTED, S.EXPIRED, S.FILLED

#: every event the table knows
EVENTS = ("deny", "submit", "accept", "reject", "fill_partial", "fill_full", "cancel_request",
          "cancel_reject", "canceled", "expired", "update_request", "update_reject", "updated",
          "reconcile")

TERMINAL = frozenset({S.DENIED, S.REJECTED, S.CANCELED, S.EXPIRED, S.FILLED})
PENDING = frozenset({S.PENDING_CANCEL, S.PENDING_UPDATE})
#: states whose next event may be a late fill (the venue closed the order, then a fill came)
LATE_FILL_FROM = frozenset({S.CANCELED, S.EXPIRED})

#: (state, event) -> next state; ``None`` means "back to the previous state" (Cancel/ModifyRejected)
TRANSITIONS: dict[tuple[OrderState, str], OrderState | None] = {
    # local; accept/reject/canceled/expired only when reconciling an order found at the venue
    (S.INITIALIZED, "deny"): S.DENIED,
    (S.INITIALIZED, "submit"): S.SUBMITTED,
    (S.INITIALIZED, "accept"): S.ACCEPTED,
    (S.INITIALIZED, "reject"): S.REJECTED,
    (S.INITIALIZED, "canceled"): S.CANCELED,
    (S.INITIALIZED, "expired"): S.EXPIRED,
    # in flight
    (S.SUBMITTED, "accept"): S.ACCEPTED,
    (S.SUBMITTED, "reject"): S.REJECTED,
    (S.SUBMITTED, "canceled"): S.CANCELED,  # IOC/FOK closed before the ack arrived
    (S.SUBMITTED, "expired"): S.EXPIRED,  # ours: the same, reported as "expired"
    (S.SUBMITTED, "fill_partial"): S.PARTIALLY_FILLED,  # fill before ack
    (S.SUBMITTED, "fill_full"): S.FILLED,
    (S.SUBMITTED, "cancel_request"): S.PENDING_CANCEL,
    (S.SUBMITTED, "update_request"): S.PENDING_UPDATE,
    (S.SUBMITTED, "updated"): S.SUBMITTED,
    # open
    (S.ACCEPTED, "fill_partial"): S.PARTIALLY_FILLED,
    (S.ACCEPTED, "fill_full"): S.FILLED,
    (S.ACCEPTED, "cancel_request"): S.PENDING_CANCEL,
    (S.ACCEPTED, "update_request"): S.PENDING_UPDATE,
    (S.ACCEPTED, "canceled"): S.CANCELED,
    (S.ACCEPTED, "expired"): S.EXPIRED,
    (S.ACCEPTED, "reject"): S.REJECTED,  # rare post-accept reject
    (S.ACCEPTED, "accept"): S.ACCEPTED,
    (S.ACCEPTED, "updated"): S.ACCEPTED,
    (S.PARTIALLY_FILLED, "fill_partial"): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, "fill_full"): S.FILLED,
    (S.PARTIALLY_FILLED, "cancel_request"): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, "update_request"): S.PENDING_UPDATE,
    (S.PARTIALLY_FILLED, "canceled"): S.CANCELED,
    (S.PARTIALLY_FILLED, "expired"): S.EXPIRED,
    (S.PARTIALLY_FILLED, "accept"): S.ACCEPTED,
    (S.PARTIALLY_FILLED, "updated"): S.PARTIALLY_FILLED,
    (S.PENDING_CANCEL, "canceled"): S.CANCELED,
    (S.PENDING_CANCEL, "fill_partial"): S.PARTIALLY_FILLED,
    (S.PENDING_CANCEL, "fill_full"): S.FILLED,
    (S.PENDING_CANCEL, "expired"): S.EXPIRED,
    (S.PENDING_CANCEL, "reject"): S.REJECTED,
    (S.PENDING_CANCEL, "accept"): S.ACCEPTED,  # the cancel failed
    (S.PENDING_CANCEL, "cancel_reject"): None,
    (S.PENDING_CANCEL, "cancel_request"): S.PENDING_CANCEL,
    (S.PENDING_UPDATE, "accept"): S.ACCEPTED,
    (S.PENDING_UPDATE, "updated"): S.ACCEPTED,
    (S.PENDING_UPDATE, "canceled"): S.CANCELED,
    (S.PENDING_UPDATE, "expired"): S.EXPIRED,
    (S.PENDING_UPDATE, "reject"): S.REJECTED,
    (S.PENDING_UPDATE, "fill_partial"): S.PARTIALLY_FILLED,
    (S.PENDING_UPDATE, "fill_full"): S.FILLED,
    (S.PENDING_UPDATE, "cancel_request"): S.PENDING_CANCEL,
    (S.PENDING_UPDATE, "update_reject"): None,
    (S.PENDING_UPDATE, "update_request"): S.PENDING_UPDATE,
    # closed, but a late fill is a real-world possibility
    (S.CANCELED, "fill_partial"): S.PARTIALLY_FILLED,
    (S.CANCELED, "fill_full"): S.FILLED,
    (S.EXPIRED, "fill_partial"): S.PARTIALLY_FILLED,
    (S.EXPIRED, "fill_full"): S.FILLED,
    # an *inferred* reject (an unknown outcome the venue kept answering "not found" for past its
    # bound) that the venue later contradicts with an ack, a fill or a status: the order existed.
    # ``LiveOrder.revive`` only fires it for inferred rejects, and the caller alarms it.
    (S.REJECTED, "reconcile"): S.ACCEPTED,
}



def is_terminal(state: OrderState) -> bool:
    """Return True for closed states (DENIED, REJECTED, CANCELED, EXPIRED, FILLED)."""
    return state in TERMINAL


def transition(state: OrderState, event: str, previous: OrderState | None = None) -> OrderState:
    """Return the state after ``event``; raise ``IllegalTransition`` if the table forbids it.

    ``previous`` is the state a cancel/update reject restores.
    """
    try:
        nxt = TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"{state.value} --{event}-> (not in the table)") from None
    if nxt is None:
        if (
            previous is None
            or previous in TERMINAL
            or previous in PENDING
            or previous is St.INITIALIZED
        ):
            raise IllegalTransition(f"{state.value} --{event}-> no previous state to restore")
        return previous
    return nxt


__all__ = [
    "EVENTS",
    "LATE_FILL_FROM",
    "PENDING",
    "TERMINAL",
    "TRANSITIONS",
    "OrderState",
    "St",
    "is_terminal",
    "transition",
]
