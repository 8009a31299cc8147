"""Every order outcome through the real gateway and the real ccxt library against the Binance
fake, judged from the fake's own record: fill, partial, FOK, cancel, reject, throttled,
unknown-then-found, duplicate client id, clock skew, a private-stream drop with fills during
the gap, and the list requests. The engine's side is real ZeroMQ sockets and codecs."""

from __future__ import annotations

import itertools
import re
from typing import Any

import ccxt
import pytest

from tests.gateway.ccxt_world import (
    CLOCK,
    SECRETS,
    Engine,
    GatewayThread,
    creds_of,
    wait_until,
)
from tests.support.hostile import HOSTILE_REQUESTS, is_malformed
from transports.venues.fake import binance as fake_binance
from transports.wire.venue_msgs import (
    Ack,
    Balances,
    BalancesReq,
    CancelReject,
    CancelReq,
    Done,
    Fill,
    Instruments,
    NewOrder,
    OpenOrders,
    OpenOrdersReq,
    OrderStatus,
    Ping,
    Pong,
    Positions,
    PositionsReq,
    QueryReq,
    Reject,
    Session,
    Trades,
    TradesReq,
)

pytestmark = pytest.mark.e2e

_CL = itertools.count(100)
SYM = "BTCUSDT"


def new_cl() -> str:
    """A fresh engine client id."""
    return f"1.{next(_CL)}.0.0"


def num(x: Any) -> int:
    """The integer in an exchange id (``"binance-12"``, ``"12"`` or 12)."""
    return int(re.sub(r"\D", "", str(x)))


def top(w: Any) -> tuple[int, int, int, int]:
    """(best bid, its lots, best ask, its lots) of what the gateway published."""
    def f() -> tuple[int, int, int, int]:
        b = w.gw.gw.md.books[SYM]
        bid, ask = max(b.bids), min(b.asks)
        return bid, b.bids[bid], ask, b.asks[ask]

    return w.gw.call(f)


def send_new(e: Engine, cl: str, side: str, px: int, qty: int, tif: str) -> None:
    e.send(NewOrder(cl=cl, sym=SYM, side=side, px=px, qty=qty, tif=tif,  # type: ignore[arg-type]
                    ts=CLOCK.now_ns()))


def truth_orders(w: Any, cl: str) -> list[dict[str, Any]]:
    return [o for o in w.fake.truth()["orders"] if o["cl"] == cl]


def truth_fills(w: Any, cl: str) -> list[dict[str, Any]]:
    return [f for f in w.fake.truth()["fills"] if f["cl"] == cl]


def done_of(e: Engine, cl: str, timeout_s: float = 5.0) -> Done:
    return e.wait_oe(lambda m: isinstance(m, Done) and m.cl == cl, timeout_s, f"done {cl}")


def assert_fills_match_truth(w: Any, e: Engine, cl: str) -> list[Fill]:
    fills = e.of(Fill, cl)
    tf = truth_fills(w, cl)
    assert sorted((num(f.tid), f.px, f.qty) for f in fills) == sorted(
        (num(f["tid"]), f["px"], f["qty"]) for f in tf)
    assert len({f.tid for f in fills}) == len(fills)  # each fill once
    return fills


def test_ioc_fill(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    _, _, ask, _ = top(w)
    cl = new_cl()
    send_new(e, cl, "B", ask + 20_000, 1, "IOC")  # marketable: 200 USDT through the touch
    d = done_of(e, cl)
    assert (d.state, d.cum) == ("filled", 1)
    (ack,) = e.of(Ack, cl)
    (fill,) = assert_fills_match_truth(w, e, cl)
    assert num(ack.oid) == num(fill.oid) and fill.qty == 1 and fill.px <= ask + 20_000
    assert e.oe_log.index(fill) < e.oe_log.index(d)  # the fill before the done
    (o,) = truth_orders(w, cl)
    assert (o["side"], o["qty"], o["tif"]) == ("B", 1, "IOC")


def test_ioc_partial_and_fok_all_or_nothing(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    for _ in range(5):  # the market moves every 50 ms: retry until the level is still there
        _, _, ask, ask_lots = top(w)
        cl = new_cl()
        send_new(e, cl, "B", ask, ask_lots + 5, "IOC")
        d = done_of(e, cl)
        if 0 < d.cum < ask_lots + 5:
            break
    else:
        pytest.fail("no partial fill in 5 tries")
    assert d.state in ("expired", "canceled")
    fills = assert_fills_match_truth(w, e, cl)
    assert sum(f.qty for f in fills) == d.cum
    st = e.of(OrderStatus, cl)
    assert not st  # nothing asked yet
    e.send(QueryReq(cl=cl))
    q = e.wait_oe(lambda m: isinstance(m, OrderStatus) and m.cl == cl, 5, "query reply")
    assert (q.state, q.cum, q.leaves, len(q.fills)) == (d.state, d.cum, 0, len(fills))
    # FOK for more than the touch offers at that price: nothing at all
    _, _, ask, ask_lots = top(w)
    cl = new_cl()
    send_new(e, cl, "B", ask, ask_lots + 500, "FOK")
    d = done_of(e, cl)
    assert d.cum == 0 and not e.of(Fill, cl) and not truth_fills(w, cl)


def test_gtc_rests_then_cancel_then_cancel_again(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    bid, _, _, _ = top(w)
    cl = new_cl()
    send_new(e, cl, "B", bid - 50_000, 2, "GTC")  # 500 USDT below the touch: rests
    e.wait_oe(lambda m: isinstance(m, Ack) and m.cl == cl, 5, "ack")
    e.send(OpenOrdersReq())
    oo = e.wait_oe(lambda m: isinstance(m, OpenOrders) and any(r.cl == cl for r in m.list), 5,
                   "open_orders with the order")
    (rec,) = [r for r in oo.list if r.cl == cl]
    assert (rec.px, rec.qty, rec.cum, rec.side) == (bid - 50_000, 2, 0, "B")
    e.send(CancelReq(cl=cl, ts=CLOCK.now_ns()))
    d = done_of(e, cl)
    assert (d.state, d.cum) == ("canceled", 0)
    e.send(CancelReq(cl=cl, ts=CLOCK.now_ns()))
    cr = e.wait_oe(lambda m: isinstance(m, CancelReject) and m.cl == cl, 5, "cancel_reject")
    assert cr.code == "not_open" and "canceled" in cr.reason
    assert len(truth_orders(w, cl)) == 1
    e.send(CancelReq(cl="1.999.0.0", ts=CLOCK.now_ns()))
    cr = e.wait_oe(lambda m: isinstance(m, CancelReject) and m.cl == "1.999.0.0", 5, "unknown")
    assert cr.code == "unknown_order"


def test_exchange_reject_is_definitive(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    w.fake.fault(kind="reject_orders", account="binance-spot", n=1)
    _, _, ask, _ = top(w)
    cl = new_cl()
    send_new(e, cl, "B", ask + 20_000, 1, "IOC")
    r = e.wait_oe(lambda m: isinstance(m, Reject) and m.cl == cl, 5, "reject")
    assert r.code in ("invalid_order", "exchange_reject") and r.retry_ms == 0
    assert not e.of(Ack, cl) and not truth_fills(w, cl)
    assert w.fake.truth()["fake_faults"]["counts"].get("reject_orders") == 1
    # a request the gateway refuses itself never reaches the exchange
    cl2 = new_cl()
    send_new(e, cl2, "B", ask, 5000, "IOC")  # above the instrument's max (1000 lots)
    r = e.wait_oe(lambda m: isinstance(m, Reject) and m.cl == cl2, 5, "reject")
    assert r.code == "qty_above_max" and not truth_orders(w, cl2)


def test_throttled_with_retry_after(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    w.fake.fault(kind="throttle_orders", account="binance-spot", n=1)
    _, _, ask, _ = top(w)
    cl = new_cl()
    send_new(e, cl, "B", ask + 20_000, 1, "IOC")
    r = e.wait_oe(lambda m: isinstance(m, Reject) and m.cl == cl, 5, "reject")
    assert (r.code, r.retry_ms) == ("throttled", 1000)  # the fake's Retry-After: 1 s
    assert not truth_fills(w, cl) and not e.of(Ack, cl)


def test_unknown_outcome_is_never_rejected_and_a_query_finds_it(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    w.fake.fault(kind="timeout_order", account="binance-spot", n=1, mode="error")
    _, _, ask, _ = top(w)
    cl = new_cl()
    send_new(e, cl, "B", ask + 20_000, 1, "IOC")
    # -1007 "execution status unknown": the order executed at the exchange
    wait_until(lambda: truth_fills(w, cl), 5, "the fake's fill")
    e.pump_oe(1.0)
    assert not e.of(Reject, cl), "an unknown outcome must never be reported as a reject"
    e.send(QueryReq(cl=cl))
    q = e.wait_oe(lambda m: isinstance(m, OrderStatus) and m.cl == cl, 5, "query reply")
    assert (q.state, q.cum, q.leaves) == ("filled", 1, 0)
    assert [(num(f.tid), f.qty) for f in q.fills] == [(num(f["tid"]), f["qty"])
                                                     for f in truth_fills(w, cl)]
    assert w.gw.gw.oe.counters["unknown_outcome"] >= 1
    e.pump_oe(0.3)
    assert len({f.tid for f in e.of(Fill, cl)}) == len(e.of(Fill, cl)) <= 1


def test_duplicate_client_id_never_makes_a_second_order(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    bid, _, _, _ = top(w)
    cl = new_cl()
    send_new(e, cl, "B", bid - 50_000, 1, "GTC")
    e.wait_oe(lambda m: isinstance(m, Ack) and m.cl == cl, 5, "ack")
    send_new(e, cl, "B", bid - 50_000, 1, "GTC")  # the gateway knows it
    r = e.wait_oe(lambda m: isinstance(m, Reject) and m.cl == cl, 5, "reject")
    assert r.code == "duplicate_cl"
    assert len(truth_orders(w, cl)) == 1
    # a second gateway (a restart, without this one's memory) sends it: the exchange refuses
    other = GatewayThread(w.cfg, "binance", str(w.d / "g2"), w.fake.http, account="binance-spot")
    other.start()
    try:
        e2 = Engine(w.ctx, w.cfg, "binance", str(w.d / "g2"), SYM)
        try:
            send_new(e2, cl, "B", bid - 50_000, 1, "GTC")
            r2 = e2.wait_oe(lambda m: isinstance(m, Reject) and m.cl == cl, 5, "reject")
            assert r2.code == "duplicate_cl"
        finally:
            e2.close()
    finally:
        other.stop()
    # the exchange heard the id twice (the restarted gateway's request), refused it, and has
    # exactly one order with it
    assert len(truth_orders(w, cl)) == 2
    assert w.fake.truth()["counts"].get("duplicate_client_ids", 0) >= 1
    mine = client(w, "binance-spot").fetch_open_orders("BTC/USDT")
    assert [o["clientOrderId"] for o in mine].count(cl) == 1
    e.send(CancelReq(cl=cl, ts=CLOCK.now_ns()))
    assert done_of(e, cl).state == "canceled"


def test_clock_skew_rejects_then_resyncs(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    w.fake.fault(kind="clock_offset", ms=-20_000)  # the exchange's clock 20 s behind ours
    try:
        _, _, ask, _ = top(w)
        cl = new_cl()
        send_new(e, cl, "B", ask + 20_000, 1, "IOC")
        r = e.wait_oe(lambda m: isinstance(m, Reject) and m.cl == cl, 5, "reject")
        assert r.code == "clock_skew"
        wait_until(lambda: w.gw.call(lambda: w.gw.gw.oe_ex.options.get("timeDifference", 0))
                   > 15_000, 5, "the time offset resynced")
        cl2 = new_cl()
        _, _, ask, _ = top(w)
        send_new(e, cl2, "B", ask + 20_000, 1, "IOC")
        assert done_of(e, cl2).state == "filled"  # signed with the exchange's time now
    finally:
        w.fake.fault(kind="clock_offset", ms=0)
        w.gw.call(lambda: w.gw.gw.oe_ex.options.__setitem__("timeDifference", 0))


def client(w: Any, account: str) -> Any:
    """An account on the same fake through plain ccxt (the other side of our trades, or a
    look at our own account)."""
    c = creds_of(account)
    ex = ccxt.binance({"apiKey": c.key, "secret": c.secret, "enableRateLimit": False})
    ex.urls["api"] = fake_binance.ccxt_urls(w.fake.http, w.fake.ws)
    ex.options.update(fake_binance.ccxt_options())
    ex.load_markets()
    return ex


#: how long the fake refuses the account's private streams after dropping them
OUTAGE_NS = 1_500_000_000
#: how far under the best bid the gap-fill test rests its buy (300 USDT at 0.01 a tick)
FAR_TICKS = 30_000


def test_private_stream_drop_reports_the_gap_fills_once(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    bid, _, _, _ = top(w)
    # far under the best bid (the simulated market moves a few thousand ticks a second here and
    # its maker's ladder, refreshed around the fair price, fills a buy the fair price falls to:
    # two ticks under was hit before the drop now and then); the other account's sell at our
    # price sweeps the maker's ladder above (10 levels of 10-30 lots) and ours
    px = bid - FAR_TICKS
    cl = new_cl()
    send_new(e, cl, "B", px, 3, "GTC")
    e.wait_oe(lambda m: isinstance(m, Ack) and m.cl == cl, 5, "ack")
    ex = client(w, "binance-other")
    price = float(w.gw.gw.md.scales[SYM].ticks_to_price(px))
    n_sessions = len(e.of(Session))
    # the stream stays away for 1.5 s (reconnects refused): the fill below lands in the gap
    t_fault = CLOCK.now_ns()  # the fake's clock is this host's (no clock_offset here)
    w.fake.fault(kind="disconnect_private", account="binance-spot", market="spot",
                 ms=OUTAGE_NS // 1_000_000)
    e.wait_oe(lambda m: isinstance(m, Session) and m.state == "down"
              and len(e.of(Session)) > n_sessions, 5, "session down")
    ex.create_order("BTC/USDT", "limit", "sell", 0.1, price, {"timeInForce": "IOC"})
    wait_until(lambda: sum(f["qty"] for f in truth_fills(w, cl)) == 3, 5, "our order filled")
    last_fill_ts = max(f["ts"] for f in truth_fills(w, cl))
    # reconnects during the outage connect and are closed (a brief "up", then "down" again):
    # the session that lasts is the first "up" after the fills
    up = e.wait_oe(lambda m: isinstance(m, Session) and m.state == "up"
                   and m.ts > last_fill_ts, 10, "session up after the gap")
    # the fills happened while the stream was away (same host clock on both sides): after the
    # drop and within the outage
    assert all(t_fault < f["ts"] < t_fault + OUTAGE_NS for f in truth_fills(w, cl)), (
        [f["ts"] - t_fault for f in truth_fills(w, cl)])
    fills = e.of(Fill, cl)
    assert sum(f.qty for f in fills) == 3
    assert all(e.oe_log.index(f) < e.oe_log.index(up) for f in fills)  # before "up"
    assert done_of(e, cl).state == "filled"
    e.pump_oe(1.5)  # the second catch-up pass and the stream's own replay: nothing twice
    assert_fills_match_truth(w, e, cl)
    assert w.gw.gw.priv.counters["drops"] >= 1


def test_lists_match_the_fake(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    e.send(PositionsReq())
    pos = e.wait_oe(lambda m: isinstance(m, Positions), 5, "positions")
    mine = w.fake.truth()["positions"].get("binance-spot", {}).get(SYM, 0)
    assert [(p.sym, p.qty) for p in pos.list] == [(SYM, mine)]
    e.send(TradesReq(since=0))
    tr = e.wait_oe(lambda m: isinstance(m, Trades), 5, "trades")
    truth = [f for f in w.fake.truth()["fills"] if f["account"] == "binance-spot"]
    assert sorted(num(f.tid) for f in tr.list) == sorted(num(f["tid"]) for f in truth)
    e.send(BalancesReq())
    bal = e.wait_oe(lambda m: isinstance(m, Balances), 5, "balances")
    ccys = {b.ccy: b for b in bal.list}
    assert ccys["BTC"].total == pytest.approx(10.0 + mine * 0.0001)
    e.send(OpenOrdersReq())
    e.wait_oe(lambda m: isinstance(m, OpenOrders), 5, "open orders")


def test_no_secret_in_logs_or_frames(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    e.pump_oe(0.1)
    secret = SECRETS["binance-spot"]
    assert e.frames and not any(secret.encode() in f for f in e.frames)
    assert w.logs and not any(secret in line for line in w.logs)


def test_hostile_requests_are_answered_malformed_and_both_loops_go_on(binance_spot: Any) -> None:
    e = binance_spot.eng
    for parts, piece in HOSTILE_REQUESTS:
        seen = len(e.oe_log)
        e.oe.send_multipart(parts)
        wait_until(lambda seen=seen: e.pump_oe() or len(e.oe_log) > seen, 5.0,
                   f"the reply to {parts}")
        assert is_malformed(e.oe_log[seen], piece), parts
        e.ref.send_multipart(parts)
        assert e.ref.poll(5_000), f"no ref reply to {parts}"
        assert is_malformed(e.ref_codec.decode(e.ref.recv_multipart()[-1]), piece), parts
    e.send(Ping(ts=7))
    e.wait_oe(lambda m: isinstance(m, Pong) and m.echo == 7, 5.0, "the pong")
    assert isinstance(e.instruments(), Instruments)
