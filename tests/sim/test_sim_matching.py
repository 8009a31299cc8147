"""The simulator's matching engine, venue order handling and L2 publication (no sockets)."""

from __future__ import annotations

import msgspec
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from transports.config.engine import load_config, with_overrides
from transports.config.sim import FaultsConfig, SimConfig, SimVenueConfig
from transports.venues.sim.faults import FaultInjector
from transports.venues.sim.matching import MM_ACCOUNT, Book, Order, maker_quotes
from transports.venues.sim.truth import SimTruth
from transports.venues.sim.venue import SimVenue
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Delta,
    Done,
    Fill,
    NewOrder,
    OpenOrders,
    OpenOrdersReq,
    OrderStatus,
    Positions,
    PositionsReq,
    QueryReq,
    Reject,
    Trades,
    TradesReq,
)

CFG = load_config(None)
SHFE = [c for c in CFG.contracts if c.venue == "shfe"]
T0 = 1_700_000_000_000_000_000


def _order(oid: str, account: str, side: str, px: int, qty: int, tif: str = "GTC") -> Order:
    return Order(oid, account, oid, "X", side, px, qty, tif, T0)


def _venue(faults: FaultsConfig | None = None, **scfg: object) -> SimVenue:
    cfg = CFG if faults is None else with_overrides(CFG, sim=_sim_with(faults))
    inj = FaultInjector(cfg.sim.faults, np.random.default_rng(1))
    truth = SimTruth(cfg, inj.counts)
    sc = SimVenueConfig(name="shfe", **scfg)  # type: ignore[arg-type]
    return SimVenue("shfe", SHFE, sc, faults=inj, truth=truth, rng=np.random.default_rng(2))


def _sim_with(faults: FaultsConfig) -> SimConfig:
    return msgspec.structs.replace(CFG.sim, faults=faults)


def _mm(v: SimVenue, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
    """Put exact market-maker levels in the book of au2606."""
    book = v.books["au2606"]
    book.remove_account(MM_ACCOUNT)
    for side, ladder in (("B", bids), ("S", asks)):
        for px, q in ladder:
            book.submit(Order("mm", MM_ACCOUNT, "", "au2606", side, px, q, "GTC", T0))
    v.publish("au2606", T0)


def _new(v: SimVenue, cl: str, side: str, px: int, qty: int, tif: str, acct: str = "a") -> list:
    v.oe_out.clear()
    v.handle(acct, NewOrder(cl=cl, sym="au2606", side=side, px=px, qty=qty, tif=tif, ts=0), T0)
    out = [m for _, m in v.oe_out]
    v.oe_out.clear()
    return out


def test_price_time_priority() -> None:
    b = Book("X")
    b.submit(_order("s1", "a", "S", 101, 5))
    b.submit(_order("s2", "b", "S", 100, 3))
    b.submit(_order("s3", "c", "S", 100, 4))
    taker = _order("t", "d", "B", 101, 10, "IOC")
    ex = b.submit(taker)
    assert [(e.maker.oid, e.px, e.qty) for e in ex] == [
        ("s2", 100, 3),
        ("s3", 100, 4),
        ("s1", 101, 3),
    ]
    assert taker.state == "filled" and b.levels("S") == [(101, 2)]


def test_ioc_partial_then_remainder_canceled() -> None:
    v = _venue()
    _mm(v, [(100, 5)], [(101, 4), (102, 6)])
    out = _new(v, "c1", "B", 101, 10, "IOC")
    assert isinstance(out[0], Ack)
    fills = [m for m in out if isinstance(m, Fill)]
    assert [(f.px, f.qty, f.liq) for f in fills] == [(101, 4, "T")]
    assert out[-1] == Done(cl="c1", oid=out[0].oid, state="canceled", cum=4, ts=T0)
    assert v.books["au2606"].levels("S") == [(102, 6)]


def test_fok_all_or_nothing() -> None:
    v = _venue()
    _mm(v, [(100, 5)], [(101, 4), (102, 6)])
    out = _new(v, "f1", "B", 102, 11, "FOK")
    assert [type(m) for m in out] == [Ack, Done]
    assert out[1].state == "canceled" and out[1].cum == 0
    assert v.books["au2606"].levels("S") == [(101, 4), (102, 6)]
    out = _new(v, "f2", "B", 102, 10, "FOK")
    assert sum(m.qty for m in out if isinstance(m, Fill)) == 10
    assert out[-1].state == "filled" and out[-1].cum == 10


def test_gtc_rests_then_fills_when_the_maker_crosses() -> None:
    v = _venue(levels=3, level_qty_lots=10, spread_ticks=1)
    tick = 0.02
    v.requote(T0, {"au2606": 600.0})
    best_ask = v.books["au2606"].best("S")
    out = _new(v, "g1", "B", best_ask - 5, 2, "GTC")
    assert [type(m) for m in out] == [Ack]
    v.handle("a", OpenOrdersReq(), T0)
    (_, oo) = v.oe_out.pop()
    assert isinstance(oo, OpenOrders) and [o.cl for o in oo.list] == ["g1"]
    v.requote(T0 + 1, {"au2606": 600.0 - 20 * tick})  # the market falls through the bid
    reps = [m for _, m in v.oe_out]
    fills = [m for m in reps if isinstance(m, Fill)]
    assert fills and all(f.px == best_ask - 5 and f.liq == "M" for f in fills)
    assert sum(f.qty for f in fills) == 2 and isinstance(reps[-1], Done)
    assert reps[-1].state == "filled"


def test_fees_positions_and_unique_trade_ids() -> None:
    v = _venue()
    _mm(v, [(100, 50)], [(101, 1), (102, 1), (103, 1), (104, 50)])
    tids: list[str] = []
    for i in range(5):
        out = _new(v, f"c{i}", "B", 104, 3, "IOC")
        for f in (m for m in out if isinstance(m, Fill)):
            assert f.fee == 10.0 * f.qty  # CNY per lot, proportional to the filled lots
            tids.append(f.tid)
    assert len(tids) == len(set(tids)) == 7
    v.handle("a", PositionsReq(), T0)
    v.handle("a", TradesReq(since=0), T0)
    pos, trades = v.oe_out[-2][1], v.oe_out[-1][1]
    assert isinstance(pos, Positions) and pos.list[0].qty == 15
    assert isinstance(trades, Trades) and len(trades.list) == 7
    d = v.truth.to_dict()
    assert d["positions"] == {"a": {"au2606": 15}} and d["counts"]["fills"] == 7
    assert sum(f["fee"] for f in d["fills"]) == 150.0


def test_duplicate_client_ids_and_rejects() -> None:
    v = _venue()
    _mm(v, [(100, 5)], [(101, 5)])
    assert isinstance(_new(v, "c1", "B", 99, 1, "GTC")[0], Ack)
    dup_open = _new(v, "c1", "B", 99, 1, "GTC")
    assert isinstance(dup_open[0], Reject) and dup_open[0].code == "duplicate_cl"
    assert isinstance(_new(v, "c2", "B", 101, 1, "IOC")[0], Ack)
    assert isinstance(_new(v, "c2", "B", 101, 1, "IOC")[0], Ack)  # reuse after close
    assert v.truth.counts["duplicate_client_ids"] == 2
    assert _new(v, "c3", "B", 101, 0, "IOC")[0].code == "bad_qty"
    assert _new(v, "c4", "B", 101, 101, "IOC")[0].code == "qty_above_max"
    assert _new(v, "c5", "B", 0, 1, "IOC")[0].code == "bad_price"
    v.oe_out.clear()
    v.handle("a", NewOrder(cl="c6", sym="nope", side="B", px=1, qty=1, tif="IOC", ts=0), T0)
    assert v.oe_out[0][1].code == "unknown_symbol"
    v.handle("a", QueryReq(cl="c6"), T0)
    v.handle("a", QueryReq(cl="never"), T0)
    assert v.oe_out[-2][1].state == "rejected" and v.oe_out[-1][1].state == "unknown"
    assert v.truth.counts["orders"] == 8 and len(v.truth.orders) == 8


def test_cancel_and_query() -> None:
    v = _venue()
    _mm(v, [(100, 5)], [(101, 5)])
    ack = _new(v, "g", "S", 105, 2, "GTC")[0]
    v.oe_out.clear()
    v.handle("a", QueryReq(cl="g"), T0)
    st_ = v.oe_out.pop()[1]
    assert isinstance(st_, OrderStatus) and st_.state == "new" and st_.leaves == 2
    v.handle("a", CancelReq(cl="g", ts=0), T0)
    assert v.oe_out.pop()[1] == Done(cl="g", oid=ack.oid, state="canceled", cum=0, ts=T0)
    assert v.books["au2606"].levels("S") == [(101, 5)]
    v.handle("a", CancelReq(cl="g", ts=0), T0)
    v.handle("a", CancelReq(cl="zzz", ts=0), T0)
    r1, r2 = v.oe_out[-2][1], v.oe_out[-1][1]
    assert isinstance(r1, CancelReject) and r1.code == "not_open"
    assert isinstance(r2, CancelReject) and r2.code == "unknown_order"


def test_fault_switches_reject_and_partial() -> None:
    v = _venue(FaultsConfig(oe_reject=1.0))
    _mm(v, [(100, 5)], [(101, 5)])
    r = _new(v, "x", "B", 101, 2, "IOC")[0]
    assert isinstance(r, Reject) and r.code == "sim_fault"
    v = _venue(FaultsConfig(oe_partial=1.0))
    _mm(v, [(100, 5)], [(101, 50)])
    out = _new(v, "y", "B", 101, 10, "IOC")
    cum = sum(m.qty for m in out if isinstance(m, Fill))
    assert 1 <= cum < 10 and out[-1].state == "canceled" and out[-1].cum == cum
    assert v.faults.counts["fault_oe_partial"] == 1


def test_maker_quotes_ladder() -> None:
    bids, asks = maker_quotes(
        600.013, 0.02, spread_ticks=1, levels=4, level_qty=40, rng=np.random.default_rng(0)
    )
    assert bids[0][0] == 30000 and asks[0][0] == 30001
    assert [p for p, _ in bids] == [30000, 29999, 29998, 29997]
    assert all(20 <= q <= 60 for _, q in bids + asks)


def _apply(book: dict[str, dict[int, int]], d: Delta) -> None:
    for side, levels in (("b", d.b), ("a", d.a)):
        for px, q in levels:
            if q == 0:
                book[side].pop(px, None)
            else:
                book[side][px] = q


ops = st.lists(
    st.tuples(
        st.sampled_from(["GTC", "IOC", "FOK", "cancel", "mm"]),
        st.sampled_from(["B", "S"]),
        st.integers(95, 105),
        st.integers(1, 8),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None, database=None)
@given(ops)
def test_deltas_applied_to_a_snapshot_reproduce_the_next_snapshot(seq_ops: list) -> None:
    b = Book("X")
    snap = b.snapshot(0)
    local = {"b": dict(snap.b), "a": dict(snap.a)}
    last_seq = snap.seq
    resting: list[Order] = []
    for i, (kind, side, px, qty) in enumerate(seq_ops):
        if kind == "cancel":
            if resting:
                o = resting.pop(0)
                if o.is_open and b.remove(o):
                    o.state = "canceled"
        elif kind == "mm":
            b.remove_account(MM_ACCOUNT)
            b.submit(Order("mm", MM_ACCOUNT, "", "X", "B", px - 3, qty, "GTC", 0))
            b.submit(Order("mm", MM_ACCOUNT, "", "X", "S", px + 3, qty, "GTC", 0))
        else:
            o = _order(f"o{i}", f"acct{i % 3}", side, px, qty, kind)
            b.submit(o)
            if o.is_open and kind == "GTC":
                resting.append(o)
        d = b.take_delta(i)
        if d is not None:
            assert d.seq == last_seq + 1
            last_seq = d.seq
            _apply(local, d)
        snap = b.snapshot(i)
        assert snap.seq == last_seq
        assert dict(snap.b) == local["b"] and dict(snap.a) == local["a"]
        assert [p for p, _ in snap.b] == sorted(local["b"], reverse=True)
        if snap.b and snap.a:
            assert snap.b[0][0] < snap.a[0][0]  # never crossed
