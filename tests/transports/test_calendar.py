"""Trading calendars: session edges, breaks, holidays and night sessions in each time zone."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from transports.calendar import MAX_NS, Calendar, load_calendars, parse_calendars
from transports.errors import ConfigError

CALS = load_calendars()
SH, CT, NY, UTC = "Asia/Shanghai", "America/Chicago", "America/New_York", "UTC"


def ns(tz: str, text: str) -> int:
    """Local ``YYYY-MM-DD HH:MM[:SS]`` in ``tz`` as epoch ns."""
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()) * 10**9


def check(cal: Calendar, tz: str, at: str, state: str, until: str | None, nxt: str) -> None:
    t = ns(tz, at)
    assert cal.state_at(t) == state, at
    assert cal.open_until_ns(t) == (ns(tz, until) if until else 0), at
    assert cal.next_open_ns(t) == ns(tz, nxt), at


def test_embedded_calendars() -> None:
    assert set(CALS) == {"shfe_au", "shfe_cu", "ine_sc", "dce_i", "comex_gc", "crypto", "fx_24x5"}
    assert {c.spec.tz for c in CALS.values()} == {SH, CT, UTC, NY}


def test_shfe_session_edges_and_breaks() -> None:
    c = CALS["shfe_au"]
    check(c, SH, "2026-03-10 08:59:59", "closed", None, "2026-03-10 09:00")
    check(c, SH, "2026-03-10 09:00", "open", "2026-03-10 10:15", "2026-03-10 09:00")
    check(c, SH, "2026-03-10 10:15", "break", None, "2026-03-10 10:30")  # 10:15-10:30
    check(c, SH, "2026-03-10 11:00", "open", "2026-03-10 11:30", "2026-03-10 11:00")
    check(c, SH, "2026-03-10 12:00", "break", None, "2026-03-10 13:30")  # 11:30-13:30
    check(c, SH, "2026-03-10 14:59:59", "open", "2026-03-10 15:00", "2026-03-10 14:59:59")
    check(c, SH, "2026-03-10 15:00", "closed", None, "2026-03-10 21:00")  # till the night


def test_shfe_night_session_crosses_midnight_and_belongs_to_the_next_day() -> None:
    c = CALS["shfe_au"]
    check(c, SH, "2026-03-10 23:00", "open", "2026-03-11 02:30", "2026-03-10 23:00")
    check(c, SH, "2026-03-11 01:00", "open", "2026-03-11 02:30", "2026-03-11 01:00")
    check(c, SH, "2026-03-11 02:30", "closed", None, "2026-03-11 09:00")
    # Friday's night session is Monday's: it runs into Saturday morning
    check(c, SH, "2026-03-14 01:00", "open", "2026-03-14 02:30", "2026-03-14 01:00")
    check(c, SH, "2026-03-14 03:00", "closed", None, "2026-03-16 09:00")
    check(c, SH, "2026-03-16 20:00", "closed", None, "2026-03-16 21:00")


def test_shfe_holidays_and_no_night_session_before_them() -> None:
    c = CALS["shfe_au"]
    check(c, SH, "2026-02-13 14:00", "open", "2026-02-13 15:00", "2026-02-13 14:00")
    check(c, SH, "2026-02-13 21:30", "closed", None, "2026-02-24 09:00")  # Spring Festival eve
    check(c, SH, "2026-02-18 10:00", "closed", None, "2026-02-24 09:00")
    check(c, SH, "2026-02-23 21:30", "closed", None, "2026-02-24 09:00")  # holiday evening
    check(c, SH, "2026-02-24 21:30", "open", "2026-02-25 02:30", "2026-02-24 21:30")
    check(c, SH, "2026-09-30 21:30", "closed", None, "2026-10-08 09:00")  # National Day


def test_comex_globex_maintenance_break_weekend_and_holidays() -> None:
    c = CALS["comex_gc"]
    check(c, CT, "2026-03-16 15:59:59", "open", "2026-03-16 16:00", "2026-03-16 15:59:59")
    check(c, CT, "2026-03-16 16:00", "break", None, "2026-03-16 17:00")  # daily maintenance
    check(c, CT, "2026-03-16 17:00", "open", "2026-03-17 16:00", "2026-03-16 17:00")
    check(c, CT, "2026-03-20 16:30", "closed", None, "2026-03-22 17:00")  # the weekend
    check(c, CT, "2026-03-22 16:59", "closed", None, "2026-03-22 17:00")
    # Thanksgiving is an early close on Globex metals, not a full holiday (the old hand-typed
    # calendar had it closed all day); the library's times: tests/transports/test_calendar_libs
    check(c, CT, "2026-11-25 16:30", "break", None, "2026-11-25 17:00")
    check(c, CT, "2026-11-26 12:00", "open", "2026-11-26 13:30", "2026-11-26 12:00")
    check(c, CT, "2026-11-26 17:30", "open", "2026-11-27 13:45", "2026-11-26 17:30")
    check(c, CT, "2026-12-24 16:30", "closed", None, "2026-12-27 17:00")  # Christmas


def test_comex_follows_chicago_daylight_saving() -> None:
    c = CALS["comex_gc"]
    # DST starts on Sunday 2026-03-08: the Sunday open moves from 23:00 to 22:00 UTC
    assert c.next_open_ns(ns(UTC, "2026-02-28 12:00")) == ns(UTC, "2026-03-01 23:00")
    assert c.next_open_ns(ns(UTC, "2026-03-07 12:00")) == ns(UTC, "2026-03-08 22:00")
    assert c.state_at(ns(UTC, "2026-03-01 22:30")) == "closed"
    assert c.state_at(ns(UTC, "2026-03-08 22:30")) == "open"
    assert c.open_until_ns(ns(UTC, "2026-03-09 12:00")) == ns(UTC, "2026-03-09 21:00")
    assert c.open_until_ns(ns(UTC, "2026-03-02 12:00")) == ns(UTC, "2026-03-02 22:00")
    # and back on Sunday 2026-11-01
    assert c.next_open_ns(ns(UTC, "2026-10-31 12:00")) == ns(UTC, "2026-11-01 23:00")
    assert c.open_until_ns(ns(CT, "2026-11-02 09:00")) == ns(UTC, "2026-11-02 22:00")


def test_crypto_is_always_open() -> None:
    c = CALS["crypto"]
    for at in ("2026-01-01 00:00", "2026-03-08 08:00", "2026-12-31 23:59:59"):
        t = ns(UTC, at)
        assert (c.state_at(t), c.open_until_ns(t), c.next_open_ns(t)) == ("open", MAX_NS, t)


def test_fx_24x5_is_continuous_through_the_week() -> None:
    c = CALS["fx_24x5"]
    check(c, NY, "2026-03-16 12:00", "open", "2026-03-20 17:00", "2026-03-16 12:00")
    check(c, NY, "2026-03-20 17:00", "closed", None, "2026-03-22 17:00")


UTC_CAL = b"""
[calendars.utc_test]
tz = "UTC"
days = ["Mon", "Tue", "Wed", "Thu", "Fri"]
break_max_min = 30
sessions = [{ start = "01:00", end = "12:00" }, { start = "12:30", end = "23:00" }]
holidays = ["2026-12-25"]
"""


def test_a_utc_calendar_edge_break_and_holiday(tmp_path: Path) -> None:
    p = tmp_path / "cal.toml"
    p.write_bytes(UTC_CAL)
    c = load_calendars(p)["utc_test"]
    check(c, UTC, "2026-12-24 00:59", "closed", None, "2026-12-24 01:00")
    check(c, UTC, "2026-12-24 11:00", "open", "2026-12-24 12:00", "2026-12-24 11:00")
    check(c, UTC, "2026-12-24 12:15", "break", None, "2026-12-24 12:30")
    check(c, UTC, "2026-12-24 23:30", "closed", None, "2026-12-28 01:00")  # holiday + weekend
    check(c, UTC, "2026-12-25 10:00", "closed", None, "2026-12-28 01:00")


def test_answers_do_not_depend_on_the_order_of_questions() -> None:
    forward, shuffled = load_calendars()["shfe_au"], load_calendars()["shfe_au"]
    t0 = ns(SH, "2026-02-10 00:00")
    times = [t0 + k * 60 * 10**9 for k in range(0, 14 * 24 * 60, 7)]  # two weeks, 7 min apart

    def ask(c: Calendar, t: int) -> tuple[str, int, int]:
        return c.state_at(t), c.open_until_ns(t), c.next_open_ns(t)

    want = {t: ask(forward, t) for t in times}  # in order: the per-segment memo is used
    random.Random(1).shuffle(times)
    assert {t: ask(shuffled, t) for t in times} == want
    assert {s for s, _, _ in want.values()} == {"open", "break", "closed"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('"UTC"', '"Mars/Olympus"'), r"calendars\.utc_test\.tz: unknown time zone 'Mars/Olympus'"),
        (('"01:00"', '"1h"'), r"calendars\.utc_test\.sessions\[0\]\.start: not a time.*'1h'"),
        (('"23:00"', '"24:30"'), r"sessions\[1\]\.end: not a time.*'24:30'"),
        (('"Fri"]', '"Fry"]'), r"calendars\.utc_test\.days\[4\]:.*'Fry'"),
        (('"2026-12-25"', '"2026-02-30"'), r"holidays\[0\]: not a date.*'2026-02-30'"),
        (('"12:30"', '"11:30"'), r"sessions\[1\]\.start: '11:30' overlaps"),
        (("break_max_min = 30", "break_max_min = 2000"), r"break_max_min"),
        (("break_max_min = 30", "break_max = 30"), r"break_max"),
        (('end = "12:00" }', 'end = "12:00", day_offset = 2 }'), r"day_offset: must be -1 or 0"),
    ],
)
def test_validation_names_the_field_and_value(edit: tuple[str, str], message: str) -> None:
    raw = UTC_CAL.decode().replace(*edit).encode()
    assert raw != UTC_CAL
    with pytest.raises(ConfigError, match=message):
        parse_calendars(raw, "cal.toml")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="calendars file not found"):
        load_calendars(tmp_path / "none.toml")
