"""Positions, balances and instruments from CTP query rows (pure), and the query queue that
honours CTP's flow control (about one query a second per session)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from transports.venues.ctp.offsets import CLOSE_TODAY_EXCHANGES
from transports.venues.ctp.time import CHINA
from transports.wire.venue_msgs import BalanceRecord, Instrument, PositionRecord

LONG, SHORT = "2", "3"  #: THOST_FTDC_PD_Long / _Short (PosiDirection)


def positions_of(rows: list[Any]) -> list[PositionRecord]:
    """``CThostFtdcInvestorPositionField`` rows -> two-sided positions per symbol. SHFE/INE
    send one row per (direction, today/history), the others one per direction: summing
    ``Position`` and ``TodayPosition`` per direction is right for both."""
    acc: dict[str, list[int]] = {}
    for r in rows:
        a = acc.setdefault(r.InstrumentID, [0, 0, 0, 0])
        i = 0 if r.PosiDirection == LONG else 1 if r.PosiDirection == SHORT else -1
        if i < 0:
            continue  # '1' net: not a futures account
        a[i] += int(r.Position)
        a[i + 2] += int(r.TodayPosition)
    return [PositionRecord(sym=s, long=a[0], short=a[1], long_today=a[2], short_today=a[3])
            for s, a in sorted(acc.items()) if any(a)]


def balances_of(rows: list[Any]) -> list[BalanceRecord]:
    """``CThostFtdcTradingAccountField`` rows -> balances (currency CNY when unset)."""
    return [BalanceRecord(ccy=r.CurrencyID or "CNY", total=float(r.Balance),
                          available=float(r.Available), margin_used=float(r.CurrMargin))
            for r in rows]


def _expiry_ns(yyyymmdd: str) -> int:
    try:
        return int(datetime.strptime(yyyymmdd, "%Y%m%d").replace(
            hour=15, tzinfo=CHINA).timestamp()) * 1_000_000_000
    except ValueError:
        return 0


def instrument_of(f: Any, margin_rate: float = 0.0, fee_per_lot: float = 0.0) -> Instrument:
    """A ``CThostFtdcInstrumentField`` -> the protocol's instrument (v2, ``offsets: true``;
    ``close_today`` on SHFE/INE). Tick as the shortest decimal of the double."""
    tick = repr(float(f.PriceTick))
    return Instrument(sym=f.InstrumentID, tick=tick, lot=str(int(f.VolumeMultiple)), ccy="CNY",
                      unit="", min_qty=max(1, int(f.MinLimitOrderVolume or 1)),
                      max_qty=max(1, int(f.MaxLimitOrderVolume or 1_000_000)), kind="future",
                      expiry=_expiry_ns(f.ExpireDate), offsets=True,
                      close_today=f.ExchangeID in CLOSE_TODAY_EXCHANGES,
                      margin_rate=margin_rate or float(f.LongMarginRatio or 0.0),
                      fee_per_lot=fee_per_lot, fee_ccy="CNY", session=f.ExchangeID)


@dataclass
class QueryQueue:
    """Queries wait here and leave at most one per ``interval_ns`` (CTP answers more with
    ErrorID 90 / return -3). ``due(now)`` pops the next one when its turn has come."""

    interval_ns: int
    last_ns: int = -(1 << 62)

    def __post_init__(self) -> None:
        self.q: deque[Callable[[], int]] = deque()

    def put(self, call: Callable[[], int]) -> None:
        """Queue a query (a call that sends it and returns the Req* return value)."""
        self.q.append(call)

    def due(self, now_ns: int) -> Callable[[], int] | None:
        """The next query to send now, or None (empty, or too soon)."""
        if not self.q or now_ns - self.last_ns < self.interval_ns:
            return None
        self.last_ns = now_ns
        return self.q.popleft()

    def retry(self, call: Callable[[], int], now_ns: int) -> None:
        """A query CTP refused for flow control: first in line again, after a full interval."""
        self.q.appendleft(call)
        self.last_ns = now_ns


__all__ = ["QueryQueue", "balances_of", "instrument_of", "positions_of"]
