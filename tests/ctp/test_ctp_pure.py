"""The pure parts of the CTP gateway: times, offsets/tif/states/errors, depth diffs, positions,
the query queue, the durable cl map."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transports.venues.ctp import offsets as off
from transports.venues.ctp.clmap import ClMap
from transports.venues.ctp.md import DepthBooks, to_ticks
from transports.venues.ctp.reports import QueryQueue, positions_of
from transports.venues.ctp.time import CHINA, md_time_ns, trade_time_ns

NS = 1_000_000_000


def china(y: int, mo: int, d: int, h: int, mi: int, s: int = 0, ms: int = 0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, s, tzinfo=CHINA).timestamp()) * NS + ms * 1_000_000


# --- times ------------------------------------------------------------------------------------
# Friday 2026-12-04 night session: trading day Monday 2026-12-07.

def test_shfe_uses_action_day_across_midnight() -> None:
    recv = china(2026, 12, 5, 1, 30, 1)
    assert md_time_ns("SHFE", "20261207", "20261205", "01:30:00", 250, recv) == china(
        2026, 12, 5, 1, 30, 0, 250)
    recv = china(2026, 12, 4, 23, 59, 59)
    assert md_time_ns("INE", "20261207", "20261204", "23:59:59", 900, recv) == china(
        2026, 12, 4, 23, 59, 59, 900)


def test_dce_action_day_is_the_trading_day_at_night() -> None:
    recv = china(2026, 12, 4, 21, 0, 1)
    # DCE says Monday; the snapshot is of Friday 21:00
    assert md_time_ns("DCE", "20261207", "20261207", "21:00:00", 500, recv) == china(
        2026, 12, 4, 21, 0, 0, 500)


def test_czce_trading_day_is_the_calendar_day_at_night() -> None:
    recv = china(2026, 12, 4, 22, 59, 59, 900)
    assert md_time_ns("CZCE", "20261204", "20261204", "22:59:59", 0, recv) == china(
        2026, 12, 4, 22, 59, 59)


def test_snapshot_just_before_midnight_received_after_it() -> None:
    recv = china(2026, 12, 5, 0, 0, 0, 200)
    assert md_time_ns("DCE", "20261207", "20261207", "23:59:59", 900, recv) == china(
        2026, 12, 4, 23, 59, 59, 900)


def test_malformed_time_falls_back_to_receipt_and_bad_action_day_is_ignored() -> None:
    recv = china(2026, 12, 7, 9, 0, 1)
    assert md_time_ns("SHFE", "x", "y", "9:0", 0, recv) == recv
    assert md_time_ns("SHFE", "20261207", "20200101", "09:00:00", 0, recv) == china(
        2026, 12, 7, 9, 0)


@given(st.integers(min_value=china(2026, 1, 1, 0, 0) // 1_000_000,
                   max_value=china(2027, 1, 1, 0, 0) // 1_000_000),
       st.integers(min_value=0, max_value=5 * 3600 * 1000), st.sampled_from(
           ["SHFE", "DCE", "CZCE", "INE", "GFEX"]))
def test_any_stamp_within_hours_of_receipt_is_exact(stamp_ms: int, lag_ms: int,
                                                    exchange: str) -> None:
    """Whatever the exchange puts in the day fields, a stamp less than 12 h old is exact."""
    stamp = stamp_ms * 1_000_000
    c = dt.datetime.fromtimestamp(stamp_ms // 1000, CHINA)
    day = c.strftime("%Y%m%d")
    wrong_day = (c + dt.timedelta(days=3)).strftime("%Y%m%d")
    action = day if exchange in ("SHFE", "INE", "GFEX") else wrong_day
    got = md_time_ns(exchange, wrong_day, action, c.strftime("%H:%M:%S"),
                     stamp_ms % 1000, stamp + lag_ms * 1_000_000)
    assert got == stamp


def test_trade_time_is_never_in_the_future() -> None:
    recv = china(2026, 12, 7, 9, 0, 5)  # Monday morning
    # a live fill: its own clock time, today
    assert trade_time_ns("DCE", "20261207", "09:00:04", recv) == china(2026, 12, 7, 9, 0, 4)
    # a replay of Sunday... there is none: Friday night's fill, dated Monday (DCE: the
    # trading day) or Friday (SHFE: the calendar day)
    assert trade_time_ns("DCE", "20261207", "21:30:00", recv) == china(2026, 12, 4, 21, 30)
    assert trade_time_ns("SHFE", "20261204", "21:30:00", recv) == china(2026, 12, 4, 21, 30)
    assert trade_time_ns("SHFE", "20261205", "01:00:00", recv) == china(2026, 12, 5, 1, 0)
    # replays less than a day old ignore the date field
    late = china(2026, 12, 4, 23, 0)
    assert trade_time_ns("DCE", "20261207", "21:30:00", late) == china(2026, 12, 4, 21, 30)
    assert trade_time_ns("CZCE", "", "bad", recv) == recv
    assert trade_time_ns("CZCE", "", "10:00:00", recv) == china(2026, 12, 6, 10, 0)


# --- offsets, tif, states, errors -----------------------------------------------------------

def test_offsets_and_tif() -> None:
    assert [off.OFFSET_TO_CTP[o] for o in ("open", "close", "close_today", "close_yesterday")] \
        == ["0", "1", "3", "4"]
    assert all(off.CTP_TO_OFFSET[v] == k for k, v in off.OFFSET_TO_CTP.items() if k)
    assert off.tif_to_ctp("IOC") == ("1", "1")  # FAK
    assert off.tif_to_ctp("FOK") == ("1", "3")
    assert off.tif_to_ctp("GTC") == ("3", "1")  # GFD
    for tif in ("IOC", "FOK", "GTC"):
        assert off.ctp_to_tif(*off.tif_to_ctp(tif)) == tif
    assert off.SIDE_TO_DIRECTION == {"B": "0", "S": "1"}


@pytest.mark.parametrize(("status", "submit", "traded", "tif", "want"), [
    ("0", "3", 5, "GTC", "filled"),
    ("1", "3", 2, "GTC", "partial"),
    ("3", "3", 0, "GTC", "new"),
    ("a", "0", 0, "GTC", "new"),
    ("5", "3", 0, "GTC", "canceled"),
    ("5", "3", 2, "IOC", "expired"),
    ("5", "4", 0, "GTC", "rejected"),
    ("5", "4", 1, "GTC", "canceled"),
    ("z", "3", 0, "GTC", "unknown"),
])
def test_order_state(status: str, submit: str, traded: int, tif: str, want: str) -> None:
    assert off.order_state(status, submit, traded, tif) == want


def test_error_classes() -> None:
    assert off.classify(31) == ("reject", "insufficient_funds")
    assert off.classify(50) == ("reject", "over_close_today")
    assert off.classify(90) == ("throttled", "throttled")
    assert off.classify(12345) == ("reject", "ctp_12345")
    assert off.classify_req_return(0) is None
    assert off.classify_req_return(-2) == ("throttled", "throttled")
    assert off.classify_req_return(-3) == ("throttled", "throttled")
    assert off.classify_req_return(-1) == ("unknown", "")


# --- depth ------------------------------------------------------------------------------------

def depth(**kw: object) -> SimpleNamespace:
    base = {"InstrumentID": "au2612", "ExchangeID": "SHFE", "TradingDay": "20261207",
            "ActionDay": "20261207", "UpdateTime": "09:00:00", "UpdateMillisec": 0}
    for side in ("Bid", "Ask"):
        for i in range(1, 6):
            base[f"{side}Price{i}"], base[f"{side}Volume{i}"] = 1.7976931348623157e308, 0
    base.update(kw)
    return SimpleNamespace(**base)


def test_l5_diff_and_removed_levels() -> None:
    books = DepthBooks({"au2612": Decimal("0.02")}, {"au2612": "SHFE"})
    recv = china(2026, 12, 7, 9, 0, 1)
    d1 = books.on_depth(depth(BidPrice1=600.0, BidVolume1=1, BidPrice2=599.98, BidVolume2=2,
                              AskPrice1=600.02, AskVolume1=3), recv)
    assert d1 is not None and d1.b == [(30_000, 1), (29_999, 2)] and d1.a == [(30_001, 3)]
    assert books.on_depth(depth(BidPrice1=600.0, BidVolume1=1, BidPrice2=599.98, BidVolume2=2,
                                AskPrice1=600.02, AskVolume1=3), recv) is None
    d2 = books.on_depth(depth(BidPrice1=599.98, BidVolume1=2, AskPrice1=600.02,
                              AskVolume1=3), recv)
    assert d2 is not None and d2.seq == 2 and d2.b == [(30_000, 0)] and d2.a == []
    assert books.repeats == 1
    assert books.on_depth(depth(InstrumentID="xx"), recv) is None and books.unknown == 1


@given(st.integers(min_value=1, max_value=10_000_000))
def test_to_ticks_round_trips(ticks: int) -> None:
    tick = Decimal("0.02")
    assert to_ticks(float(ticks * tick), tick) == ticks


# --- positions, queue, cl map ------------------------------------------------------------------

def test_positions_two_sided() -> None:
    rows = [SimpleNamespace(InstrumentID="au2612", PosiDirection=d, Position=p, TodayPosition=t)
            for d, p, t in (("2", 3, 0), ("2", 2, 2), ("3", 4, 1), ("1", 9, 9))]
    rows.append(SimpleNamespace(InstrumentID="m2701", PosiDirection="3", Position=0,
                                TodayPosition=0))
    [p] = positions_of(rows)
    assert (p.long, p.short, p.long_today, p.short_today, p.net) == (5, 4, 2, 1, 1)


def test_query_queue_spacing_and_retry() -> None:
    q = QueryQueue(interval_ns=NS)
    a, b = (lambda: 0), (lambda: 0)
    q.put(a)
    q.put(b)
    assert q.due(10 * NS) is a
    assert q.due(10 * NS + NS // 2) is None
    q.retry(a, 11 * NS)
    assert q.due(11 * NS + NS // 2) is None
    assert q.due(12 * NS) is a and q.due(13 * NS) is b and q.due(14 * NS) is None


def test_clmap_survives_restart_and_torn_line(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    m = ClMap(p)
    m.put_order("c1", 1, 100, "7", sym="au2612", side="B", px=1, qty=1, tif="GTC", offset="open")
    m.put_sys("c1", "SHFE", "  55")
    m.close()
    with open(p, "a") as f:
        f.write('{"cl": "c2", "fro')
    m2 = ClMap(p)
    assert m2.cl_of_ref(1, 100, "7") == "c1" and m2.cl_of_sys("SHFE", "55") == "c1"
    assert m2.max_ref(1, 100) == 7 and m2.max_ref(2, 1) == 0
    assert m2.log.cut_bytes == len('{"cl": "c2", "fro') and m2.bad_lines == 0
    # the order sent after the restart survives the next one (the torn line was cut at open;
    # appended after it, the new line was glued onto it and lost as unreadable)
    m2.put_order("c3", 1, 100, "8", sym="au2612", side="S", px=1, qty=1, tif="IOC",
                 offset="close")
    m2.close()
    m3 = ClMap(p)
    assert m3.cl_of_ref(1, 100, "8") == "c3" and m3.cl_of_sys("SHFE", "55") == "c1"
    assert m3.bad_lines == 0
    m3.close()
