"""What the ComboExecutor records per combo, and how it values a combo's holdings.

A combo has one or two legs (index 0 = the pair's leg A, 1 = leg B) and the orders it sent, keyed
by (leg, attempt), as their ``ExecReport``\\s tell them. The lots a combo *holds* on a leg are
known from fills (deduped by trade id), or from the venue's final quantity in ``done`` when a
fill is still in flight -- never guessed -- counted in the direction of the intent's side (an
unwind counts negative). Money is valued in leg A's currency: leg B's through the FX book when
the host routes it to the executor, otherwise through the rate implied by the intent's own
expected prices (``parity = P_b * FX * unit_factor * (1 + tax) + premium`` is what the strategy
priced against, so ``FX = (P_a - premium) / (P_b * unit_factor * (1 + tax))`` within the edge).
"""

from __future__ import annotations

from typing import Any

from actors.combo.legging import _EPS, LegView, Top, book_mid, round_lots

# the legs moved to ``actors.combo.legs``; their names stay importable here, where the
# checkpoints pickled before the move find them
from actors.combo.legs import (
    ContractInfo,
    LegRecord,
    LegTable,
    PairLegs,
    legs_from_intent,
    tick_size,
)
from transports.config.engine import ContractConfig, PairConfig
from transports.wire.messages import ComboIntent


class ComboTimer:
    """The ComboExecutor's timer keys; the combo id is the timer's ``arg``."""

    STEP = "step"  #: an order's step timeout (an IOC past it is cancelled), or a paced retry
    BUDGET = "budget"  #: the hedge budget of a repair ran out: the combo fails


class OrderRecord:
    """One LegOrder a combo sent, as its ExecReports tell it.

    ``fill_lots``, ``final_cum`` and ``terminal`` change only through the owning
    ``ComboRecord`` (``add_fill``, ``set_final``, ``close``), which keeps its running totals.
    """

    __slots__ = ("cancel_sent", "cl", "fill_lots", "final_cum", "leg", "notional", "purpose",
                 "qty", "side", "state", "terminal")

    def __init__(self, leg: int, side: str, qty: int, purpose: str) -> None:
        self.leg = leg
        self.side = side
        self.qty = qty
        self.purpose = purpose
        self.cl = ""
        self.state = "INITIALIZED"
        self.fill_lots = 0  #: sum of deduped fills
        self.notional = 0  #: sum of px * qty over those fills
        self.final_cum = 0  #: the venue's final quantity from ``done``
        self.terminal = False
        self.cancel_sent = False

    @property
    def filled(self) -> int:
        """Lots this order traded: its fills, or the venue's final cum if fills are in flight."""
        return max(self.fill_lots, self.final_cum)


class ComboRecord:
    """Everything the executor knows about one combo.

    The lots held per leg and the count of orders still open are kept as running totals
    (updated by ``add_order``, ``add_fill``, ``set_final`` and ``close``), so the checks an
    ExecReport triggers cost O(legs), not O(orders). The legs of a record that
    ``actors.combo.intake.open_pair_combo`` built are made from its intent when first read
    (``legs``): an intent the venue rejects outright is decided without them.
    """

    __slots__ = ("_exp", "_held", "_legs", "_open", "_pl", "_target", "_tolerance", "_zero",
                 "attempts", "avoid_unwind", "chases", "created_ns", "intent", "last_step",
                 "no_chase", "orders", "pair", "paused", "repairing", "reported_held",
                 "round_steps", "rounds", "state", "steps", "tids", "timer_arg",
                 "unhedged_since_ns", "waiting")

    def __init__(self, intent: ComboIntent, pair: PairConfig | None, legs: dict[int, LegRecord],
                 now_ns: int) -> None:
        self.intent = intent
        self.pair = pair
        self._legs: dict[int, LegRecord] | None = legs
        self._pl: PairLegs | None = None  #: builds ``legs`` from the intent while they are None
        self.state = "working"
        self.orders: dict[tuple[int, int], OrderRecord] = {}
        self.attempts = [0, 0]  #: orders sent per leg index (legs are 0 and 1)
        #: (venue, trade id) already applied; None until the first fill
        self.tids: set[tuple[str, str]] | None = None
        self.repairing = False
        self.rounds = 0
        self.chases = 0
        self.steps = 0
        #: legs with a rejected/denied order: never chased; None until the first refusal
        self.no_chase: set[int] | None = None
        #: legs where our own checks denied an unwind: other moves first; None until one
        self.avoid_unwind: set[int] | None = None
        self.waiting = False  #: a repair step waits for a book
        self.paused = False  #: the last unwind traded nothing: next step on the step timer
        self.last_step: OrderRecord | None = None  #: the last repair order sent
        self.round_steps = 0  #: repair orders sent in this round
        self.unhedged_since_ns: int | None = None
        self.reported_held = (0, 0)  #: held lots in the last ComboState sent
        self.created_ns = now_ns
        self.timer_arg = str(intent.combo_id)  #: ``SetTimer.arg`` of the combo's timers
        self._held = [0, 0]  #: net lots held per leg index (legs are 0 and 1)
        self._open = 0  #: orders not closed yet
        # the exposure of zero holdings, summed as ``sum`` over the legs would (with two legs
        # the order of the two terms cannot change a float sum: IEEE addition commutes)
        if len(legs) == 2:
            self._zero = 0 + legs[0].sign * 0 * legs[0].info.base_per_lot \
                + legs[1].sign * 0 * legs[1].info.base_per_lot
        else:
            zero = 0
            for leg in legs.values():
                zero += leg.sign * 0 * leg.info.base_per_lot
            self._zero = zero
        #: (leg index, sign, base units per lot) per leg, worked out when first needed
        self._exp: tuple[tuple[int, int, float], ...] | None = None
        self._tolerance = 0.0
        self._target = 0.0

    def __setstate__(self, state: Any) -> None:
        """A checkpoint's record (pickled; slots only); one written before the legs were made
        lazily has them in ``legs``."""
        slots = dict((state[1] if isinstance(state, tuple) else state) or {})
        if "legs" in slots:
            slots["_legs"] = slots.pop("legs")
        slots.setdefault("_pl", None)
        for k, v in slots.items():
            setattr(self, k, v)

    @property
    def legs(self) -> dict[int, LegRecord]:
        """The combo's legs by index (0 = leg A, 1 = leg B)."""
        legs = self._legs
        if legs is None:
            assert self._pl is not None
            legs = self._legs = self._pl.legs_of(self.intent)
        return legs

    @legs.setter
    def legs(self, value: dict[int, LegRecord]) -> None:
        self._legs = value

    def _prepare(self) -> tuple[tuple[int, int, float], ...]:
        """Work out the exposure terms and the intent's own residual (what a complete fill of
        the target leaves, base units), summed as ``sum`` over the legs would."""
        legs = self.legs
        tol = 0
        for leg in legs.values():
            tol += leg.sign * leg.target * leg.info.base_per_lot
        self._tolerance = abs(tol)
        self._exp = tuple((i, leg.sign, leg.info.base_per_lot) for i, leg in legs.items())
        # An intent whose legs do not match (a close of holdings a failed combo left uneven)
        # must end at its own exposure, not anywhere within it: its target is that exposure.
        # Lot-ratio intents (|residual| under half the smallest lot) keep the tolerance rule.
        half_lot = min((b for _, _, b in self._exp), default=0.0) / 2
        self._target = float(tol) if len(legs) == 2 and abs(tol) > half_lot else 0.0
        return self._exp

    def target(self) -> float:
        """The exposure an uneven intent must end at (base units, signed); 0 for a lot-ratio
        intent, which ends flat within its own residual (``tolerance``)."""
        if self._exp is None:
            self._prepare()
        return self._target

    @property
    def combo_id(self) -> int:
        """The intent's combo id."""
        return self.intent.combo_id

    # --- order bookkeeping (the only writers of an OrderRecord's quantities and closed flag) --

    def add_order(self, key: tuple[int, int], o: OrderRecord) -> None:
        """Record an order just sent."""
        self.orders[key] = o
        if not o.terminal:
            self._open += 1

    def _moved(self, o: OrderRecord, before: int) -> None:
        fill_lots, final_cum = o.fill_lots, o.final_cum  # ``o.filled``, inline
        d = (fill_lots if fill_lots > final_cum else final_cum) - before
        if not d:
            return
        i = o.leg
        legs = self._legs
        if legs is None:
            # a lean record's legs are not made yet (``intake``): leg i is the intent's i-th
            # spec (``PairLegs.legs_of``), so its side is read there and no leg is built
            if i != 0 and i != 1:
                return
            side = self.intent.legs[i].side
        else:
            leg = legs.get(i)
            if leg is None:
                return
            side = leg.side
        self._held[i] += d if o.side == side else -d

    def add_fill(self, o: OrderRecord, qty: int, px: int) -> None:
        """Apply one (deduped) fill of ``qty`` lots at ``px`` ticks to ``o``.

        Called once the fill's trade id is in ``tids``: a record whose ``tids`` is None has no
        fill lots on any order (``ComboLedger.state`` relies on it)."""
        before = o.filled
        o.fill_lots += qty
        o.notional += px * qty
        self._moved(o, before)

    def set_final(self, o: OrderRecord, cum: int) -> None:
        """The venue closed ``o`` having traded ``cum`` lots (fills may still be in flight)."""
        before = o.filled
        o.final_cum = max(o.final_cum, cum)
        self._moved(o, before)

    def close(self, o: OrderRecord) -> None:
        """Mark ``o`` closed."""
        if not o.terminal:
            o.terminal = True
            self._open -= 1

    # --- views -----------------------------------------------------------------------------------

    def held(self, i: int) -> int:
        """Net lots held on leg ``i`` in the intent's direction."""
        # a leg the combo lacks never moves from 0 (``_moved``)
        return self._held[i] if i == 0 or i == 1 else 0

    def entry_avg(self, i: int) -> float:
        """Average price (ticks) of the fills that built what leg ``i`` holds now."""
        leg = self.legs[i]
        side = leg.side if self.held(i) >= 0 else ("S" if leg.side == "B" else "B")
        mine = [o for o in self.orders.values() if o.leg == i and o.side == side]
        lots = sum(o.fill_lots for o in mine)
        return sum(o.notional for o in mine) / lots if lots else 0.0

    def entry_slippages(self) -> tuple[float, int, float, int]:
        """``entry_slippage(0)`` and ``entry_slippage(1)`` in one pass over the orders (the
        same sums: each leg's orders are added in the same order)."""
        lots_a = notional_a = lots_b = notional_b = 0
        for o in self.orders.values():
            if o.purpose == "entry":
                if o.leg == 0:
                    lots_a += o.fill_lots
                    notional_a += o.notional
                elif o.leg == 1:
                    lots_b += o.fill_lots
                    notional_b += o.notional
        slip_a = self._slippage(0, notional_a, lots_a) if lots_a else 0.0
        slip_b = self._slippage(1, notional_b, lots_b) if lots_b else 0.0
        return slip_a, lots_a, slip_b, lots_b

    def _slippage(self, i: int, notional: int, lots: int) -> float:
        legs = self._legs
        if legs is None:  # a lean record: leg i is the intent's i-th spec (see ``_moved``)
            spec = self.intent.legs[i]
            side, expected_px = spec.side, spec.expected_px_ticks
        else:
            leg = legs[i]
            side, expected_px = leg.side, leg.expected_px
        sign = 1.0 if side == "B" else -1.0
        return sign * (notional - expected_px * lots)

    def entry_slippage(self, i: int) -> tuple[float, int]:
        """(sum of (fill - expected) x lots in ticks, positive = worse; lots) of leg ``i``'s
        entry fills against the price the decision expected."""
        lots = notional = 0
        for o in self.orders.values():  # orders exist only on the combo's legs
            if o.leg == i and o.purpose == "entry":
                lots += o.fill_lots
                notional += o.notional
        if not lots:
            return 0.0, 0
        return self._slippage(i, notional, lots), lots

    def all_terminal(self) -> bool:
        """True when every order the combo sent is closed."""
        return self._open == 0

    def fx(self, books: dict[str, Top], contracts: dict[str, ContractConfig]) -> float:
        """Leg B's currency into leg A's: the FX book if there is one, else implied."""
        p = self.pair
        if p is None:
            return 1.0
        if p.fx:
            top, fc = books.get(p.fx), contracts.get(p.fx)
            mid = book_mid(top) if top is not None else None
            if mid and fc is not None:
                rate = mid * tick_size(fc.tick)
                return 1.0 / rate if p.fx_invert else rate
        a, b = self.legs.get(0), self.legs.get(1)
        if a is None or b is None or b.expected_px <= 0:
            return 1.0
        p_a = a.expected_px * tick_size(a.contract.tick)
        p_b = b.expected_px * tick_size(b.contract.tick)
        implied = (p_a - p.premium) / (p_b * p.unit_factor * (1.0 + p.import_tax))
        return implied if implied > 0 else 1.0

    def views(self, books: dict[str, Top], contracts: dict[str, ContractConfig],
              fx: float | None = None) -> list[LegView]:
        """The planner's view of both legs, money in leg A's currency (``fx``: ``self.fx`` of
        the same books and contracts, when the caller has it)."""
        if fx is None:
            fx = self.fx(books, contracts)
        out = []
        for i in (0, 1):
            leg = self.legs[i]
            k = fx if i == 1 else 1.0
            out.append(
                LegView(
                    leg.side,
                    self.held(i),
                    leg.base_per_lot,
                    leg.tick_value * k,
                    leg.fee * k,
                    leg.expected_px,
                    self.entry_avg(i),
                    books.get(leg.key),
                )
            )
        return out

    def tolerance(self) -> float:
        """The intent's own residual: what a complete fill of the target leaves (base units)."""
        if self._exp is None:
            self._prepare()
        return self._tolerance

    def residual(self) -> float:
        """The combo's signed net exposure in base units (``legging.exposure`` of the legs)."""
        h = self._held
        if not (h[0] or h[1]):
            return self._zero
        exp = self._exp if self._exp is not None else self._prepare()
        if len(exp) == 2:  # the same two terms in the same order, without a comprehension
            (i0, s0, b0), (i1, s1, b1) = exp
            return sum([s0 * h[i0] * b0, s1 * h[i1] * b1])
        return sum([s * h[i] * b for i, s, b in exp])

    def flat(self) -> bool:
        """True when no whole-lot move would reduce the exposure (single legs always are).

        ``legging.is_flat`` of the legs, on the running totals.
        """
        exp = self._exp if self._exp is not None else self._prepare()
        if len(exp) < 2:  # one term per leg
            return True
        h = self._held
        if not (h[0] or h[1] or self._target or self._zero):
            # holding nothing: ``|E|`` is the zero exposure, within any tolerance (a NaN zero,
            # from an infinite lot, takes the long way as before)
            return True
        if len(exp) == 2:
            # the two-leg case (every pair's), with ``residual()`` and ``all()`` inline: the
            # same terms summed by ``sum`` in the same order, the same tests in the same order
            (i0, s0, b0), (i1, s1, b1) = exp
            r = sum([s0 * h[i0] * b0, s1 * h[i1] * b1]) if h[0] or h[1] else self._zero
            if self._target:
                e = abs(r - self._target)
            else:
                e = abs(r)
                if e <= self._tolerance + _EPS:
                    return True
            return round_lots(e / b0) == 0 and round_lots(e / b1) == 0
        if self._target:
            e = abs(self.residual() - self._target)
            return all(round_lots(e / b) == 0 for _, _, b in exp)
        e = abs(self.residual())
        if e <= self._tolerance + _EPS:
            return True
        return all(round_lots(e / b) == 0 for _, _, b in exp)


__all__ = [
    "ComboRecord",
    "ComboTimer",
    "ContractInfo",
    "LegRecord",
    "LegTable",
    "OrderRecord",
    "PairLegs",
    "legs_from_intent",
    "tick_size",
]
