"""``cmc calendar VENUE DATE``: the printed sessions are the library's and the engine's."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas_market_calendars as mcal
from click.testing import CliRunner

from scripts.cli import main as cli
from transports.calendar import load_calendars

CALS = load_calendars()


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["calendar", *args])
    return res.exit_code, res.output


def report(*args: str) -> dict:
    code, out = run(*args, "--json")
    assert code == 0, out
    return json.loads(out)


def test_thanksgiving_and_the_friday_after_are_early_closes_as_the_library_says() -> None:
    lib = mcal.get_calendar("CMEGlobex_Metals")
    sched = lib.schedule("2026-11-26", "2026-11-27")
    for day, name in (("2026-11-26", "Thanksgiving"), ("2026-11-27", "")):
        r = report("comex_gc", day)
        assert r["trading_day"] and r["early_close"] and r["holiday"] == name
        (s,) = r["sessions"]
        row = sched.loc[day]
        assert (s["open_ns"], s["close_ns"]) == (row.market_open.value, row.market_close.value)
        assert s["early_close"]
    code, out = run("comex_gc", "2026-11-26")
    assert code == 0
    assert "2026-11-25 17:00 Wed   2026-11-26 13:30 Thu   2026-11-25 23:00 Wed" in out
    assert "19:30 Thu  EARLY CLOSE" in out and "early close (Thanksgiving)" in out


def test_a_full_holiday_is_named() -> None:
    r = report("comex_gc", "2026-12-25")
    assert not r["trading_day"] and r["sessions"] == []
    assert (r["closed"], r["holiday"]) == ("holiday", "Christmas")
    assert "closed, holiday: Christmas" in run("comex_gc", "2026-12-25")[1]


def test_national_day_is_closed_with_no_night_session_the_evening_before() -> None:
    r = report("shfe_au", "2026-10-01")
    assert not r["trading_day"] and r["sessions"] == [] and r["closed"].startswith("holiday")
    assert any("evening of 2026-09-30" in n for n in r["notes"])
    r = report("shfe_au", "2026-10-08")  # first day back: day sessions only
    assert [s["open_local"][11:16] for s in r["sessions"]] == ["09:00", "10:30", "13:30"]
    r = report("shfe_au", "2026-10-09")  # its night session opens the evening before
    assert r["sessions"][0]["open_local"] == "2026-10-08 21:00 Thu"
    assert r["sessions"][0]["open_utc"] == "2026-10-08 13:00 Thu"


def test_the_engine_calendar_answers_match_the_printed_sessions() -> None:
    for name, day in (("comex_gc", "2026-11-26"), ("comex_gc", "2026-11-27"),
                      ("shfe_au", "2026-09-30"), ("dce_i", "2026-10-09"),
                      ("comex_gc", "2026-01-19")):
        cal = CALS[name]
        r = report(name, day)
        assert r["sessions"], (name, day)
        for s in r["sessions"]:
            o, c = s["open_ns"], s["close_ns"]
            assert cal.state_at(o) == "open" and cal.open_until_ns(o) == c, (name, day)
            assert cal.next_open_ns(o - 1) == o and cal.state_at(c) != "open", (name, day)
        assert cal.day_spans(date.fromisoformat(day)) == [
            (s["open_ns"], s["close_ns"]) for s in r["sessions"]]


def test_a_venue_of_a_config_and_errors(tmp_path: Path) -> None:
    conf = Path(__file__).parents[2] / "conf" / "demo.toml"
    text = conf.read_text().replace('# calendar = "shfe_au"', 'calendar = "shfe_au"', 1)
    mine = tmp_path / "c.toml"
    mine.write_text(text)
    from transports.config.engine import load_config

    venue = next(v.name for v in load_config(mine).venues if v.calendar == "shfe_au")
    assert report(venue, "2026-10-01", "--conf", str(mine))["calendar"] == "shfe_au"
    code, out = run("nowhere", "2026-10-01")
    assert code == 2 and "unknown calendar 'nowhere'" in out
    code, out = run("comex_gc", "2026-13-01")
    assert code == 2 and "not a date YYYY-MM-DD" in out
