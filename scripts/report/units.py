"""The units the report's numbers are in, from the run's contracts (``ContractConfig``).

A contract's price is ``ticks x tick`` in ``ccy`` per ``unit`` (the demo's SHFE gold: CNY/g,
COMEX gold: USD/ozt); a pair's spread is in leg A's price unit (B is converted into A's
currency and unit by ``fx`` and ``unit_factor``); an underlying's exposure is in its base unit,
the unit of its contract whose lot is ``base_per_lot`` of them one for one (grams for gold).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

#: long names of the units an axis spells out ("net exposure (grams)")
UNIT_NAMES = {
    "g": "grams",
    "kg": "kilograms",
    "t": "tonnes",
    "mt": "tonnes",
    "MT": "tonnes",
    "ozt": "troy ounces",
    "lb": "pounds",
    "bbl": "barrels",
    "l": "litres",
}
#: physical units a base unit may be named by when no contract's lot is counted one for one
_CANDIDATES = ("g", "kg", "t", "ozt", "lb", "bbl", "l")


def cfg_get(obj: Any, key: str, default: Any = None) -> Any:
    """A field of a config struct or of its JSON dict (``config.json`` read as a map)."""
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def contracts_by_key(cfg: Any) -> dict[tuple[str, str], Any]:
    """(venue, sym) -> contract, from an ``AppConfig`` or the ``config.json`` map."""
    return {(cfg_get(c, "venue"), cfg_get(c, "sym")): c for c in cfg_get(cfg, "contracts") or []}


def tick_size(contract: Any) -> Decimal:
    """The contract's tick as a Decimal (0 when the config's string is not a number)."""
    try:
        return Decimal(str(cfg_get(contract, "tick", "0")))
    except InvalidOperation:
        return Decimal(0)


def price_of(ticks: float | int, contract: Any) -> float:
    """A price in ticks as a price in the contract's price unit (``ticks x tick``); integer
    ticks are multiplied exactly (Decimal), so 28007 x 0.02 is 560.14, not 560.1400000001."""
    tick = tick_size(contract)
    if isinstance(ticks, int):
        return float(Decimal(ticks) * tick)
    places = max(0, -tick.as_tuple().exponent) + 6  # type: ignore[operator]
    return round(float(ticks) * float(tick), places) + 0.0  # + 0.0: no -0.0


def price_unit(contract: Any) -> str:
    """``ccy/unit`` of the contract's prices (CNY/g), or its currency alone without a unit."""
    ccy, unit = cfg_get(contract, "ccy", ""), cfg_get(contract, "unit", "")
    return f"{ccy}/{unit}" if ccy and unit else ccy or unit


def unit_name(unit: str) -> str:
    """The unit spelled out where there is a usual name (g: grams), else as given."""
    return UNIT_NAMES.get(unit, unit)


def pair_legs(cfg: Any, pair: Any) -> tuple[Any, Any]:
    """The contracts of a pair's legs A and B (None for a leg not among the contracts)."""
    by = {f"{cfg_get(c, 'venue')}:{cfg_get(c, 'sym')}": c for c in cfg_get(cfg, "contracts") or []}
    return by.get(cfg_get(pair, "leg_a", "")), by.get(cfg_get(pair, "leg_b", ""))


#: what a pair kind's decisions call their spread (``ComboIntent.spread``), where it is not a
#: price difference in leg A's price unit: basis and funding the basis in bps, stat a log spread
KIND_SPREAD_UNITS = {"basis": "bps", "funding": "bps", "stat": "log price"}


def spread_unit(cfg: Any, pair: Any) -> str:
    """The unit of a pair's spread: leg A's price unit, the pair's common currency and unit (a
    parity or multi-venue pair), or the kind's own (``KIND_SPREAD_UNITS``)."""
    kind = cfg_get(pair, "kind", "parity")
    if kind in KIND_SPREAD_UNITS:
        return KIND_SPREAD_UNITS[kind]
    a, _b = pair_legs(cfg, pair)
    if a is None:  # a multi-venue pair names its venues' contracts, not a leg A
        legs = [c for c in cfg_get(cfg, "contracts") or [] if cfg_get(c, "underlying")]
        units = {price_unit(c) for c in legs}
        return units.pop() if len(units) == 1 else "price"
    return price_unit(a)


def base_unit(cfg: Any, underlying: str) -> str:
    """The unit an underlying's exposure is counted in (``base_per_lot`` of them per lot).

    The unit of its first contract whose lot is ``multiplier`` units and ``base_per_lot`` the
    same number (SHFE gold: 1000 g per lot, 1000 base units: grams); else, for a physical unit,
    the common unit one base unit equals (pint); else "base units of <underlying>"."""
    cs = [c for c in cfg_get(cfg, "contracts") or [] if cfg_get(c, "underlying") == underlying]
    for c in cs:
        mult, bpl = float(cfg_get(c, "multiplier", 0.0)), float(cfg_get(c, "base_per_lot", 0.0))
        if bpl > 0 and abs(mult / bpl - 1.0) < 1e-9 and cfg_get(c, "unit"):
            return str(cfg_get(c, "unit"))
    for c in cs:
        named = _physical_base(c)
        if named:
            return named
    return f"base units of {underlying}" if underlying else "base units"


def _physical_base(c: Any) -> str:
    """The unit one base unit of ``c``'s underlying equals, when its unit is physical."""
    from transports.config.units import physical

    bpl = float(cfg_get(c, "base_per_lot", 0.0))
    q = physical(str(cfg_get(c, "unit", "")))
    if q is None or bpl <= 0:
        return ""
    one = q * float(cfg_get(c, "multiplier", 0.0)) / bpl
    for cand in _CANDIDATES:
        other = physical(cand)
        if other is None or other.dimensionality != one.dimensionality:
            continue
        if abs(float((one / other).to("").magnitude) - 1.0) < 1e-6:
            return cand
    return ""


def home_ccy(cfg: Any) -> str:
    """The report's home currency: the first contract's (leg A's in the demo)."""
    cs = cfg_get(cfg, "contracts") or []
    return str(cfg_get(cs[0], "ccy", "")) if cs else ""


__all__ = [
    "KIND_SPREAD_UNITS",
    "UNIT_NAMES",
    "base_unit",
    "cfg_get",
    "contracts_by_key",
    "home_ccy",
    "pair_legs",
    "price_of",
    "price_unit",
    "spread_unit",
    "tick_size",
    "unit_name",
]
