"""The lean intake of an intent: the common two-leg intent opened in one step.

``ComboExecutorCore.on_combo_intent`` hands an intent its ``LegTable.lean`` accepted (its
pair's leg A then leg B, well formed) to ``open_pair_combo``, which builds the record the
general path (``LegTable.legs``, ``ComboRecord()``, ``add_order`` of each entry order,
``ComboRecord._prepare``) would, setting the fields directly and taking what does not change
per intent from the pair's ``PairLegs``; the legs are made from the intent only when first
read (an intent the venue rejects outright is decided without them).
"""

from __future__ import annotations

from actors.combo.legs import PairLegs
from actors.combo.record import ComboRecord, OrderRecord
from transports.wire.messages import ComboIntent

_new = object.__new__  # a record without its ``__init__``


def open_pair_combo(intent: ComboIntent, pl: PairLegs, now_ns: int) -> ComboRecord:
    """The record of an intent ``LegTable.lean`` accepted (``pl``), with the entry orders
    that go out at once added: attempt 0 of leg A, and of leg B unless the pair leads with A.

    The same record as ``ComboRecord(intent, pl.pair, LegTable.legs(intent), now_ns)`` with
    ``add_order`` of each entry order and ``_prepare`` done, built in one step: the fields
    are set directly, the exposure terms come from the pair's (``pl``) base units per lot, and
    the legs are made from the intent when first read (``pl.legs_of``).
    """
    s0, s1 = intent.legs
    side_a, side_b = s0.side, s1.side
    target_a, target_b = s0.qty_lots, s1.qty_lots
    c = _new(ComboRecord)  # the fields ``ComboRecord.__init__`` sets
    c.intent = intent
    c.pair = pl.pair
    c._legs = None
    c._pl = pl
    c.state = "working"
    c.tids = c.no_chase = c.avoid_unwind = c.last_step = c.unhedged_since_ns = None
    c.repairing = c.waiting = c.paused = False
    c.rounds = c.chases = c.steps = c.round_steps = 0
    c.reported_held = (0, 0)
    c.created_ns = now_ns
    c.timer_arg = str(intent.combo_id)
    c._held = [0, 0]
    c._zero = pl.zero
    # ``_prepare``: the exposure terms and the intent's own residual, summed in leg order
    if side_a == "B":  # then B is sold: the sides differ
        tol = 0 + target_a * pl.bpl_a + -1 * target_b * pl.bpl_b
        c._exp = pl.exp_a_bought
    elif side_b == "B":
        tol = 0 + -1 * target_a * pl.bpl_a + target_b * pl.bpl_b
        c._exp = pl.exp_a_sold
    else:  # neither side is "B" (not a valid intent, but counted as ``_prepare`` counts it)
        tol = 0 + -1 * target_a * pl.bpl_a + -1 * target_b * pl.bpl_b
        c._exp = ((0, -1, pl.bpl_a), (1, -1, pl.bpl_b))
    c._tolerance = abs(tol)
    c._target = float(tol) if abs(tol) > pl.half_lot else 0.0
    # ``add_order`` of the entry orders (each one open): ``OrderRecord(i, side, qty, "entry")``
    a = _new(OrderRecord)
    a.leg = 0
    a.side = side_a
    a.qty = target_a
    a.purpose = "entry"
    a.cl = ""
    a.state = "INITIALIZED"
    a.fill_lots = a.notional = a.final_cum = 0
    a.terminal = a.cancel_sent = False
    if pl.lead:
        c.orders = {(0, 0): a}
        c.attempts = [1, 0]
        c._open = 1
        return c
    b = _new(OrderRecord)
    b.leg = 1
    b.side = side_b
    b.qty = target_b
    b.purpose = "entry"
    b.cl = ""
    b.state = "INITIALIZED"
    b.fill_lots = b.notional = b.final_cum = 0
    b.terminal = b.cancel_sent = False
    c.orders = {(0, 0): a, (1, 0): b}
    c.attempts = [1, 1]
    c._open = 2
    return c


__all__ = ["open_pair_combo"]
