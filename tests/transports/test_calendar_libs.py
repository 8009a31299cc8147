"""Calendars whose holidays and early closes come from pandas_market_calendars / exchange_calendars.

The expected times are read from the libraries' own schedules (not typed here), except one fact
checked against CME's published 2026 Globex holiday schedule (metals on Martin Luther King Day).
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import pandas_market_calendars as mcal
import pytest

from transports.calendar import Calendar, load_calendars, parse_calendars
from transports.errors import ConfigError

CALS = load_calendars()
CT, SH = ZoneInfo("America/Chicago"), ZoneInfo("Asia/Shanghai")
NS = 1_000_000_000


def ns(tz: ZoneInfo, text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()) * NS


def metals_schedule(lo: str, hi: str):
    cal = mcal.get_calendar("CMEGlobex_Metals")
    sched = cal.schedule(lo, hi)
    return sched, set(cal.early_closes(sched).index.date)


def test_thanksgiving_2026_is_an_early_close_not_a_holiday_as_the_library_says() -> None:
    c = CALS["comex_gc"]
    sched, early = metals_schedule("2026-11-20", "2026-11-30")
    for d in (date(2026, 11, 26), date(2026, 11, 27)):  # Thanksgiving and the Friday after
        assert d in early
        row = sched.loc[str(d)]
        open_ns, close_ns = int(row.market_open.value), int(row.market_close.value)
        assert c.is_trading_day(d)
        assert c.day_spans(d) == [(open_ns, close_ns)]
        assert c.state_at(close_ns - NS) == "open"
        assert c.open_until_ns(close_ns - NS) == close_ns  # the early close ends the span
        assert c.state_at(close_ns) != "open"
    # Thanksgiving reopens at 17:00 CT for Friday; Friday's early close lasts the weekend
    assert c.next_open_ns(ns(CT, "2026-11-26 13:30")) == ns(CT, "2026-11-26 17:00")
    assert c.next_open_ns(ns(CT, "2026-11-27 13:45")) == ns(CT, "2026-11-29 17:00")
    # a plain day of that week closes at the regular 16:00 CT
    assert c.open_until_ns(ns(CT, "2026-11-24 12:00")) == ns(CT, "2026-11-24 16:00")


def test_every_library_day_is_what_the_engine_answers() -> None:
    c = CALS["comex_gc"]
    sched, _ = metals_schedule("2026-11-01", "2026-12-31")
    for label, row in sched.iterrows():
        o, e = int(row.market_open.value), int(row.market_close.value)
        assert c.next_open_ns(o - NS) == o, label
        assert c.open_until_ns(o) == e, label
    assert not c.is_trading_day(date(2026, 12, 25))  # not in the library's schedule
    assert "2026-12-25" not in {str(x.date()) for x in sched.index}
    assert c.holiday_name(date(2026, 12, 25)) == "Christmas"


def test_mlk_day_2026_metals_halt_at_13_30_ct_as_cme_published() -> None:
    """CME's 2026 Globex holiday schedule (Metals, Dr. Martin Luther King, Jr.): Sunday Jan 18
    open 17:00 CT, Monday Jan 19 trading halt 13:30 CT, open 17:00 CT for Tuesday."""
    c = CALS["comex_gc"]
    assert c.next_open_ns(ns(CT, "2026-01-18 16:00")) == ns(CT, "2026-01-18 17:00")
    assert c.open_until_ns(ns(CT, "2026-01-19 10:00")) == ns(CT, "2026-01-19 13:30")
    assert c.state_at(ns(CT, "2026-01-19 14:00")) == "closed"  # 3.5 h: not the daily break
    assert c.next_open_ns(ns(CT, "2026-01-19 14:00")) == ns(CT, "2026-01-19 17:00")


def test_chinese_holidays_come_from_xshg_with_no_night_session_the_evening_before() -> None:
    with warnings.catch_warnings():  # exchange_calendars on pandas 3 warns of deprecations
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        xshg = xcals.get_calendar("XSHG")
    for name in ("shfe_au", "shfe_cu", "ine_sc", "dce_i"):
        c = CALS[name]
        d = date(2026, 9, 1)
        while d < date(2026, 11, 1):  # the library decides every weekday
            if d.weekday() < 5:
                assert c.is_trading_day(d) == xshg.is_session(d.isoformat()), (name, d)
            d += timedelta(days=1)
        assert not c.is_trading_day(date(2026, 10, 1))  # National Day
        assert c.day_spans(date(2026, 10, 1)) == []
        # 2026-09-30 evening would be 10-01's night session: closed till 10-08 09:00
        t = ns(SH, "2026-09-30 21:30")
        assert c.state_at(t) == "closed" and c.next_open_ns(t) == ns(SH, "2026-10-08 09:00")
        # no night session on the last holiday evening either; the first is 10-08's evening
        assert c.next_open_ns(ns(SH, "2026-10-07 21:30")) == ns(SH, "2026-10-08 09:00")
        assert c.next_open_ns(ns(SH, "2026-10-08 15:00")) == ns(SH, "2026-10-08 21:00")
    night_end = {"shfe_au": "02:30", "shfe_cu": "01:00", "ine_sc": "02:30", "dce_i": "23:00"}
    for name, end in night_end.items():
        t = ns(SH, "2026-10-08 21:00")
        day = "2026-10-08" if end == "23:00" else "2026-10-09"
        assert CALS[name].open_until_ns(t) == ns(SH, f"{day} {end}"), name


def test_project_holidays_add_to_the_library(tmp_path: Path) -> None:
    raw = (Path(__file__).parents[2] / "conf" / "calendars.toml").read_text()
    raw = raw.replace('library = "XSHG"\n', 'library = "XSHG"\nholidays = ["2026-03-10"]\n', 1)
    c = parse_calendars(raw.encode())["shfe_au"]
    assert not c.is_trading_day(date(2026, 3, 10))
    assert c.state_at(ns(SH, "2026-03-10 10:00")) == "closed"
    assert c.state_at(ns(SH, "2026-03-09 21:30")) == "closed"  # its night session too
    assert CALS["shfe_au"].state_at(ns(SH, "2026-03-10 10:00")) == "open"


def _one(body: str) -> dict[str, Calendar]:
    return parse_calendars(f'[calendars.x]\ntz = "America/Chicago"\ndays = ["Mon"]\n{body}'
                           .encode(), "t.toml")


@pytest.mark.parametrize(("body", "message"), [
    ('library = "NOPE"\nlibrary_gives = "sessions"\n',
     "t.toml: calendars.x.library: unknown pandas_market_calendars calendar 'NOPE'"),
    ('library = "CMEGlobex_Metals"\nlibrary_gives = "sessions"\n'
     'sessions = [{ start = "09:00", end = "10:00" }]\n',
     "t.toml: calendars.x.sessions: the library gives the sessions"),
    ('library = "XSHG"\n', "t.toml: calendars.x.sessions: no session"),
    ('library = "XSHG"\nlibrary_gives = "all"\n', "library_gives"),
])
def test_library_fields_are_validated(body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _one(body)
