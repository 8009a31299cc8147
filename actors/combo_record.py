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
from functools import lru_cache

from actors.legging import _EPS, LegView, Top, round_lots
from transports.config import ContractConfig, PairConfig
from transports.messages import ComboIntent


@lru_cache(maxsize=None)
def tick_size(tick: str) -> float:
    """A contract's decimal tick string as a float (parsed once per distinct string)."""
    return float(Decimal(tick))


class OrderRecord:
    """One LegOrder a combo sent, as its ExecReports tell it.

    ``fill_lots``, ``final_cum`` and ``terminal`` change only through the owning
    ``ComboRecord`` (``add_fill``, ``set_final``, ``close``), which keeps its running totals.
    """

    __slots__ = (
        "cancel_sent",
        "cl",
        "fill_lots",
        "final_cum",
        "leg",
        "notional",
        "purpose",
        "qty",
        "side",
        "state",
        "terminal",
    )

    def __init__(self, leg: int, side: str, qty: int, purpose: str) -> None:
        self.leg, self.side, self.qty, self.purpose = leg, side, qty, purpose
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


class LegRecord:
    """One leg of a combo as the intent asked for it."""

    __slots__ = (
        "_base",
        "_sign",
        "contract",
        "dest",
        "expected_px",
        "fee",
        "key",
        "limit_px",
        "side",
        "target",
        "tick_value",
    )

    def __init__(
        self,
        key: str,
        side: str,
        target: int,
        limit_px: int,
        expected_px: float,
        contract: ContractConfig,
    ) -> None:
        self.key, self.side, self.target = key, side, target
        self.limit_px, self.expected_px, self.contract = limit_px, expected_px, contract
        self.tick_value = tick_size(contract.tick) * contract.multiplier  #: contract ccy
        self.fee = contract.fee_per_lot
        self._base = contract.base_per_lot if contract.base_per_lot > 0 else contract.multiplier
        self._sign = 1 if side == "B" else -1
        self.dest = f"leg.{contract.venue}"  #: the LegExecutor that trades this leg

    @property
    def base_per_lot(self) -> float:
        """Underlying base units per lot (the multiplier if the contract does not say)."""
        return self._base

    @property
    def sign(self) -> int:
        """+1 for a bought leg, -1 for a sold one."""
        return self._sign


def legs_from_intent(
    intent: ComboIntent, pair: PairConfig | None, contracts: dict[str, ContractConfig]
) -> dict[int, LegRecord] | str:
    """Return the intent's legs by index, or the reason the intent is refused."""
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
        legs[i] = LegRecord(
            key, spec.side, spec.qty_lots, spec.limit_px_ticks, spec.expected_px_ticks, contract
        )
    if len(legs) == 2 and legs[0].side == legs[1].side:
        return "legs_same_side"
    return legs


class ComboRecord:
    """Everything the executor knows about one combo.

    The lots held per leg and the count of orders still open are kept as running totals
    (updated by ``add_order``, ``add_fill``, ``set_final`` and ``close``), so the checks an
    ExecReport triggers cost O(legs), not O(orders).
    """

    __slots__ = (
        "_exp",
        "_held",
        "_open",
        "_tolerance",
        "attempts",
        "budget_key",
        "chases",
        "created_ns",
        "intent",
        "last_step",
        "legs",
        "no_chase",
        "orders",
        "pair",
        "paused",
        "repairing",
        "reported_held",
        "round_steps",
        "rounds",
        "state",
        "step_key",
        "steps",
        "tids",
        "unhedged_since_ns",
        "waiting",
    )

    def __init__(
        self,
        intent: ComboIntent,
        pair: PairConfig | None,
        legs: dict[int, LegRecord],
        now_ns: int,
    ) -> None:
        self.intent = intent
        self.pair = pair
        self.legs = legs
        self.state = "working"
        self.orders: dict[tuple[int, int], OrderRecord] = {}
        self.attempts = dict.fromkeys(legs, 0)
        self.tids: set[tuple[str, str]] = set()  #: (venue, trade id) already applied
        self.repairing = False
        self.rounds = 0
        self.chases = 0
        self.steps = 0
        self.no_chase: set[int] = set()  #: legs with a rejected/denied order: never chased
        self.waiting = False  #: a repair step waits for a book
        self.paused = False  #: the last unwind traded nothing: next step on the step timer
        self.last_step: OrderRecord | None = None  #: the last repair order sent
        self.round_steps = 0  #: repair orders sent in this round
        self.unhedged_since_ns: int | None = None
        self.reported_held = (0, 0)  #: held lots in the last ComboState sent
        self.created_ns = now_ns
        self.step_key = f"step:{intent.combo_id}"  #: timer keys
        self.budget_key = f"budget:{intent.combo_id}"
        self._held = [0, 0]  #: net lots held per leg index (legs are 0 and 1)
        self._open = 0  #: orders not closed yet
        #: (leg index, sign, base units per lot) in the legs' order, for the exposure sum
        self._exp = tuple((i, leg._sign, leg._base) for i, leg in legs.items())
        #: the intent's own residual: what a complete fill of the target leaves (base units)
        self._tolerance = abs(sum(leg.sign * leg.target * leg.base_per_lot for leg in legs.values()))

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
            mid = top.mid() if top is not None else None
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
        return self._tolerance

    def residual(self) -> float:
        """The combo's signed net exposure in base units (``legging.exposure`` of the legs)."""
        h = self._held
        return sum([s * h[i] * b for i, s, b in self._exp])

    def flat(self) -> bool:
        """True when no whole-lot move would reduce the exposure (single legs always are).

        ``legging.is_flat`` of the legs, on the running totals.
        """
        if len(self.legs) < 2:
            return True
        e = abs(self.residual())
        if e <= self._tolerance + _EPS:
            return True
        return all(round_lots(e / b) == 0 for _, _, b in self._exp)


__all__ = ["ComboRecord", "LegRecord", "OrderRecord", "legs_from_intent", "tick_size"]
