"""The published book (top levels -> deltas) and the report tracker (ccxt orders and trades ->
ack/fill/done/reject), driven with ccxt's own order book and its parsed order/trade dicts."""

from __future__ import annotations

from typing import Any

from ccxt.async_support.base.ws.order_book import OrderBook
from hypothesis import given, settings
from hypothesis import strategies as st

from transports.venues.ccxt.book import PublishedBook
from transports.venues.ccxt.clmap import RULES, to_exchange
from transports.venues.ccxt.reports import Tracker
from transports.venues.ccxt.units import Scale
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import Ack, Delta, Done, Fill, MdMessage, Reject

SC = Scale("BTCUSDT", "0.01", "0.0001")
T0 = 1_767_225_600_000_000_000


def apply(book: dict[str, dict[int, int]], d: Delta) -> None:
    """What the engine does with a delta: absolute quantities, 0 deletes."""
    for side, lv in (("b", d.b), ("a", d.a)):
        for px, q in lv:
            if q:
                book[side][px] = q
            else:
                book[side].pop(px, None)


# one exchange diff: (is_bid, price ticks offset, qty lots; 0 = delete)
DIFFS = st.lists(st.lists(st.tuples(st.booleans(), st.integers(1, 30), st.integers(0, 50)),
                          max_size=8), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(DIFFS, st.integers(1, 10))
def test_deltas_on_the_snapshot_reproduce_the_exchange_top(diffs: list[Any], depth: int) -> None:
    ob = OrderBook({}, 1000)  # ccxt's own book, as watch_order_book keeps it
    pub = PublishedBook("BTCUSDT", SC, depth)
    mid = 9_500_000
    engine: dict[str, dict[int, int]] | None = None
    for k, diff in enumerate(diffs):
        for is_bid, off, q in diff:
            px = (mid - off) if is_bid else (mid + off)  # never crossed
            (ob["bids"] if is_bid else ob["asks"]).store(float(SC.ticks_to_price(px)),
                                                         float(SC.lots_to_amount(q)))
        d = pub.update(ob["bids"], ob["asks"], T0 + k)
        if k == 3:  # an engine joining late takes the snapshot, then the deltas after it
            snap = pub.snapshot(T0)
            engine = {"b": dict(snap.b), "a": dict(snap.a)}
            continue
        if d is not None:
            assert Codec(MdMessage).decode(encode(d)) == d
            assert d.seq == pub.seq and all(px > 0 for px, _ in d.b + d.a)
            if engine is not None:
                apply(engine, d)
    want_b = {SC.price_ticks_f(p): SC.amount_lots_f(q) for p, q in ob["bids"][:depth]}
    want_a = {SC.price_ticks_f(p): SC.amount_lots_f(q) for p, q in ob["asks"][:depth]}
    assert (pub.bids, pub.asks) == (want_b, want_a)
    if engine is not None:
        assert engine == {"b": want_b, "a": want_a}


def test_unchanged_and_crossed_books_are_not_published() -> None:
    pub = PublishedBook("BTCUSDT", SC, 5)
    d = pub.update([[95000.0, 0.001]], [[95000.01, 0.002]], T0)
    assert d == Delta(sym="BTCUSDT", seq=1, ts=T0, b=[(9_500_000, 10)], a=[(9_500_001, 20)])
    assert pub.update([[95000.0, 0.001]], [[95000.01, 0.002]], T0 + 1) is None
    assert pub.update([[95000.02, 0.001]], [[95000.01, 0.002]], T0 + 2) is None  # crossed
    d = pub.update([[94999.99, 0.001]], [[95000.01, 0.002], [95000.02, 0.1]], T0 + 3)
    assert d is not None and d.seq == 2
    assert d.b == [(9_500_000, 0), (9_499_999, 10)] and d.a == [(9_500_002, 1000)]
    assert pub.counters["crossed"] == 1
    snap = pub.snapshot(T0 + 9)
    assert (snap.seq, snap.b, snap.a) == (2, [(9_499_999, 10)], [(9_500_001, 20),
                                                                 (9_500_002, 1000)])
    assert pub.update([[95000.005, 0.001]], [[95000.01, 0.002]], T0 + 4) is not None
    assert pub.counters["off_step"] == 1  # the off-tick level is dropped, not rounded


# --- reports -----------------------------------------------------------------------------------

RULE = RULES["okx"]


def tracker() -> Tracker:
    def engine_id(xid: str) -> str | None:
        from transports.venues.ccxt.clmap import from_exchange

        return from_exchange(xid, RULE) if xid else None

    return Tracker({"BTC-USDT": Scale("BTC-USDT", "0.1", "0.0001")}, {"BTC/USDT": "BTC-USDT"},
                   engine_id, {"BTC-USDT": "USDT"}, done_wait_ns=1_000_000)


def order(cl: str, status: str | None, filled: float = 0.0, oid: str = "77") -> dict[str, Any]:
    return {"id": oid, "clientOrderId": to_exchange(cl, RULE), "symbol": "BTC/USDT",
            "side": "buy", "price": 95000.1, "amount": 0.0005, "filled": filled,
            "status": status, "timestamp": 1_767_225_600_000, "trades": [], "info": {}}


def trade(tid: str, amount: float, oid: str = "77", maker: bool = False) -> dict[str, Any]:
    return {"id": tid, "order": oid, "symbol": "BTC/USDT", "side": "buy", "price": 95000.1,
            "amount": amount, "timestamp": 1_767_225_600_001,
            "takerOrMaker": "maker" if maker else "taker",
            "fee": {"cost": 0.019, "currency": "USDT"}, "info": {}}


def test_fills_before_the_ack_dedupe_and_done_after_its_fills() -> None:
    from transports.venues.ccxt.reports import LiveOrder

    tr = tracker()
    tr.add(LiveOrder(cl="1.5.0.0", xid="1Zd5Zd0Zd0", sym="BTC-USDT", side="B", px=950001,
                     qty=5, tif="IOC"))
    assert tr.on_trade(trade("t1", 0.0002), T0) == []  # its order id is not known yet: held
    out = tr.on_order(order("1.5.0.0", "open"), T0)
    assert [type(m) for m in out] == [Ack, Fill]  # the ack, then the held fill
    assert out[1].qty == 2 and out[1].oid == "77" and out[1].px == 950001
    assert tr.on_trade(trade("t1", 0.0002), T0) == []  # the same trade again: dropped
    # the close arrives before its last fill (another stream): done waits for it
    assert tr.on_order(order("1.5.0.0", "closed", 0.0005), T0) == []
    out = tr.on_trade(trade("t2", 0.0003, maker=True), T0 + 10)
    assert [type(m) for m in out] == [Fill, Done]
    assert out[0].liq == "M" and out[1].state == "filled" and out[1].cum == 5
    st_ = tr.status("1.5.0.0")
    assert (st_.state, st_.cum, st_.leaves, len(st_.fills)) == ("filled", 5, 0, 2)
    assert tr.on_order(order("1.5.0.0", "closed", 0.0005), T0) == []  # one done only


def test_a_done_without_its_fills_goes_after_the_wait_and_rejects_are_definitive() -> None:
    from transports.venues.ccxt.reports import LiveOrder

    tr = tracker()
    tr.add(LiveOrder(cl="1.6.0.0", xid="x", sym="BTC-USDT", side="B", px=1, qty=5))
    out = tr.on_order(order("1.6.0.0", "expired", 0.0001, oid="78"), T0)
    assert [type(m) for m in out] == [Ack]
    assert tr.sweep(T0 + 999_999) == []
    (done,) = tr.sweep(T0 + 1_000_000)
    assert isinstance(done, Done) and (done.state, done.cum) == ("expired", 1)
    tr.add(LiveOrder(cl="1.7.0.0", xid="y", sym="BTC-USDT", side="S", px=1, qty=1))
    (rej,) = tr.reject("1.7.0.0", "throttled", "429", T0, retry_ms=1000)
    assert isinstance(rej, Reject) and rej.retry_ms == 1000
    assert tr.status("1.7.0.0").state == "rejected"
    assert tr.status("1.99.0.0").state == "unknown"
    # a refusal for an order that exists and traded is never sent as a reject
    assert tr.reject("1.6.0.0", "exchange_reject", "late", T0) == []


def test_an_order_of_a_previous_run_is_adopted_from_its_client_id() -> None:
    tr = tracker()
    out = tr.on_order(order("1.8.0.0", "closed", 0.0005, oid="90"), T0)
    assert [type(m) for m in out] == [Ack]  # the fills are not known: done waits for them
    out = tr.on_trade(trade("t9", 0.0005, oid="90"), T0)
    assert [type(m) for m in out] == [Fill, Done]
    assert tr.orders["1.8.0.0"].qty == 5
    assert tr.on_order({**order("x", "open"), "clientOrderId": "", "id": "91"}, T0) == []
    assert tr.counters["foreign"] == 1


# --- md side: status, marks, session state ------------------------------------------------------


def test_status_follows_the_exchange_listing_and_marks_round_to_ticks() -> None:
    from tests.gateway.ccxt_markets import binance_spot, binance_usdm
    from transports.config.gateways import CcxtVenueConfig
    from transports.venues.ccxt.instruments import scale_of
    from transports.venues.ccxt.md import MarketData
    from transports.wire.venue_msgs import Mark, MdStatus

    sent: list[tuple[str, Any]] = []
    cfg = CcxtVenueConfig(exchange="binance", market="spot")
    halted = binance_spot("ETHUSDT", status="BREAK")
    markets = {"BTCUSDT": binance_spot(), "ETHUSDT": halted}
    md = MarketData(None, cfg, markets, {s: scale_of(m) for s, m in markets.items()},
                    {"BTCUSDT": 5, "ETHUSDT": 5}, lambda t, m: sent.append((t, m)),
                    lambda *a: None, lambda: T0)
    states = {m.sym: m.state for _, m in md.status_for("md.")}
    assert states == {"BTCUSDT": "open", "ETHUSDT": "halt"}
    assert [m.sym for _, m in md.status_for("md.ETH")] == ["ETHUSDT"]
    md.set_state("ETHUSDT", "open")
    md.set_state("ETHUSDT", "open")  # no change, nothing sent
    assert [(t, m.state) for t, m in sent if isinstance(m, MdStatus)] == [("md.ETHUSDT", "open")]
    perp = binance_usdm()
    md2 = MarketData(None, CcxtVenueConfig(exchange="binance", market="swap"),
                     {"BTCUSDT": perp}, {"BTCUSDT": scale_of(perp)}, {"BTCUSDT": 5},
                     lambda t, m: None, lambda *a: None, lambda: T0)
    m = md2.mark_of("BTCUSDT", {"markPrice": 95000.04, "indexPrice": 94999.96,
                                "fundingRate": 0.0001, "fundingTimestamp": 1_767_254_400_000,
                                "timestamp": 1_767_225_600_000})
    assert isinstance(m, Mark)
    assert (m.mark_px, m.index_px, m.funding_rate) == (950_000, 950_000, "0.0001")
    assert m.next_funding_ts == 1_767_254_400_000_000_000
    assert md2.funding_rate["BTCUSDT"] == "0.0001"
    assert md2.mark_of("BTCUSDT", {"markPrice": None}) is None


def test_session_goes_down_once_and_up_when_both_sides_are() -> None:
    from transports.venues.ccxt.private import SessionState

    s = SessionState(("md", "oe"))
    assert s.set("md", True, "book", T0) is None  # not both up yet
    up = s.set("oe", True, "ws", T0)
    assert up is not None and up.state == "up"
    down = s.set("oe", False, "closed", T0 + 1)
    assert down is not None and (down.state, down.reason) == ("down", "oe: closed")
    assert s.set("md", False, "closed", T0 + 2) is None  # already down
    assert s.set("md", True, "book", T0 + 3) is None
    assert s.set("oe", True, "ws", T0 + 4).state == "up"  # type: ignore[union-attr]
