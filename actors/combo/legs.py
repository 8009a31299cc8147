"""The legs of a combo: what an intent asks of each leg and what the leg's contract says.

``legs_from_intent`` checks an intent's legs against its pair and builds one ``LegRecord`` per
leg (index 0 = the pair's leg A, 1 = leg B), or says why the intent is refused. ``LegTable``
does the same with the per-contract lookups cached, and knows for each pair what a well-formed
two-leg intent needs that does not change from one intent to the next (``PairLegs``): the
ComboExecutor opens such an intent in one lean step (``actors.combo.intake``).
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

from transports.config.engine import ContractConfig, PairConfig
from transports.wire.messages import ComboIntent


@cache
def tick_size(tick: str) -> float:
    """A contract's decimal tick string as a float (parsed once per distinct string)."""
    return float(Decimal(tick))


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


class PairLegs:
    """What a two-leg intent of one pair needs that does not change per intent.

    Built only for a pair whose two legs are distinct contracts that ``contracts`` holds under
    their own "venue:sym" keys. ``zero`` is the exposure of a combo that holds nothing, summed
    over the two legs as ``ComboRecord`` sums it (an int zero for integer base units, else a
    float one), ``state_zero`` that value as a ``ComboState`` carries it, ``half_lot`` half the
    smaller lot in base units (``ComboRecord._prepare``'s test of an uneven intent).
    """

    __slots__ = ("a", "b", "bpl_a", "bpl_b", "budget_ns", "dest_a", "dest_b", "exp_a_bought",
                 "exp_a_sold", "half_lot", "key_a", "key_b", "lead", "pair", "state_zero",
                 "step_ns", "sym_a", "sym_b", "venue_a", "venue_b", "zero")

    def __init__(self, pair: PairConfig, a: ContractInfo, b: ContractInfo) -> None:
        self.pair = pair
        self.a, self.b = a, b  #: leg A's and leg B's contract info
        self.key_a, self.key_b = pair.leg_a, pair.leg_b
        self.venue_a, self.sym_a = a.contract.venue, a.contract.sym
        self.venue_b, self.sym_b = b.contract.venue, b.contract.sym
        self.dest_a, self.dest_b = a.dest, b.dest  #: the LegExecutors that trade them
        self.bpl_a, self.bpl_b = a.base_per_lot, b.base_per_lot
        # ``sign * 0 * base_per_lot`` per leg is ``0 * base_per_lot`` whatever the sign
        self.zero = 0 + 0 * self.bpl_a + 0 * self.bpl_b
        self.state_zero = round(self.zero, 6) if self.zero else self.zero
        self.half_lot = min((self.bpl_a, self.bpl_b)) / 2
        self.lead = pair.legging_mode == "lead"  #: only leg A goes out at once
        self.step_ns = pair.leg_timeout_ms * 1_000_000  #: an order's step timeout
        self.budget_ns = pair.hedge_budget_ms * 1_000_000  #: the hedge budget
        #: ``ComboRecord._exp`` (leg index, sign, base units per lot) of a combo that buys A
        #: and sells B, and of one that sells A and buys B (shared: tuples)
        self.exp_a_bought = ((0, 1, self.bpl_a), (1, -1, self.bpl_b))
        self.exp_a_sold = ((0, -1, self.bpl_a), (1, 1, self.bpl_b))

    def legs_of(self, intent: ComboIntent) -> dict[int, LegRecord]:
        """The legs ``LegTable.legs`` builds for an intent ``LegTable.lean`` accepted."""
        s0, s1 = intent.legs
        pa, pb = self.a, self.b  # the constructor keeps an info whose contract is the leg's
        return {0: LegRecord(self.key_a, s0.side, s0.qty_lots, s0.limit_px_ticks,
                             s0.expected_px_ticks, pa.contract, pa),
                1: LegRecord(self.key_b, s1.side, s1.qty_lots, s1.limit_px_ticks,
                             s1.expected_px_ticks, pb.contract, pb)}


class LegTable:
    """``legs_from_intent`` for one pair, with the per-leg lookups cached.

    An intent whose every leg is one of the pair's legs, once each, with a positive quantity
    and (for two legs) opposite sides is built from the cache; anything else goes through
    ``legs_from_intent``, so a refusal and its reason are the function's. A cache entry is used
    only while ``pairs`` and ``contracts`` still hold the very objects it was built from.
    """

    __slots__ = ("_by_name", "_lean", "contracts", "infos", "pairs")

    def __init__(
        self, pairs: dict[str, PairConfig], contracts: dict[str, ContractConfig]
    ) -> None:
        self.pairs = pairs
        self.contracts = contracts
        self.infos: dict[str, ContractInfo] = {}
        #: pair name -> (pair, {(venue, sym): (leg index, key, info)})
        self._by_name: dict[str, tuple[PairConfig, dict[tuple[str, str], tuple[Any, ...]]]] = {}
        #: pair name -> (pair, its ``PairLegs``; None when its legs cannot have one)
        self._lean: dict[str, tuple[PairConfig, PairLegs | None]] = {}

    def __setstate__(self, state: Any) -> None:
        """A checkpoint's table (pickled; slots only); one written before ``_lean`` existed
        gets it empty (a cache: it fills again on the next intent)."""
        slots = state[1] if isinstance(state, tuple) else state
        for k, v in (slots or {}).items():
            setattr(self, k, v)
        if not hasattr(self, "_lean"):
            self._lean = {}

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

    def _pair_legs(self, name: str, pair: PairConfig) -> PairLegs | None:
        contracts = self.contracts
        a, b = contracts.get(pair.leg_a), contracts.get(pair.leg_b)
        pl = None
        if a is not None and b is not None and pair.leg_a != pair.leg_b \
                and f"{a.venue}:{a.sym}" == pair.leg_a and f"{b.venue}:{b.sym}" == pair.leg_b:
            pl = PairLegs(pair, ContractInfo(a), ContractInfo(b))
        self._lean[name] = (pair, pl)
        return pl

    def lean(self, intent: ComboIntent) -> PairLegs | None:
        """The intent's ``PairLegs`` when it is the common case: its pair's leg A then leg B,
        positive quantities, opposite sides, both contracts still the very objects the entry
        was built from; otherwise None (``legs`` builds it, or says why it is refused). What
        ``legs`` returns for such an intent is ``{0: leg A, 1: leg B}`` from the specs' fields
        and the entry's ``ContractInfo``\\s."""
        name = intent.pair
        pair = self.pairs.get(name)
        got = self._lean.get(name)
        if got is not None and got[0] is pair:
            pl = got[1]
        elif pair is None:
            return None
        else:
            pl = self._pair_legs(name, pair)
        specs = intent.legs
        if pl is None or len(specs) != 2:
            return None
        s0, s1 = specs
        if s0.sym != pl.sym_a or s0.venue != pl.venue_a or s1.sym != pl.sym_b \
                or s1.venue != pl.venue_b or s0.qty_lots <= 0 or s1.qty_lots <= 0 \
                or s0.side == s1.side:
            return None
        contracts = self.contracts
        if contracts.get(pl.key_a) is not pl.a.contract \
                or contracts.get(pl.key_b) is not pl.b.contract:
            pl = self._pair_legs(name, pair)  # a contract was replaced in place: a fresh entry
            if pl is None or s0.sym != pl.sym_a or s0.venue != pl.venue_a \
                    or s1.sym != pl.sym_b or s1.venue != pl.venue_b:
                return None
        return pl


__all__ = [
    "ContractInfo",
    "LegRecord",
    "LegTable",
    "PairLegs",
    "legs_from_intent",
    "tick_size",
]
