"""``BasisCore``'s inputs besides the books, split off ``actors.strategy.basis`` for size: time to
the future's expiry, in calendar days (the carry) and trading days left (the no-entry and roll
window), and each leg's rolling bid-ask spread (the expected impact).

All pure functions of their inputs (no clock read); ``TradingDaysLeft`` caches its count for the
local day ``now_ns`` falls in, so the per-tick cost is two comparisons.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import numpy as np

from kernels.carry import NS_PER_DAY, expiry_ns, roll_mean_push
from transports.calendar import Calendar

_UTC = timezone.utc  # noqa: UP017


def days_to_expiry(expiry_at_ns: int, now_ns: int) -> float:
    """Calendar days (fractional) from ``now_ns`` to the expiry instant, 0 once past it."""
    left = expiry_at_ns - now_ns
    return left / NS_PER_DAY if left > 0 else 0.0


class TradingDaysLeft:
    """How many trading days remain from the day of ``now_ns`` through the expiry day, both
    counted: 1 on the last trading day. A trading day is one of ``cal`` (weekdays and
    holidays, in its time zone) when the leg has a calendar, else Monday to Friday (UTC)."""

    def __init__(self, expiry: str, cal: Calendar | None) -> None:
        self.expiry = date.fromisoformat(expiry)
        self.expiry_at_ns = expiry_ns(expiry)
        self.cal = cal
        self._lo, self._hi, self._n = 0, -1, 0

    def _trading(self, d: date) -> bool:
        if self.cal is not None:
            return self.cal.is_trading_day(d)
        return d.weekday() < 5

    def count(self, today: date) -> int:
        """Trading days in [today, expiry] (0 when today is past the expiry day)."""
        n, d = 0, today
        while d <= self.expiry:
            if self._trading(d):
                n += 1
            d += timedelta(days=1)
        return n

    def at(self, now_ns: int) -> int:
        """Trading days left at ``now_ns`` (cached for the local day)."""
        if self._lo <= now_ns < self._hi:
            return self._n
        tz = self.cal.tz if self.cal is not None else _UTC
        local = datetime.fromtimestamp(now_ns // 1_000_000_000, tz).date()
        nxt = local + timedelta(days=1)
        self._lo = int(datetime.combine(local, time(0), tz).timestamp()) * 1_000_000_000
        self._hi = int(datetime.combine(nxt, time(0), tz).timestamp()) * 1_000_000_000
        self._n = self.count(local)
        return self._n


class RollingSpread:
    """A leg's rolling bid-ask spread in ticks over ``window`` book updates, through
    ``kernels.carry.roll_mean_push``; ``n`` counts every sample ever pushed."""

    __slots__ = ("buf", "mean", "n", "state")

    def __init__(self, window: int) -> None:
        self.buf = np.zeros(window, np.float64)
        self.state = np.zeros(3, np.float64)
        self.mean = 0.0
        self.n = 0

    def push(self, ticks: float) -> None:
        self.mean = roll_mean_push(self.buf, self.state, ticks)
        self.n += 1

    def resized(self, window: int) -> RollingSpread:
        """A new window of ``window`` starting from this one's mean (one sample), its count
        kept (a live change of ``impact_window`` does not warm up again)."""
        out = RollingSpread(window)
        if self.n:
            out.push(self.mean)
            out.n = self.n
        return out


class RollingStd:
    """The rolling standard deviation of a series over ``window`` samples (two
    ``RollingSpread`` windows: of x and of x squared); ``n`` counts every sample."""

    __slots__ = ("sq", "x")

    def __init__(self, window: int) -> None:
        self.x = RollingSpread(window)
        self.sq = RollingSpread(window)

    @property
    def n(self) -> int:
        return self.x.n

    def push(self, x: float) -> float:
        """Push ``x``; return the window's standard deviation."""
        self.x.push(x)
        self.sq.push(x * x)
        return self.std

    @property
    def std(self) -> float:
        m = self.x.mean
        var = self.sq.mean - m * m
        return var ** 0.5 if var > 0.0 else 0.0

    def resized(self, window: int) -> RollingStd:
        out = RollingStd(window)
        out.x, out.sq = self.x.resized(window), self.sq.resized(window)
        return out


__all__ = ["RollingSpread", "RollingStd", "TradingDaysLeft", "days_to_expiry"]
