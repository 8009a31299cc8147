"""ccxt markets -> protocol version 2 instruments, and the start check of the configured symbols
(pure: no network; the gateway passes in what ``load_markets`` returned).

Symbols on the protocol are the exchange's own market ids (``BTCUSDT`` on Binance, ``BTC-USDT``
on OKX), as the engine's ``[[contracts]]`` name them. Binance gives one id to a spot market and
its USDⓈ-M perpetual, so a market is picked by id AND by the gateway's market type.

Every exchange this gateway supports runs ccxt in precision mode TICK_SIZE: ``precision.price``
is the price step and ``precision.amount`` the amount step (base currency on spot and Binance
USDⓈ-M, contracts on OKX and Bybit swaps). One lot is one amount step, so the protocol's ``lot``
(units of ``unit`` per lot) is the amount step times the contract size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from transports.errors import ConfigError
from transports.venues.ccxt.units import Scale, to_decimal
from transports.wire.venue_msgs import Instrument

#: ccxt's market ``type`` for each of the gateway's ``--market`` values
CCXT_TYPES = {"spot": ("spot",), "swap": ("swap",)}
DEFAULT_MAX_LOTS = 1_000_000
DEFAULT_FUNDING_INTERVAL_S = 8 * 3600


def _text(d: Decimal) -> str:
    """A decimal as plain text without exponent or trailing zeros (``1E-4`` -> ``0.0001``)."""
    s = format(d.normalize(), "f")
    return s


def pick_markets(markets: Mapping[str, Mapping[str, Any]], market_type: str,
                 syms: Iterable[str]) -> dict[str, Mapping[str, Any]]:
    """The ccxt market of each protocol symbol (exchange id) of type ``market_type``
    (``spot``/``swap``); ``ConfigError`` naming every symbol the exchange does not list."""
    types = CCXT_TYPES[market_type]
    by_id: dict[str, Mapping[str, Any]] = {}
    for m in markets.values():
        if m.get("type") in types and m.get("id") is not None:
            by_id.setdefault(str(m["id"]), m)
    wanted = list(syms)
    missing = [s for s in wanted if s not in by_id]
    if missing:
        raise ConfigError("the exchange does not list " + ", ".join(repr(s) for s in missing)
                          + f" as a {market_type} market")
    return {s: by_id[s] for s in wanted}


def scale_of(market: Mapping[str, Any]) -> Scale:
    """The market's tick and amount step (``VenueError`` when either is missing)."""
    prec = market.get("precision") or {}
    return Scale(str(market["id"]), prec.get("price") or 0, prec.get("amount") or 0)


def lot_units(market: Mapping[str, Any]) -> Decimal:
    """Units of the base currency per lot: the amount step times the contract size."""
    step = to_decimal((market.get("precision") or {}).get("amount") or 0)
    size = market.get("contractSize")
    return step * to_decimal(size) if market.get("contract") and size else step


def to_instrument(market: Mapping[str, Any], funding_interval_s: int = 0) -> Instrument:
    """A ccxt market as a version 2 ``Instrument`` (``kind`` spot or perp)."""
    sc = scale_of(market)
    limits = (market.get("limits") or {}).get("amount") or {}
    lo, hi = limits.get("min"), limits.get("max")
    min_qty = 1
    if lo:
        min_qty = max(1, int((to_decimal(lo) / sc.step).to_integral_value(ROUND_CEILING)))
    max_qty = DEFAULT_MAX_LOTS
    if hi:
        max_qty = max(min_qty, int((to_decimal(hi) / sc.step).to_integral_value(ROUND_FLOOR)))
    swap = bool(market.get("swap"))
    base, quote = str(market.get("base") or ""), str(market.get("quote") or "")
    settle = str(market.get("settle") or quote)
    size = market.get("contractSize")
    return Instrument(
        sym=str(market["id"]), tick=_text(sc.tick), lot=_text(lot_units(market)), ccy=quote,
        unit=base, min_qty=min_qty, max_qty=max_qty,
        kind="perp" if swap else "future" if market.get("future") else "spot",
        base=base, quote=quote,
        maker_bps=float(to_decimal(market.get("maker") or 0) * 10_000),
        taker_bps=float(to_decimal(market.get("taker") or 0) * 10_000),
        fee_ccy=settle if swap else quote,
        funding_interval_s=(funding_interval_s or DEFAULT_FUNDING_INTERVAL_S) if swap else 0,
        contract_value=_text(to_decimal(size)) if swap and size else "",
        contract_ccy=base if swap and size else "",
    )


def interval_s(text: Any) -> int:
    """ccxt's funding ``interval`` (``"8h"``, ``"4h"``, ``"30m"``; Binance's hours may be a
    decimal) in whole seconds; 0 if unknown."""
    if not isinstance(text, str) or len(text) < 2:
        return 0
    mult = {"s": 1, "m": 60, "h": 3600, "d": 86_400}.get(text[-1], 0)
    try:
        value = to_decimal(text[:-1])
    except ArithmeticError:
        return 0
    return max(0, int((value * mult).to_integral_value())) if value.is_finite() else 0


def disagreements(contracts: Iterable[Any], listed: Mapping[str, Instrument]) -> list[str]:
    """Config contracts whose tick, lot or currency differs from the exchange's (for a warning
    at start; the engine's own instrument check stops the run on these)."""
    out = []
    for c in contracts:
        ins = listed.get(c.sym)
        if ins is None:
            continue
        if to_decimal(c.tick).normalize() != to_decimal(ins.tick).normalize():
            out.append(f"{c.sym}: config tick {c.tick}, exchange {ins.tick}")
        if to_decimal(c.multiplier).normalize() != to_decimal(ins.lot).normalize():
            out.append(f"{c.sym}: config multiplier {c.multiplier}, exchange lot {ins.lot}")
        if c.ccy != ins.ccy:
            out.append(f"{c.sym}: config ccy {c.ccy}, exchange {ins.ccy}")
    return out


__all__ = ["DEFAULT_FUNDING_INTERVAL_S", "disagreements", "interval_s", "lot_units",
           "pick_markets", "scale_of", "to_instrument"]
