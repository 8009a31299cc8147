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

from decimal import Decimal
from functools import cache
from typing import Any

from actors.combo.legging import _EPS, LegView, Top, book_mid, round_lots
from transports.config.engine import ContractConfig, PairConfig
from transports.wire.messages import ComboIntent


@cache
def tick_size(tick: str) -> float:
    """A contract's decimal tick string as a float (parsed once per distinct string)."""
    return float(Decimal(tick))



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


class ContractInfo:
    """What a combo leg needs from its contract, worked out once per contract."""

    __slots__ = ("base_per_lot", "contract", "dest", "fee", "tick_value")

    def __init__(self, contract: ContractConfig) -> None:
        self.contract = contract
        self.tick_value = tick_size(contract.tick) * contract.multiplier  #: contract ccy
        self.fee = contract.fee_per_lot
        #: underlying base units per lot (the multiplier if the contract does not say)
        self.base_per_lot = (
            contract.base_per_lot if contract.base_per_lot > 0 else contract.multiplier
        )
        self.dest = f"leg.{contract.venue}"  #: the LegExecutor that trades it


class LegRecord:
    """One leg of a combo as the intent asked for it."""

    __slots__ = ("expected_px", "info", "key", "limit_px", "side", "sign", "target")

    def __init__(self, key: str, side: str, target: int, limit_px: int, expected_px: float,
                 contract: ContractConfig, info: ContractInfo | None = None) -> None:
        self.key = key
        self.side = side
        self.target = target
        self.limit_px = limit_px
        self.expected_px = expected_px
        self.info = info if info is not None and info.contract is contract else \
            ContractInfo(contract)
        self.sign = 1 if side == "B" else -1  #: +1 for a bought leg, -1 for a sold one

    contract = property(lambda self: self.info.contract, doc="The leg's contract.")
    tick_value = property(lambda self: self.info.tick_value,
                          doc="Money per tick per lot, in the contract's currency.")
    fee = property(lambda self: self.info.fee, doc="Fee per lot, in the contract's currency.")
    base_per_lot = property(lambda self: self.info.base_per_lot,
                            doc="Underlying base units per lot (else the multiplier).")
    dest = property(lambda self: self.info.dest, doc="The LegExecutor that trades this leg.")


def legs_from_intent(intent: ComboIntent, pair: PairConfig | None,
                     contracts: dict[str, ContractConfig],
                     infos: dict[str, ContractInfo] | None = None) -> dict[int, LegRecord] | str:
    """Return the intent's legs by index, or the reason the intent is refused.

    ``infos`` caches a ``ContractInfo`` per contract key (filled here; an entry is used only
    while it describes the very contract object ``contracts`` holds).
    """
    if pair is None:
        return "unknown_pair"
    if not 1 <= len(intent.legs) <= 2:
        return "bad_leg_count"
    legs: dict[int, LegRecord] = {}
    for spec in intent.legs:
        key = f"{spec.venue}:{spec.sym}"
        i = 0 if key == pair.leg_a else 1 if key == pair.leg_b else -1
        contract = contracts.get(key)
        if i < 0 or i in legs or contract is None:
            return f"bad_leg:{key}"
        if spec.qty_lots <= 0:
            return f"bad_qty:{key}"
        info = None
        if infos is not None:
            info = infos.get(key)
            if info is None or info.contract is not contract:
                info = infos[key] = ContractInfo(contract)
        legs[i] = LegRecord(
            key,
            spec.side,
            spec.qty_lots,
            spec.limit_px_ticks,
            spec.expected_px_ticks,
            contract,
            info,
        )
    if len(legs) == 2 and legs[0].side == legs[1].side:
        return "legs_same_side"
    return legs


class LegTable:
    """``legs_from_intent`` for one pair, with the per-leg lookups cached.

    An intent whose every leg is one of the pair's legs, once each, with a positive quantity
    and (for two legs) opposite sides is built from the cache; anything else goes through
    ``legs_from_intent``, so a refusal and its reason are the function's. A cache entry is used
    only while ``pairs`` and ``contracts`` still hold the very objects it was built from.
    """

    __slots__ = ("_by_name", "contracts", "infos", "pairs")

    def __init__(
        self, pairs: dict[str, PairConfig], contracts: dict[str, ContractConfig]
    ) -> None:
        self.pairs = pairs
        self.contracts = contracts
        self.infos: dict[str, ContractInfo] = {}
        #: pair name -> (pair, {(venue, sym): (leg index, key, info)})
        self._by_name: dict[str, tuple[PairConfig, dict[tuple[str, str], tuple[Any, ...]]]] = {}

    def _entries(self, pair: PairConfig) -> dict[tuple[str, str], tuple[Any, ...]]:
        got = self._by_name.get(pair.name)
        if got is not None and got[0] is pair:
            return got[1]
        entries: dict[tuple[str, str], tuple[Any, ...]] = {}
        for i, key in ((0, pair.leg_a), (1, pair.leg_b)):
            contract = self.contracts.get(key)
            if contract is not None and (contract.venue, contract.sym) not in entries \
                    and f"{contract.venue}:{contract.sym}" == key:
                entries[(contract.venue, contract.sym)] = (i, key, ContractInfo(contract))
        self._by_name[pair.name] = (pair, entries)
        return entries

    def legs(self, intent: ComboIntent) -> tuple[PairConfig | None, dict[int, LegRecord] | str]:
        """Return the intent's pair and its legs by index (or the reason it is refused)."""
        pair = self.pairs.get(intent.pair)
        specs = intent.legs
        if pair is None or not 1 <= len(specs) <= 2:
            return pair, legs_from_intent(intent, pair, self.contracts, self.infos)
        got = self._by_name.get(intent.pair)
        entries = got[1] if got is not None and got[0] is pair else self._entries(pair)
        legs: dict[int, LegRecord] = {}
        for spec in specs:
            e = entries.get((spec.venue, spec.sym))
            if e is None or e[0] in legs or spec.qty_lots <= 0 \
                    or self.contracts.get(e[1]) is not e[2].contract:
                return pair, legs_from_intent(intent, pair, self.contracts, self.infos)
            leg = LegRecord.__new__(LegRecord)  # the same fields ``LegRecord()`` sets
            leg.key = e[1]
            leg.side = spec.side
            leg.target = spec.qty_lots
            leg.limit_px = spec.limit_px_ticks
            leg.expected_px = spec.expected_px_ticks
            leg.info = e[2]
            leg.sign = 1 if spec.side == "B" else -1
            legs[e[0]] = leg
        if len(legs) == 2 and legs[0].side == legs[1].side:
            return pair, "legs_same_side"
        return pair, legs


class ComboRecord:
    """Everything the executor knows about one combo.

    The lots held per leg and the count of orders still open are kept as running totals
    (updated by ``add_order``, ``add_fill``, ``set_final`` and ``close``), so the checks an
    ExecReport triggers cost O(legs), not O(orders).
    """

    __slots__ = ("_exp", "_held", "_open", "_target", "_tolerance", "_zero", "attempts",
                 "avoid_unwind", "chases", "created_ns", "intent", "last_step",
                 "legs", "no_chase", "orders", "pair", "paused", "repairing", "reported_held",
                 "round_steps", "rounds", "state", "steps", "tids", "timer_arg",
                 "unhedged_since_ns", "waiting")

    def __init__(self, intent: ComboIntent, pair: PairConfig | None, legs: dict[int, LegRecord],
                 now_ns: int) -> None:
        self.intent = intent
        self.pair = pair
        self.legs = legs
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
        d = o.filled - before
        leg = self.legs.get(o.leg)
        if d and leg is not None:
            self._held[o.leg] += d if o.side == leg.side else -d

    def add_fill(self, o: OrderRecord, qty: int, px: int) -> None:
        """Apply one (deduped) fill of ``qty`` lots at ``px`` ticks to ``o``."""
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
        if i not in self.legs:
            return 0
        return self._held[i]

    def entry_avg(self, i: int) -> float:
        """Average price (ticks) of the fills that built what leg ``i`` holds now."""
        leg = self.legs[i]
        side = leg.side if self.held(i) >= 0 else ("S" if leg.side == "B" else "B")
        mine = [o for o in self.orders.values() if o.leg == i and o.side == side]
        lots = sum(o.fill_lots for o in mine)
        return sum(o.notional for o in mine) / lots if lots else 0.0

    def entry_slippage(self, i: int) -> tuple[float, int]:
        """(sum of (fill - expected) x lots in ticks, positive = worse; lots) of leg ``i``'s
        entry fills against the price the decision expected."""
        leg = self.legs.get(i)
        if leg is None:
            return 0.0, 0
        lots = notional = 0
        for o in self.orders.values():
            if o.leg == i and o.purpose == "entry":
                lots += o.fill_lots
                notional += o.notional
        if not lots:
            return 0.0, 0
        sign = 1.0 if leg.side == "B" else -1.0
        return sign * (notional - leg.expected_px * lots), lots

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

    def views(self, books: dict[str, Top], contracts: dict[str, ContractConfig]) -> list[LegView]:
        """The planner's view of both legs, money in leg A's currency."""
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
        return sum([s * h[i] * b for i, s, b in exp])

    def flat(self) -> bool:
        """True when no whole-lot move would reduce the exposure (single legs always are).

        ``legging.is_flat`` of the legs, on the running totals.
        """
        if len(self.legs) < 2:
            return True
        exp = self._exp if self._exp is not None else self._prepare()
        if self._target:
            e = abs(self.residual() - self._target)
            return all(round_lots(e / b) == 0 for _, _, b in exp)
        e = abs(self.residual())
        if e <= self._tolerance + _EPS:
            return True
        return all(round_lots(e / b) == 0 for _, _, b in exp)


__all__ = [
    "ComboRecord",
    "ContractInfo",
    "LegRecord",
    "LegTable",
    "OrderRecord",
    "legs_from_intent",
    "tick_size",
]
