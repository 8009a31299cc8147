"""The IB gateway's pure parts: contracts -> instruments, depth -> deltas, the durable map."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from ib_async import ContractDetails, DOMLevel, Ticker

from tests.ib.tws import gc_details
from transports.config.gateways import IbContractConfig
from transports.errors import ConfigError
from transports.venues.ib.book import DepthBook
from transports.venues.ib.clmap import ClMap, Entry
from transports.venues.ib.contracts import Scale, expiry_ns, pick, to_instrument

GC = IbContractConfig(sym="GCZ6", con_id=900001, exchange="COMEX")


def test_contract_details_become_a_v2_future_instrument() -> None:
    inst, scale = to_instrument(GC, gc_details(), "oz", 50)
    assert (inst.sym, inst.tick, inst.lot, inst.ccy, inst.unit) == ("GCZ6", "0.1", "100", "USD",
                                                                    "oz")
    assert inst.kind == "future" and not inst.offsets and not inst.close_today
    assert inst.max_qty == 50 and inst.base == "GC"
    # 2026-12-29 13:30 New York (EST, UTC-5) = 18:30 UTC
    assert inst.expiry == int(dt.datetime(2026, 12, 29, 18, 30, tzinfo=dt.UTC).timestamp()) * 10**9
    assert scale == Scale("GCZ6", 900001, Decimal("0.1"), Decimal("100"))


def test_expiry_without_time_is_midnight_utc_and_without_date_zero() -> None:
    d = gc_details()
    d.lastTradeTime, d.timeZoneId = "", ""
    assert expiry_ns(d) == int(dt.datetime(2026, 12, 29, tzinfo=dt.UTC).timestamp()) * 10**9
    d.contract.lastTradeDateOrContractMonth = ""
    assert expiry_ns(d) == 0


def test_a_contract_ib_does_not_resolve_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"GCZ6.*conId 900001.*not known"):
        pick(GC, [])
    with pytest.raises(ConfigError, match="ambiguous"):
        pick(GC, [gc_details(1), gc_details(2)])
    with pytest.raises(ConfigError, match="minTick"):
        to_instrument(GC, ContractDetails(contract=gc_details().contract, minTick=0.0))


def test_prices_off_the_tick_are_refused_not_rounded() -> None:
    s = Scale("GCZ6", 1, Decimal("0.1"), Decimal("100"))
    assert s.to_ticks(2345.6) == 23456 and s.to_ticks(2345.65) is None
    assert s.to_price(23456) == 2345.6


def _ticker(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> Ticker:
    t = Ticker()
    t.domBids = [DOMLevel(p, q, "") for p, q in bids]
    t.domAsks = [DOMLevel(p, q, "") for p, q in asks]
    return t


def test_depth_is_diffed_against_what_was_published() -> None:
    b = DepthBook(Scale("GCZ6", 1, Decimal("0.1"), Decimal("100")), 5)
    d1 = b.from_dom(_ticker([(2345.6, 3), (2345.5, 7)], [(2345.7, 2)]), 10)
    assert d1 is not None and d1.seq == 1 and d1.b == [(23456, 3), (23455, 7)]
    assert d1.a == [(23457, 2)]
    assert b.from_dom(_ticker([(2345.6, 3), (2345.5, 7)], [(2345.7, 2)]), 11) is None
    d2 = b.from_dom(_ticker([(2345.5, 9)], [(2345.7, 2), (2345.9, 1)]), 12)
    assert d2 is not None and d2.seq == 2
    assert d2.b == [(23456, 0), (23455, 9)] and d2.a == [(23459, 1)]
    snap = b.snapshot(13)
    assert (snap.seq, snap.b, snap.a) == (2, [(23455, 9)], [(23457, 2), (23459, 1)])
    d3 = b.clear(14)
    assert d3 is not None and d3.seq == 3 and d3.b == [(23455, 0)]


def test_l1_feeds_the_same_book_and_ignores_nan() -> None:
    b = DepthBook(Scale("GCZ6", 1, Decimal("0.1"), Decimal("100")), 5)
    t = Ticker()  # its defaults are NaN: no ask
    t.bid, t.bidSize = 2345.6, 4.0
    d = b.from_l1(t, 1)
    assert d is not None and d.b == [(23456, 4)] and d.a == []


def test_the_order_map_is_durable_and_survives_a_torn_line(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    m = ClMap(p)
    m.record(Entry("1.1.0.0", 101, "GCZ6", "B", 23456, 2, "GTC"))
    m.record_perm("1.1.0.0", 555)
    m.close()
    with p.open("ab") as f:
        f.write(b'{"cl":"1.2.0.0","order_id":1')  # a crash mid-write
    m2 = ClMap(p)
    assert m2.by_cl["1.1.0.0"] == Entry("1.1.0.0", 101, "GCZ6", "B", 23456, 2, "GTC", 555)
    assert m2.cl_of("", 101) == "1.1.0.0" and m2.cl_of("", 0, 555) == "1.1.0.0"
    assert m2.cl_of("1.1.0.0") == "1.1.0.0" and m2.cl_of("other", 7) is None
    assert "1.2.0.0" not in m2.by_cl
    # the order placed after the restart survives the next one (the torn line was cut at open;
    # appended after it, the new line was glued onto it and lost as unreadable)
    m2.record(Entry("1.3.0.0", 103, "GCZ6", "S", 23450, 1, "IOC"))
    m2.close()
    m3 = ClMap(p)
    assert m3.cl_of("", 103) == "1.3.0.0" and m3.cl_of("", 0, 555) == "1.1.0.0"
    assert m3.log.bad_lines == 0
    m3.close()


def test_time_in_force_mapping_follows_the_config(tmp_path: Path) -> None:
    from transports.config.gateways import IbVenueConfig
    from transports.venues.ib.orders import IbOrders

    def tif(**kw: str) -> list[tuple[str, bool]]:
        oe = IbOrders(None, IbVenueConfig(**kw), {}, {}, ClMap(tmp_path / "x.jsonl"),  # type: ignore[arg-type]
                      lambda m: None, lambda: 0, {})
        return [oe._tif(t) for t in ("IOC", "FOK", "GTC")]

    assert tif() == [("IOC", False), ("FOK", False), ("DAY", False)]
    assert tif(fok="IOC_AON", gtc_tif="GTC") == [("IOC", False), ("IOC", True), ("GTC", False)]
