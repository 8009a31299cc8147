"""What the decisions read: the pairs (a strategy's legs, costs, trigger and exits, with its
kind's sub-section), the risk limits, and which of their fields a running engine may change
(the live parameters of ``cmc admin set``).

A pair's own checks (its kind has its own sub-section and no other's) are here; the checks that
need the other sections (a leg is a known contract) get the contract keys from the loader
(``transports.config.engine``), which also applies a live change to the whole config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from transports.config.base import (
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    Section,
    check_finite,
)
from transports.config.strategies import BasisConfig, FundingConfig, MultiConfig, StatConfig
from transports.errors import ConfigError


class PairConfig(Section):
    """A cross-market pair: leg A domestic, leg B foreign, converted by ``fx`` and
    ``unit_factor``."""

    name: str
    leg_a: str  #: "venue:sym"
    leg_b: str
    fx: str = ""  #: "venue:sym" of the rate converting B's currency into A's; empty = 1.0
    fx_invert: bool = False
    #: B's unit into A's unit, e.g. 1/31.1034768 (ozt -> g); derived from the legs' units
    #: when not given, checked against them when given (0.1%)
    unit_factor: PosFloat = 1.0
    import_tax: NonNegFloat = 0.0
    premium: float = 0.0  #: added to parity, in A's price units
    max_clip_lots_a: PosInt = 30
    max_clip_lots_b: PosInt = 30
    max_spread_position: PosInt = 1  #: in clips
    safety_factor: Annotated[float, msgspec.Meta(ge=1.0)] = 1.2
    slippage_ticks: NonNegFloat = 1.0  #: expected slippage per leg, in each leg's ticks
    max_slippage_ticks: NonNegInt = 3  #: IOC limit = touch +/- this
    z_window: Annotated[int, msgspec.Meta(ge=10)] = 2000
    z_entry: NonNegFloat = 2.0
    z_exit: NonNegFloat = 0.5
    min_edge: NonNegFloat = 0.0  #: extra edge required, in A's price units
    fair_basis: float | None = None  #: fixed basis; None = rolling mean of the spread
    max_quote_skew_ms: PosInt = 500
    #: no combo opens on a quote older than this, in our time (venue time minus the venue's
    #: clock offset): a node that was frozen or fell behind must not trade on the past
    max_quote_age_ms: PosInt = 2000
    legging_mode: Literal["concurrent", "lead"] = "concurrent"
    chase_ticks: NonNegInt = 2
    chase_tries: NonNegInt = 3
    leg_timeout_ms: PosInt = 1000
    hedge_budget_ms: PosInt = 5000
    #: no new open this long after a failed combo; doubles per consecutive failure up to
    #: 30 s, reset by a complete or repaired one; 0 = off
    retry_cooldown_ms: Annotated[int, msgspec.Meta(ge=0, le=30_000)] = 1000
    # --- the strategy kind and its trigger (docs/strategies.md) ---------------------------------
    #: parity (spread against parity), basis (cash-and-carry), funding (spot vs perpetual),
    #: multi (one asset across N venues), stat (cointegrated pair, Kalman hedge ratio)
    kind: Literal["parity", "basis", "funding", "multi", "stat"] = "parity"
    #: when a parity pair opens: ``edge`` (the executable edge for the clip beats
    #: cost x safety_factor + min_edge; no statistical gate), ``zscore`` (that and |z| beyond
    #: z_entry), ``ratio`` (price over parity against ``ratio_entry_bps``)
    trigger: Literal["edge", "zscore", "ratio"] = "zscore"
    z_filter: NonNegFloat = 0.0  #: edge/ratio triggers: also need |z| >= this; 0 = no filter
    ratio_entry_bps: NonNegFloat = 10.0  #: ratio trigger: |A / parity(B) / fair - 1| to open
    ratio_exit_bps: NonNegFloat = 2.0  #: ratio trigger: back inside this = reverted
    #: conditions: both touches show at least this many lots (0 = the clip itself)
    min_touch_lots: NonNegInt = 0
    #: exit rule: ``revert`` (back to fair: z inside z_exit, or the edge inside ``exit_edge``),
    #: ``take_profit`` (the spread moved ``take_profit`` in our favour since entry)
    exit_rule: Literal["revert", "take_profit"] = "revert"
    exit_edge: NonNegFloat = 0.0  #: edge trigger: reverted when |deviation| <= this
    take_profit: NonNegFloat = 0.0  #: A's price units; with exit_rule = take_profit
    time_stop_s: NonNegFloat = 0.0  #: close a position held this long; 0 = off
    stop_loss: NonNegFloat = 0.0  #: close when the deviation moved this far against us; 0 = off
    #: monitoring (the documents' rule): close when the deviation stays beyond
    #: ``deviation_close_sigma`` sigmas against the position for ``deviation_close_s``; 0 = off
    deviation_close_sigma: NonNegFloat = 2.0
    deviation_close_s: NonNegFloat = 60.0
    #: close what is held when a leg is limit-locked (one side of its book empty) or halted
    close_on_limit: bool = True
    basis: BasisConfig | None = None  #: kind = "basis"
    funding: FundingConfig | None = None  #: kind = "funding"
    multi: MultiConfig | None = None  #: kind = "multi"
    stat: StatConfig | None = None  #: kind = "stat"


class RiskConfig(Section):
    """Limits the RiskSupervisor and the LegExecutors enforce."""

    max_net_exposure_base: NonNegFloat = 50_000.0  #: per underlying, base units (grams)
    max_orders_per_s: PosInt = 200  #: new orders per venue (token bucket); excess denied
    max_cancels_per_s: PosInt = 200  #: cancels per venue (token bucket)
    halt_on_exposure_breach: bool = True
    max_notional_per_order: NonNegFloat = 0.0  #: home currency; 0 = no limit
    max_gross_notional: NonNegFloat = 0.0  #: home currency, all open positions; 0 = no limit
    price_band_ticks: NonNegInt = 0  #: order price vs the touch; 0 = no band
    daily_loss_limit: NonNegFloat = 0.0  #: home currency; 0 = no limit -> HALTED
    max_drawdown: NonNegFloat = 0.0  #: from the PnL peak, home currency; 0 = off -> HALTED
    unhedged_limit_ms: PosInt = 5000  #: exposure beyond tolerance this long -> flatten/HALT
    margin_capital: NonNegFloat = 0.0  #: account equity for margin usage; 0 = unchecked
    margin_alarm_pct: Annotated[float, msgspec.Meta(gt=0, le=100)] = 85.0  #: -> REDUCING
    #: pre-trade: an order taking margin used above this share of ``margin_capital`` is denied
    max_margin_pct: Annotated[float, msgspec.Meta(gt=0, le=100)] = 100.0
    max_reject_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5  #: -> REDUCING
    reject_window: PosInt = 20  #: orders in the reject-rate window
    flatten_orphans: bool = True  #: risk flattens exposure no live combo owns
    home_ccy: str = "CNY"
    #: ``cmc demo`` fails when the simulator's record shows a limit exceeded at the venue
    #: (``scripts/demo/risk_audit.py``); on for configs whose purpose is risk
    fail_on_venue_breach: bool = False


#: the sub-section each pair kind needs (parity needs none)
KIND_SECTIONS = {"basis": "basis", "funding": "funding", "multi": "multi", "stat": "stat"}


def check_kind(p: PairConfig, where: str, keys: set[str]) -> None:
    """A pair's kind has its own sub-section and no other kind's; its legs are contracts."""
    need = KIND_SECTIONS.get(p.kind)
    for sec in KIND_SECTIONS.values():
        present = getattr(p, sec) is not None
        if sec == need and not present:
            raise ConfigError(f"{where}.{sec}: a pair of kind {p.kind!r} needs a "
                              f"[pairs.{sec}] section")
        if present and sec != need:
            raise ConfigError(f"{where}.{sec}: only a pair of kind {sec!r} takes this section "
                              f"(kind is {p.kind!r})")
    if p.multi is not None:
        for j, key in enumerate(p.multi.legs):
            if key not in keys:
                raise ConfigError(f"{where}.multi.legs[{j}]: unknown contract {key!r}")
        if len(set(p.multi.legs)) != len(p.multi.legs):
            raise ConfigError(f"{where}.multi.legs: a contract is listed twice")
        for fld in ("leg_a", "leg_b"):
            if getattr(p, fld) not in p.multi.legs:
                raise ConfigError(f"{where}.{fld}: {getattr(p, fld)!r} must be one of multi.legs")
        for key in [*p.multi.inventory_base, *p.multi.spot]:
            if key not in p.multi.legs:
                raise ConfigError(f"{where}.multi: {key!r} is not one of multi.legs")
    if p.basis is not None and p.basis.rate_from and p.basis.rate_from not in keys:
        raise ConfigError(f"{where}.basis.rate_from: unknown contract {p.basis.rate_from!r}")


# --- live parameters: what ``cmc admin set`` may change on a running engine ---------------------

#: ``PairConfig`` fields a running strategy reads on every decision, so a change takes effect at
#: once; the others shape the window, the clip or the legs and need a new core.
LIVE_PAIR_FIELDS = frozenset({"z_entry", "z_exit", "min_edge", "safety_factor", "slippage_ticks",
                              "max_slippage_ticks", "fair_basis", "max_quote_skew_ms",
                              "max_quote_age_ms", "retry_cooldown_ms", "hedge_budget_ms",
                              "trigger", "z_filter", "ratio_entry_bps", "ratio_exit_bps",
                              "min_touch_lots", "exit_rule", "exit_edge", "take_profit",
                              "time_stop_s", "stop_loss", "deviation_close_sigma",
                              "deviation_close_s", "close_on_limit"})
#: a kind's sub-section fields are all live, named ``<section>.<field>`` (``basis.rate``)
_KIND_STRUCTS: dict[str, type[Section]] = {"basis": BasisConfig, "funding": FundingConfig,
                                           "multi": MultiConfig, "stat": StatConfig}


def live_pair_fields(pair: PairConfig) -> list[str]:
    """Every live field of ``pair``: the top-level ones and its kind's ``<section>.<field>``."""
    out = sorted(LIVE_PAIR_FIELDS)
    sec = KIND_SECTIONS.get(pair.kind)
    if sec is not None and getattr(pair, sec) is not None:
        out += [f"{sec}.{f}" for f in _KIND_STRUCTS[sec].__struct_fields__]
    return out


def pair_value(pair: PairConfig, field: str) -> Any:
    """The value of a live field of ``pair`` (``z_entry``, ``basis.rate``)."""
    sec, _, sub = field.partition(".")
    if sub:
        return getattr(getattr(pair, sec), sub)
    return getattr(pair, field)
#: ``RiskConfig`` fields that ``risk`` and every executor's pre-trade checks read live;
#: ``home_ccy`` would change what every amount means, ``fail_on_venue_breach`` is a demo verdict.
LIVE_RISK_FIELDS = frozenset(RiskConfig.__struct_fields__) - {"home_ccy", "fail_on_venue_breach"}


_Live = TypeVar("_Live", PairConfig, RiskConfig)


def live_update(current: _Live, values: Mapping[str, Any], where: str = "") -> _Live:
    """Return ``current`` with the live fields ``values`` changed, validated like the config file.

    Raise ``ConfigError`` naming the field (``where`` is its section, e.g. ``pairs.au-gc``) for
    an empty change, a field that is unknown or not live, a wrong type or range, a non-finite
    number, or (pairs) a ``z_exit`` not below ``z_entry``. Nothing is half-applied: the result
    is a new struct or nothing."""
    live = set(live_pair_fields(current) if isinstance(current, PairConfig) else LIVE_RISK_FIELDS)
    where = where or ("risk" if isinstance(current, RiskConfig) else f"pairs.{current.name}")
    if not values:
        raise ConfigError(f"{where}: no field to set")
    bad = sorted(str(k) for k in values if k not in live)
    if bad:
        raise ConfigError(f"{where}.{bad[0]}: not a live parameter "
                          f"(settable: {', '.join(sorted(live))})")
    data = msgspec.to_builtins(current)
    for k, v in values.items():
        sec, _, sub = str(k).partition(".")
        if sub:  # a kind's sub-section field, e.g. basis.rate
            data[sec] = {**data[sec], sub: v}
        else:
            data[k] = v
    try:
        new = msgspec.convert(data, type(current))
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    check_finite(new, where)
    if isinstance(new, PairConfig) and new.z_exit >= new.z_entry and new.z_entry > 0:
        raise ConfigError(f"{where}.z_exit: {new.z_exit} must be below z_entry {new.z_entry}")
    return new


__all__ = ["KIND_SECTIONS", "LIVE_PAIR_FIELDS", "LIVE_RISK_FIELDS", "PairConfig", "RiskConfig",
           "check_kind", "live_pair_fields", "live_update", "pair_value"]
