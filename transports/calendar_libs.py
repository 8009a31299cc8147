"""Trading days, sessions and early closes from ``pandas_market_calendars``.

The exchanges' holiday rules (CME Globex metals with its early closes, the Chinese exchanges'
trading days through ``exchange_calendars``' ``XSHG``) are kept by a maintained library rather
than typed by hand. ``LibrarySchedule`` asks the library once per calendar year (at
construction for the years around today, later only when a span reaches a year not yet asked,
i.e. at span boundaries, never per tick) and keeps the answer as plain epoch-ns tuples.

A year the library does not know (``XSHG`` has no announced holidays beyond the current notice)
comes back as every weekday: the project's own ``holidays`` list of a calendar still applies on
top, so a newly announced holiday can be added there before the library's next release.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from transports.clock import LiveClock
from transports.errors import ConfigError


@dataclass(frozen=True, slots=True)
class LibraryDay:
    """One trading day as the library schedules it (epoch ns, UTC)."""

    open_ns: int
    close_ns: int
    early_close: bool  #: the library lists the day among its early closes


@contextmanager
def _quiet() -> Iterator[None]:
    """The libraries' own deprecation notices (pandas 3) are theirs to fix, not a run's news."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _ns(ts: Any) -> int:
    return int(ts.value)  # a pandas Timestamp's epoch ns, whatever its unit


class LibrarySchedule:
    """One ``pandas_market_calendars`` calendar, asked per calendar year and cached."""

    def __init__(self, name: str, where: str) -> None:
        import pandas_market_calendars as mcal  # imported only when a calendar names a library

        try:
            with _quiet():
                self.cal = mcal.get_calendar(name)
        except (RuntimeError, KeyError, ValueError):
            raise ConfigError(f"{where}: unknown pandas_market_calendars calendar {name!r} "
                              f"(e.g. CMEGlobex_Metals, XSHG)") from None
        self.name = name
        self._years: dict[int, dict[date, LibraryDay]] = {}
        # the years a live engine asks about, asked now rather than on its first tick
        this = datetime.fromtimestamp(LiveClock().now_ns() // 1_000_000_000, UTC).year
        for y in (this - 1, this, this + 1):
            self.year(y)

    def year(self, y: int) -> dict[date, LibraryDay]:
        """The library's trading days of calendar year ``y`` (its session labels)."""
        got = self._years.get(y)
        if got is not None:
            return got
        with _quiet():
            sched = self.cal.schedule(f"{y}-01-01", f"{y}-12-31")
            early = {ts.date() for ts in self.cal.early_closes(sched).index}
        out = {ts.date(): LibraryDay(_ns(row.market_open), _ns(row.market_close),
                                     ts.date() in early)
               for ts, row in zip(sched.index, sched.itertuples(), strict=True)}
        self._years[y] = out
        return out

    def day(self, d: date) -> LibraryDay | None:
        """The library's session of trading day ``d``; None when the library has it closed."""
        return self.year(d.year).get(d)

    def holiday_name(self, d: date) -> str:
        """The name the library gives ``d`` (a holiday or an early close), "" if none."""
        day = datetime(d.year, d.month, d.day)
        cals = [self.cal.regular_holidays]
        cals += [c for _, c in self.cal.special_closes]
        with _quiet():  # the mirror builds its exchange_calendars calendar on first use
            ec = getattr(self.cal, "ec", None)
        if ec is not None:
            cals.append(getattr(ec, "regular_holidays", None))
        for hc in cals:
            for rule in getattr(hc, "rules", None) or []:
                try:
                    with _quiet():
                        hit = len(rule.dates(day, day))
                    if hit:
                        return str(rule.name)
                except (ValueError, TypeError):  # a rule outside its own date range
                    continue
        return ""


_SHARED: dict[str, LibrarySchedule] = {}


def library_schedule(name: str, where: str) -> LibrarySchedule:
    """The one ``LibrarySchedule`` of library calendar ``name`` in this process (its answers
    never change, and SHFE, INE and DCE calendars all read ``XSHG``)."""
    got = _SHARED.get(name)
    if got is None:
        got = _SHARED[name] = LibrarySchedule(name, where)
    return got
