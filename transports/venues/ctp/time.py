"""CTP market-data times (China time, UTC+8, no DST) to epoch ns — pure.

A depth snapshot says ``TradingDay`` (the session's trading day: for the night session, the
NEXT business day), ``ActionDay`` (meant to be the calendar day), ``UpdateTime`` ("HH:MM:SS")
and ``UpdateMillisec``. The exchanges fill ``ActionDay`` differently:

* SHFE, INE, GFEX: ``ActionDay`` is the calendar day, also after midnight (gold and silver
  trade until 02:30). It is used as sent.
* DCE: ``ActionDay`` is the trading day in the night session (Friday 21:00 says Monday), so it
  is wrong from 21:00 until midnight.
* CZCE: ``TradingDay`` is the calendar day in the night session (not the next trading day) and
  ``ActionDay`` follows it; the night session ends at 23:00.

For DCE and CZCE (and any snapshot whose ``ActionDay`` is empty or more than 12 h from the
receipt) the calendar day is the one of yesterday/today/tomorrow (China time, of the receipt
``recv_ns``) that puts the stamp nearest the receipt: a snapshot is never 12 h late, so this
is right across midnight and weekends without a holiday calendar.
"""

from __future__ import annotations

import datetime as dt

CHINA = dt.timezone(dt.timedelta(hours=8))
NS = 1_000_000_000
DAY_NS = 86_400 * NS
HALF_DAY_NS = DAY_NS // 2
#: exchanges whose ActionDay is the calendar day
ACTION_DAY_RELIABLE = frozenset({"SHFE", "INE", "GFEX", "CFFEX"})


def _day_ns(yyyymmdd: str) -> int | None:
    """Midnight China time of ``YYYYMMDD`` in epoch ns; None when not a date."""
    try:
        d = dt.datetime.strptime(yyyymmdd, "%Y%m%d").replace(tzinfo=CHINA)
    except ValueError:
        return None
    return int(d.timestamp()) * NS


def _clock_ns(update_time: str, millis: int) -> int | None:
    """ns since midnight of "HH:MM:SS" + milliseconds; None when malformed."""
    parts = update_time.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    h, m, s = (int(p) for p in parts)
    if h > 23 or m > 59 or s > 60:
        return None
    return ((h * 60 + m) * 60 + s) * NS + max(0, min(int(millis), 999)) * 1_000_000


def md_time_ns(exchange: str, trading_day: str, action_day: str, update_time: str,
               update_millis: int, recv_ns: int) -> int:
    """Epoch ns of a depth snapshot's stamp (see the module doc); ``recv_ns`` (epoch ns, our
    clock) anchors the day where the exchange's own day cannot be trusted, and is returned
    when the stamp is malformed."""
    clock = _clock_ns(update_time, update_millis)
    if clock is None:
        return recv_ns
    if exchange in ACTION_DAY_RELIABLE:
        day = _day_ns(action_day)
        if day is not None and abs(day + clock - recv_ns) < HALF_DAY_NS:
            return day + clock
    china_midnight = (recv_ns + 8 * 3600 * NS) // DAY_NS * DAY_NS - 8 * 3600 * NS
    candidates = (china_midnight - DAY_NS, china_midnight, china_midnight + DAY_NS)
    return min((d + clock for d in candidates), key=lambda t: abs(t - recv_ns))


def _prev_weekday(day_ns: int) -> int:
    d = dt.datetime.fromtimestamp(day_ns // NS, CHINA) - dt.timedelta(days=1)
    while d.weekday() >= 5:
        d -= dt.timedelta(days=1)
    return int(d.timestamp()) * NS


def trade_time_ns(exchange: str, trade_date: str, trade_time: str, recv_ns: int,
                  slack_ns: int = 5 * NS) -> int:
    """Epoch ns of a trade report's ``TradeDate``/``TradeTime`` (China time).

    A report is never from the future, so the stamp is the latest occurrence of that clock
    time not after ``recv_ns`` (+ ``slack_ns`` for clock skew): exact for live reports and for
    replays less than a day old, whatever the date field says. An older replay (a resume after
    a weekend) takes its day from ``TradeDate``: the calendar day on SHFE/INE, the trading day
    elsewhere (DCE, CZCE), where a night-session time (from 18:00) belongs to the weekday
    before it (no holiday calendar: a night before a holiday is placed a day late)."""
    clock = _clock_ns(trade_time, 0)
    if clock is None:
        return recv_ns
    china_midnight = (recv_ns + 8 * 3600 * NS) // DAY_NS * DAY_NS - 8 * 3600 * NS
    latest = china_midnight + clock
    if latest > recv_ns + slack_ns:
        latest -= DAY_NS
    day = _day_ns(trade_date)
    if day is None:
        return latest
    if exchange not in ("SHFE", "INE") and clock >= 18 * 3600 * NS:
        day = _prev_weekday(day)
    return day + clock if day + clock < latest - HALF_DAY_NS else latest


__all__ = ["ACTION_DAY_RELIABLE", "CHINA", "md_time_ns", "trade_time_ns"]
