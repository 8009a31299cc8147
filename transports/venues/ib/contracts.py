"""IB contracts -> protocol instruments (pure: no connection, no clock).

A configured contract names IB's ``conId`` or its ``localSymbol`` (e.g. ``GCZ6``) with the
exchange; TWS resolves it into ``ContractDetails``. Price and size scaling come from there:
``minTick`` is the tick, ``multiplier`` the lot, ``lastTradeDateOrContractMonth`` (+
``lastTradeTime`` in ``timeZoneId``) the expiry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from transports.config.gateways import IbContractConfig
from transports.errors import ConfigError
from transports.wire.venue_msgs import Instrument


@dataclass(frozen=True)
class Scale:
    """How one contract's native prices and sizes become integer ticks and lots."""

    sym: str
    con_id: int
    tick: Decimal
    multiplier: Decimal

    def to_ticks(self, price: float) -> int | None:
        """Price -> ticks; ``None`` when the price is off the tick grid (never rounded away)."""
        exact = Decimal(repr(price)) / self.tick
        ticks = int(exact.to_integral_value())
        return ticks if abs(exact - ticks) < Decimal("1e-6") else None

    def to_price(self, ticks: int) -> float:
        """Ticks -> IB's float price."""
        return float(self.tick * ticks)


def ib_contract(c: IbContractConfig) -> Any:
    """The ``ib_async.Contract`` that asks TWS for the configured contract."""
    from ib_async import Contract

    if c.con_id:
        return Contract(conId=c.con_id, exchange=c.exchange)
    return Contract(secType=c.sec_type, localSymbol=c.local_symbol, exchange=c.exchange,
                    currency=c.currency)


def _dec(v: Any) -> Decimal:
    return Decimal(repr(float(v))).normalize() if isinstance(v, float) else Decimal(str(v))


def expiry_ns(details: Any) -> int:
    """Last trading time as epoch ns: the date of ``lastTradeDateOrContractMonth`` at
    ``lastTradeTime`` in ``timeZoneId`` (IB's own exchange zone); midnight UTC when either is
    missing or unknown; 0 when there is no date."""
    raw = (details.contract.lastTradeDateOrContractMonth or "").split()
    if not raw or len(raw[0]) != 8:
        return 0
    d = dt.date(int(raw[0][:4]), int(raw[0][4:6]), int(raw[0][6:8]))
    t, tz = dt.time(0, 0), dt.UTC
    hhmm = (details.lastTradeTime or (raw[1] if len(raw) > 1 else "")).replace(":", "")
    if len(hhmm) >= 4 and hhmm[:4].isdigit():
        t = dt.time(int(hhmm[:2]), int(hhmm[2:4]))
        try:
            tz = ZoneInfo(details.timeZoneId) if details.timeZoneId else dt.UTC
        except (ZoneInfoNotFoundError, ValueError):
            tz = dt.UTC
    return int(dt.datetime.combine(d, t, tz).timestamp()) * 1_000_000_000


def pick(c: IbContractConfig, found: list[Any]) -> Any:
    """The one ``ContractDetails`` TWS returned for ``c``; ``ConfigError`` naming the contract
    when there is none (IB does not know it, or it expired) or more than one."""
    name = f"conId {c.con_id}" if c.con_id else f"localSymbol {c.local_symbol!r}"
    if not found:
        raise ConfigError(f"ib: contract {c.sym!r} ({name} on {c.exchange or 'any exchange'}) "
                          "is not known to IB")
    if len(found) > 1:
        ids = ", ".join(str(d.contract.conId) for d in found[:5])
        raise ConfigError(f"ib: contract {c.sym!r} ({name}) is ambiguous: conIds {ids}; "
                          "give con_id")
    return found[0]


def to_instrument(c: IbContractConfig, details: Any, unit: str = "", max_qty: int = 1_000_000,
                  ) -> tuple[Instrument, Scale]:
    """One resolved contract as a version 2 ``instrument`` (kind ``future``, no offsets: IB
    nets positions) and its ``Scale``."""
    k = details.contract
    if not details.minTick or float(details.minTick) <= 0:
        raise ConfigError(f"ib: contract {c.sym!r}: IB gives no minTick")
    tick = _dec(details.minTick)
    mult = _dec(k.multiplier or 1)
    inst = Instrument(sym=c.sym, tick=format(tick, "f"), lot=format(mult, "f"),
                      ccy=k.currency or c.currency, unit=unit or "contract", min_qty=1,
                      max_qty=max_qty, kind="future" if k.secType == "FUT" else k.secType.lower(),
                      base=k.symbol, quote=k.currency or c.currency, expiry=expiry_ns(details),
                      fee_ccy=k.currency or c.currency)
    return inst, Scale(c.sym, int(k.conId), tick, mult)


__all__ = ["Scale", "expiry_ns", "ib_contract", "pick", "to_instrument"]
