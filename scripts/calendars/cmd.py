"""``cmc calendar VENUE DATE [--json]``: one trading day's sessions, local and UTC.

VENUE is a calendar of ``conf/calendars.toml`` (``comex_gc``, ``shfe_au`` …) or, with ``--conf``,
a venue of that config (its ``calendar``). DATE is the trading day: an SHFE night session is
printed under the day it belongs to (it opens the evening before), a CME Globex session under
its trade date (it opens at 17:00 CT the day before). The sessions are the ``Calendar``'s own
(``Calendar.day_spans``), so what is printed is what the engine refuses or allows.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click
import msgspec

from transports.calendar import Calendar, load_calendars
from transports.errors import CmcError, ConfigError

_FMT = "%Y-%m-%d %H:%M %a"


def _stamp(ns: int, tz: Any) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz).strftime(_FMT)


def resolve(venue: str, conf: str | None) -> Calendar:
    """The calendar named ``venue``, or the calendar of venue ``venue`` in config ``conf``."""
    cals = load_calendars()
    if conf is not None:
        from transports.config.engine import load_config

        cfg = load_config(conf)
        named = {v.name: v.calendar for v in cfg.venues}
        if venue not in named:
            raise ConfigError(f"{conf}: no venue {venue!r} (venues: {sorted(named)})")
        if not named[venue]:
            raise ConfigError(f"{conf}: venue {venue!r} names no calendar (always open)")
        venue = named[venue]
    if venue not in cals:
        raise ConfigError(f"unknown calendar {venue!r} (known: {sorted(cals)})")
    return cals[venue]


def _prev_weekday(cal: Calendar, d: date) -> date:
    p = d - timedelta(days=1)
    while p.weekday() not in cal.weekdays:
        p -= timedelta(days=1)
    return p


def _night_evening(cal: Calendar, d: date) -> date | None:
    """The evening whose night session closed day ``d`` would have had (None: no night
    sessions, or that evening is not a trading day anyway)."""
    if cal.lib_sessions or cal.spec.evening != "trading_eve":
        return None
    if not any(s.day_offset == -1 for s in cal.spec.sessions):
        return None
    p = _prev_weekday(cal, d)
    return p if cal.is_trading_day(p) else None


def day_report(cal: Calendar, d: date) -> dict[str, Any]:
    """Trading day ``d`` of ``cal``: whether it trades, why not, its sessions local and UTC."""
    spec, lib_day = cal.spec, cal.library_day(d)
    name = cal.holiday_name(d)
    out: dict[str, Any] = {
        "calendar": cal.name, "date": d.isoformat(), "weekday": d.strftime("%a"), "tz": spec.tz,
        "library": spec.library, "library_gives": spec.library_gives if spec.library else "",
        "trading_day": cal.is_trading_day(d), "closed": "", "holiday": name,
        "early_close": False,
        "sessions": [], "notes": [],
    }
    if not out["trading_day"]:
        if d.weekday() not in cal.weekdays:
            out["closed"] = "not a trading weekday"
            return out
        out["closed"] = "holiday" + ("" if name else " (conf/calendars.toml)" if d in cal.holidays
                                     else f" ({spec.library} names none)")
        eve = _night_evening(cal, d)
        if eve is not None:
            out["notes"].append(f"no night session on the evening of {eve.isoformat()}: it would "
                                f"belong to this closed day")
        return out
    early = bool(cal.lib_sessions and lib_day is not None and lib_day.early_close)
    out["early_close"] = early
    if early:
        out["notes"].append(f"early close ({name or spec.library + ' names none'})")
    spans = cal.day_spans(d)
    if not cal.lib_sessions:
        nights = [s for s in spec.sessions if s.day_offset == -1]
        if nights and len(spans) < len(spec.sessions):
            prev = _prev_weekday(cal, d)
            out["notes"].append(f"no night session: the evening of {prev.isoformat()} is not a "
                                f"trading day (none before a holiday, none on its last evening)")
    for i, (o, c) in enumerate(spans):
        out["sessions"].append({
            "open_local": _stamp(o, cal.tz), "close_local": _stamp(c, cal.tz),
            "open_utc": _stamp(o, UTC), "close_utc": _stamp(c, UTC),
            "open_ns": o, "close_ns": c, "early_close": early and i == len(spans) - 1,
        })
    return out


def print_human(r: dict[str, Any]) -> None:
    """The report as a few lines for a person."""
    lib = f", library {r['library']} ({r['library_gives']})" if r["library"] else ""
    click.echo(f"{r['calendar']} {r['date']} {r['weekday']} ({r['tz']}{lib})")
    if not r["trading_day"]:
        why = f"{r['closed']}: {r['holiday']}" if r["holiday"] else r["closed"]
        click.echo(f"  closed, {why}")
        for n in r["notes"]:
            click.echo(f"  note: {n}")
        return
    click.echo(f"  {'open (local)':<22} {'close (local)':<22} {'open (UTC)':<22} close (UTC)")
    for s in r["sessions"]:
        flag = "  EARLY CLOSE" if s["early_close"] else ""
        click.echo(f"  {s['open_local']:<22} {s['close_local']:<22} {s['open_utc']:<22} "
                   f"{s['close_utc']}{flag}")
    for n in r["notes"]:
        click.echo(f"  note: {n}")


@click.command("calendar")
@click.argument("venue")
@click.argument("day", metavar="DATE")
@click.option("--conf", default=None, help="Config TOML: VENUE is one of its venues.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def calendar_cmd(venue: str, day: str, conf: str | None, as_json: bool) -> None:
    """Print trading day DATE's sessions of VENUE (a calendar name, or a venue with --conf)."""
    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise click.BadParameter(f"not a date YYYY-MM-DD: {day!r}", param_hint="DATE") from None
    try:
        report = day_report(resolve(venue, conf), d)
    except CmcError as exc:
        click.echo(f"cmc calendar: {exc}", err=True)
        sys.exit(2)
    if as_json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    else:
        print_human(report)


COMMANDS = [calendar_cmd]
