"""Numbers the units already say: a pair's ``unit_factor`` and a contract's ``base_per_lot``.

Where a contract's ``unit`` is a physical unit ``pint`` knows (a mass or a volume: g, kg, t, ozt,
lb, bbl, l), the config need not type the conversion: a pair's ``unit_factor`` (B's price unit
into A's, 1 g in ozt = 1/31.1034768 for a CNY/g leg against a USD/ozt one) and a contract's
``base_per_lot`` (the underlying's base units per lot) are derived. A value the config does give
is checked against the units and refused beyond ``TOLERANCE`` (a 3% wrong factor trades a 3%
wrong parity). Units pint does not know, or knows differently from a market (BTC, USD, share,
"pt" = index point, not pint; "oz" = avoirdupois, not troy), are left to the config: no
derivation, no check. A pair whose legs are on different underlyings (a stat pair: rebar against
iron ore) is not checked either: its factor is a choice, not a conversion.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from transports.errors import ConfigError

if TYPE_CHECKING:
    import pint

#: a given value further than this (relative) from the one the units say is a config error
TOLERANCE = 1e-3
#: spellings pint reads as something a market does not mean: ``pt`` (pint, not index point),
#: ``oz`` (avoirdupois, while metals quote troy ``ozt``), ``mt``/``MT`` (millitonne/megatonne,
#: not metric ton), ``ton`` (short ton, not tonne)
AMBIGUOUS = frozenset({"pt", "oz", "ton", "tons", "point", "points"})
#: market spellings pint reads otherwise: ``bbl`` is the 42-gallon oil barrel (pint's ``bbl`` is
#: the 31.5-gallon one), ``mt``/``MT`` the metric ton (pint: millitonne, megatonne)
ALIASES = {"bbl": "oil_barrel", "mt": "metric_ton", "MT": "metric_ton"}


@functools.cache
def _registry() -> pint.UnitRegistry:
    import pint  # ~0.4 s with its registry: paid by a process that loads a config, only

    return pint.UnitRegistry()


def physical(unit: str) -> pint.Quantity | None:
    """``1 unit`` as a pint quantity when ``unit`` is an unambiguous mass or volume, else None."""
    if not unit or unit in AMBIGUOUS:
        return None
    ureg = _registry()
    try:
        q = ureg.Quantity(1.0, ALIASES.get(unit, unit))
    except Exception:  # noqa: BLE001 - pint's parser raises several kinds for a non-unit
        return None
    dims = q.dimensionality
    if dims == ureg.gram.dimensionality or dims == ureg.liter.dimensionality:
        return q
    return None


def unit_factor(unit_a: str, unit_b: str) -> float | None:
    """B's price unit into A's (how many ``unit_b`` one ``unit_a`` is), or None when the units
    do not say (not physical, or not the same kind of quantity)."""
    qa, qb = physical(unit_a), physical(unit_b)
    if qa is None or qb is None or qa.dimensionality != qb.dimensionality:
        return None
    return float(qa.to(qb.units).magnitude)


def _off(given: float, derived: float) -> float:
    return abs(given / derived - 1.0)


def resolve_contracts(contracts: Sequence[Any]) -> list[Any]:
    """Derive or check ``base_per_lot`` of every contract with a physical unit and an underlying.

    An underlying's base unit is the one its first contract giving ``base_per_lot`` implies
    (``multiplier x unit / base_per_lot``), or the unit of its first physical contract when none
    gives it. Return the contracts with the derived values filled in; raise ``ConfigError``
    naming the field, the given value and the derived one."""
    out = list(contracts)
    base: dict[str, tuple[pint.Quantity, int]] = {}  # underlying -> (one base unit, from which)
    for i, c in enumerate(contracts):
        q = physical(c.unit) if c.underlying else None
        if q is None:
            continue
        if c.underlying not in base or (c.base_per_lot > 0 and base[c.underlying][1] < 0):
            if c.base_per_lot > 0:
                base[c.underlying] = (q * c.multiplier / c.base_per_lot, i)
            elif c.underlying not in base:
                base[c.underlying] = (q, -1)  # the first physical contract's unit
    for i, c in enumerate(contracts):
        q = physical(c.unit) if c.underlying else None
        if q is None or c.underlying not in base:
            continue
        one, ref = base[c.underlying]
        if q.dimensionality != one.dimensionality:
            continue  # bbl and t of one underlying: the units cannot say
        derived = float((q * c.multiplier / one).to("").magnitude)
        if c.base_per_lot <= 0:
            out[i] = msgspec.structs.replace(c, base_per_lot=derived)
        elif _off(c.base_per_lot, derived) > TOLERANCE:
            raise ConfigError(
                f"$.contracts[{i}].base_per_lot: {c.base_per_lot:g} disagrees with the units: "
                f"{c.multiplier:g} {c.unit} per lot is {derived:.10g} base units of "
                f"{c.underlying!r} ({_describe(one)}, from $.contracts[{ref}]); off by "
                f"{_off(c.base_per_lot, derived):.2%}, tolerance {TOLERANCE:.1%}")
    return out


def _describe(one: pint.Quantity) -> str:
    return f"1 base unit = {one.magnitude:.10g} {one.units:~}"


def resolve_pairs(pairs: Sequence[Any], contracts: dict[str, Any],
                  given: set[int] | None = None) -> list[Any]:
    """Derive or check ``unit_factor`` of every pair whose legs share an underlying and have
    physical units. ``given`` holds the indices of the pairs that set ``unit_factor`` in the file;
    None (a config built in code) counts a factor other than the default 1.0 as given. Return
    the pairs with derived factors filled in; raise ``ConfigError`` naming the field, the given
    value and the derived one."""
    out = list(pairs)
    for i, p in enumerate(pairs):
        ca, cb = contracts.get(p.leg_a), contracts.get(p.leg_b)
        if ca is None or cb is None or ca.underlying != cb.underlying:
            continue
        derived = unit_factor(ca.unit, cb.unit)
        if derived is None:
            continue
        is_given = (i in given) if given is not None else p.unit_factor != 1.0
        if not is_given:
            out[i] = msgspec.structs.replace(p, unit_factor=derived)
        elif _off(p.unit_factor, derived) > TOLERANCE:
            raise ConfigError(
                f"$.pairs[{i}].unit_factor: {p.unit_factor:g} disagrees with the units: leg B "
                f"in {cb.unit} into leg A in {ca.unit} is {derived:.10g} (1 {ca.unit} in "
                f"{cb.unit}); off by {_off(p.unit_factor, derived):.2%}, tolerance "
                f"{TOLERANCE:.1%}; drop the key to have it derived")
    return out


__all__ = ["ALIASES", "AMBIGUOUS", "TOLERANCE", "physical", "resolve_contracts", "resolve_pairs",
           "unit_factor"]
