"""The paper fill model and venue, pure: latency, IOC/FOK/GTC on the visible quantity, the
consumed overlay, queue position, trade-through, fees, rejects and reconciliation answers."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from transports.config.gateways import PaperVenueConfig
from transports.venues.paper.book import SourceBook
from transports.venues.paper.ledger import Spec
from transports.venues.paper.venue import PaperVenue
from transports.wire.venue_msgs import (
    Ack,
    Balances,
    BalancesReq,
    CancelReject,
    CancelReq,
    Delta,
    Done,
    Fill,
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
    Snapshot,
    Trades,
    TradesReq,
)

US = 1_000
SPEC = Spec("X", Decimal("0.1"), Decimal("100"), "USD", min_qty=1, max_qty=50,
            margin_rate=0.1)
A = "acct"


class Rig:
    """A paper venue over one source book ``X``; ``seq`` follows the deltas fed."""

    def __init__(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]], *,
                 latency_us: int = 0, queue_ahead: float = 1.0, taker_bps: float = 5.0,
                 maker_bps: float = 1.0, balances: dict[str, float] | None = None) -> None:
        self.book = SourceBook("X")
        assert self.book.on_snapshot(Snapshot(sym="X", seq=1, ts=0, b=bids, a=asks))
        cfg = PaperVenueConfig(md_from="src", latency_us=latency_us, queue_ahead=queue_ahead,
                               taker_bps=taker_bps, maker_bps=maker_bps,
                               balances=balances or {})
        self.v = PaperVenue("pv", {"X": SPEC}, {"X": self.book}, cfg, id_prefix="pv")
        self.seq = 1

    def delta(self, now: int, b: Sequence[tuple[int, int]] = (),
              a: Sequence[tuple[int, int]] = ()) -> list[Any]:
        """The source publishes a delta at ``now``: due orders first, then the book moves."""
        self.v.advance(now)
        self.seq += 1
        _, changes = self.book.on_delta(Delta(sym="X", seq=self.seq, ts=now, b=list(b),
                                              a=list(a)))
        self.v.on_book(now, "X", changes)
        return self.out()

    def send(self, now: int, req: msgspec.Struct, account: str = A) -> list[Any]:
        self.v.request(now, account, req)
        self.v.advance(now)
        return self.out(account)

    def out(self, account: str = A) -> list[Any]:
        return [m for acct, m in self.v.take_out() if acct == account]


def new(cl: str, side: str, px: int, qty: int, tif: str = "IOC", **kw: Any) -> NewOrder:
    return NewOrder(cl=cl, sym=kw.pop("sym", "X"), side=side, px=px, qty=qty, tif=tif,  # type: ignore[arg-type]
                    ts=0, **kw)


def fills(msgs: list[Any]) -> list[tuple[int, int, str]]:
    return [(m.px, m.qty, m.liq) for m in msgs if isinstance(m, Fill)]


def done(msgs: list[Any]) -> tuple[str, int] | None:
    d = [m for m in msgs if isinstance(m, Done)]
    return (d[-1].state, d[-1].cum) if d else None


def test_an_order_is_matched_against_the_book_as_it_is_latency_after_arrival() -> None:
    r = Rig([(99, 10)], [(100, 5), (101, 5)], latency_us=500)
    r.v.request(0, A, new("1", "B", 100, 5))
    r.v.advance(499 * US)
    assert r.out() == []  # not arrived yet: nothing, not even the ack
    assert r.send(499 * US, QueryReq(cl="1")) == [OrderStatus(cl="1", state="unknown")]
    # the ask at 100 is gone before the order reaches the book
    out = r.delta(300 * US, a=[(100, 0)])
    assert out == []
    r.v.advance(500 * US)
    out = r.out()
    assert isinstance(out[0], Ack) and out[0].ts == 500 * US
    assert fills(out) == [] and done(out) == ("canceled", 0)
    # the same order again, and the ask comes back before it arrives: it fills at due time
    r.v.request(1_000 * US, A, new("2", "B", 100, 5))
    r.delta(1_200 * US, a=[(100, 4)])
    r.v.advance(1_500 * US)
    out = r.out()
    assert fills(out) == [(100, 4, "T")] and all(m.ts == 1_500 * US for m in out)
    assert done(out) == ("canceled", 4)


def test_ioc_fills_only_the_visible_quantity_and_the_overlay_keeps_it_taken() -> None:
    r = Rig([(99, 10)], [(100, 5), (101, 3), (103, 9)])
    out = r.send(0, new("1", "B", 101, 10))
    assert fills(out) == [(100, 5, "T"), (101, 3, "T")]
    assert done(out) == ("canceled", 8)
    assert [type(m).__name__ for m in out] == ["Ack", "Fill", "Fill", "Done"]
    # the source still shows 100 and 101 (it never saw us): nothing is left there for us
    assert r.book.qty("S", 100) == 5 and r.v.model.available("X", "S", 100) == 0
    out = r.send(1, new("2", "B", 101, 2))
    assert fills(out) == [] and done(out) == ("canceled", 0)
    # another account meets the same overlay: one market
    assert fills(r.send(2, new("3", "B", 101, 2), account="other")) == []
    # the source publishes 100 again: its quantity is the truth again (the overlay decays)
    r.delta(3, a=[(100, 6)])
    assert r.v.model.available("X", "S", 100) == 6 and r.v.model.available("X", "S", 101) == 0
    out = r.send(4, new("4", "B", 101, 20))
    assert fills(out) == [(100, 6, "T")] and done(out) == ("canceled", 6)


def test_fok_fills_everything_or_nothing() -> None:
    r = Rig([(99, 10)], [(100, 5), (101, 3)])
    out = r.send(0, new("1", "B", 101, 9, "FOK"))
    assert isinstance(out[0], Ack) and fills(out) == [] and done(out) == ("canceled", 0)
    assert r.v.model.available("X", "S", 100) == 5  # took nothing
    out = r.send(1, new("2", "B", 101, 8, "FOK"))
    assert fills(out) == [(100, 5, "T"), (101, 3, "T")] and done(out) == ("filled", 8)
    out = r.send(2, new("3", "S", 99, 10, "FOK"))
    assert fills(out) == [(99, 10, "T")] and done(out) == ("filled", 10)


def test_a_gtc_fills_only_after_the_queue_ahead_of_it_has_left_the_level() -> None:
    r = Rig([(99, 10), (98, 5)], [(101, 5)])
    out = r.send(0, new("1", "B", 99, 5, "GTC"))
    assert isinstance(out[0], Ack) and len(out) == 1  # rests
    o = r.v.orders[(A, "1")]
    assert o.queue_ahead == 10
    assert r.delta(1, b=[(99, 4)]) == [] and o.queue_ahead == 4  # 6 of the 10 ahead left
    assert r.delta(2, b=[(99, 1)]) == [] and o.queue_ahead == 1
    assert r.delta(3, b=[(99, 8)]) == [] and o.queue_ahead == 1  # 7 joined behind us
    out = r.delta(4, b=[(99, 5)])  # 3 leave: 1 was ahead, 2 were ours
    assert fills(out) == [(99, 2, "M")] and o.queue_ahead == 0 and o.cum == 2
    out = r.delta(5, b=[(99, 0)])  # the level is gone: the rest of us traded
    assert fills(out) == [(99, 3, "M")] and done(out) == ("filled", 5)
    assert r.v.model.resting["X"] == []


def test_a_queue_share_and_no_queue_fill_off_the_touch() -> None:
    r = Rig([(99, 10)], [(101, 5)], queue_ahead=0.5)
    r.send(0, new("1", "B", 99, 4, "GTC"))
    o = r.v.orders[(A, "1")]
    assert o.queue_ahead == 5
    r.delta(1, b=[(100, 3)])  # a better bid: 99 is no longer the touch
    out = r.delta(2, b=[(99, 2)])  # 8 left 99 but not by trading with us
    assert fills(out) == [] and o.queue_ahead == 0
    out = r.delta(3, b=[(100, 0), (99, 1)])  # at the touch again: 1 leaves beyond the queue
    assert fills(out) == [(99, 1, "M")]
    # a GTC on a price with no source level has nobody ahead
    r.send(4, new("2", "S", 100, 3, "GTC"))
    assert r.v.orders[(A, "2")].queue_ahead == 0


def test_a_resting_order_fills_at_its_price_when_the_market_trades_through_it() -> None:
    r = Rig([(99, 10)], [(101, 5)], maker_bps=2.0)
    r.send(0, new("1", "B", 100, 6, "GTC"))
    out = r.delta(1, b=[(99, 0), (98, 10)], a=[(101, 0), (100, 2), (102, 5)])
    assert fills(out) == [(100, 2, "M")]
    assert r.v.model.available("X", "S", 100) == 0  # what we took is gone for the next one
    out = r.delta(2, a=[(99, 9)])  # through our price: we are filled at ours, not at 99
    assert fills(out) == [(100, 4, "M")] and done(out) == ("filled", 6)
    f = next(m for m in out if isinstance(m, Fill))
    assert f.fee == pytest.approx(100 * 0.1 * 100 * 4 * 2.0 / 1e4)


def test_a_gtc_takes_what_crosses_then_rests_the_remainder() -> None:
    r = Rig([(99, 10)], [(100, 3), (102, 5)])
    out = r.send(0, new("1", "B", 101, 10, "GTC"))
    assert fills(out) == [(100, 3, "T")] and done(out) is None
    o = r.v.orders[(A, "1")]
    assert o.state == "partial" and o in r.v.model.resting["X"] and o.queue_ahead == 0


def test_fees_are_bps_of_notional_by_liquidity() -> None:
    r = Rig([(99, 10)], [(100, 5)], taker_bps=5.0, maker_bps=1.0)
    out = r.send(0, new("1", "B", 100, 4))
    f = next(m for m in out if isinstance(m, Fill))
    notional = 100 * 0.1 * 100 * 4  # px ticks x tick x lot x qty = 4,000 USD
    assert f.fee == pytest.approx(notional * 5e-4) and f.liq == "T"
    assert r.v.ledger.fee("X", 100, 4, "M") == pytest.approx(notional * 1e-4)


def test_duplicate_client_ids_are_rejected_and_counted_and_the_first_keeps_its_record() -> None:
    r = Rig([(99, 10)], [(100, 5)])
    r.send(0, new("1", "B", 98, 1, "GTC"))
    out = r.send(1, new("1", "B", 100, 1))
    assert out == [Reject(cl="1", code="duplicate_cl", reason="client order id is open", ts=1)]
    r.send(2, CancelReq(cl="1", ts=2))
    out = r.send(3, new("1", "B", 100, 1))  # closed: still never a second order under it
    assert [m.code for m in out] == ["duplicate_cl"]
    assert r.v.truth.counts["duplicate_client_ids"] == 2
    st = r.send(4, QueryReq(cl="1"))[0]
    assert st.state == "canceled" and st.oid == "pv-1"
    # the same cl on another account is another order
    assert isinstance(r.send(5, new("1", "B", 100, 1), account="other")[0], Ack)


@pytest.mark.parametrize(("order", "code"), [
    (new("1", "B", 100, 1, sym="NOPE"), "unknown_symbol"),
    (new("1", "B", 100, 0), "bad_qty"),
    (new("1", "B", 100, -3), "bad_qty"),
    (new("1", "B", 100, 51), "qty_above_max"),
    (new("1", "B", 0, 1), "bad_price"),
    (new("1", "S", 99, 1, reduce_only=True), "reduce_only"),
])
def test_rejects(order: NewOrder, code: str) -> None:
    r = Rig([(99, 10)], [(100, 5)])
    out = r.send(0, order)
    assert [(type(m), m.code) for m in out] == [(Reject, code)]
    assert r.send(1, QueryReq(cl="1"))[0].state == "rejected"
    assert r.send(2, CancelReq(cl="1", ts=2))[0].code == "unknown_order"


def test_no_fills_without_a_current_book_or_an_open_session_and_fencing() -> None:
    r = Rig([(99, 10)], [(100, 5)])
    r.book.start_resync()
    assert r.send(0, new("1", "B", 100, 1))[0].code == "no_market_data"
    r.book.on_snapshot(Snapshot(sym="X", seq=9, ts=1, b=[(99, 10)], a=[(100, 5)]))
    r.v.session["X"] = "halt"
    assert r.send(1, new("2", "B", 100, 1))[0].code == "session_closed"
    r.v.session["X"] = "open"
    assert isinstance(r.send(2, new("3", "B", 100, 1, epoch=5))[0], Ack)
    assert r.send(3, new("4", "B", 100, 1, epoch=4))[0].code == "fenced"


def test_cancel_and_reconciliation_answers_agree_with_the_fills() -> None:
    r = Rig([(99, 10)], [(100, 5), (101, 5)], balances={"USD": 50_000.0})
    r.send(0, new("1", "B", 101, 7))
    r.send(1, new("2", "S", 105, 3, "GTC"))
    oo = r.send(2, OpenOrdersReq())[0]
    assert isinstance(oo, OpenOrders) and [(o.cl, o.qty, o.cum) for o in oo.list] == [
        ("2", 3, 0)]
    assert done(r.send(3, CancelReq(cl="2", ts=3))) == ("canceled", 0)
    cr = r.send(4, CancelReq(cl="2", ts=4))[0]
    assert isinstance(cr, CancelReject) and cr.code == "not_open"
    assert r.send(5, CancelReq(cl="zz", ts=5))[0].code == "unknown_order"
    st = r.send(6, QueryReq(cl="1"))[0]
    tr = r.send(7, TradesReq(since=0))[0]
    assert isinstance(tr, Trades) and [f.tid for f in tr.list] == [f.tid for f in st.fills]
    assert st.cum == sum(f.qty for f in tr.list) == 7 and st.leaves == 0
    pos = r.send(8, PositionsReq())[0]
    assert isinstance(pos, Positions) and [(p.sym, p.qty) for p in pos.list] == [("X", 7)]
    assert pos.list[0].avg_px == pytest.approx((100 * 5 + 101 * 2) / 7)
    bal = r.send(9, BalancesReq())[0]
    assert isinstance(bal, Balances)
    usd = bal.list[0]
    fees = sum(f.fee for f in tr.list)
    assert usd.ccy == "USD" and usd.total == pytest.approx(50_000.0 - fees)
    assert usd.margin_used == pytest.approx(7 * (702 / 7) * 10 * 0.1)
    assert r.send(10, Ping(ts=77)) == [Pong(ts=10, echo=77)]
    # closing realises the difference: sold 7 at 99 after buying at 100/101
    r.send(11, new("3", "S", 99, 7))
    usd = r.send(12, BalancesReq())[0].list[0]
    fees = sum(f.fee for f in r.send(13, TradesReq())[0].list)
    assert usd.total == pytest.approx(50_000.0 - fees + (99 * 7 - 702) * 10)
    assert usd.margin_used == 0
    requests = [q["t"] for q in r.v.truth.requests]
    assert requests == ["open_orders", "trades", "positions", "balances", "balances", "trades"]


def test_a_spot_instrument_settles_cash_and_base_and_refuses_what_the_account_lacks() -> None:
    spot = Spec("BTCUSDT", Decimal("0.01"), Decimal("0.0001"), "USDT", kind="spot", base="BTC")
    book = SourceBook("BTCUSDT")
    book.on_snapshot(Snapshot(sym="BTCUSDT", seq=1, ts=0, b=[(5_000_000, 30)],
                              a=[(5_000_100, 30)]))
    cfg = PaperVenueConfig(md_from="s", latency_us=0, taker_bps=10.0,
                           balances={"USDT": 10.0, "BTC": 0.001})
    v = PaperVenue("pv", {"BTCUSDT": spot}, {"BTCUSDT": book}, cfg, id_prefix="pv")

    def send(cl: str, side: str, px: int, qty: int, tif: str = "IOC") -> list[Any]:
        v.request(0, A, new(cl, side, px, qty, tif, sym="BTCUSDT"))
        v.advance(0)
        return [m for _, m in v.take_out()]

    lot_cost = 50_001.0 * 0.0001 * 1.001  # a lot at the ask with the taker fee: 5.005 USDT
    assert send("1", "B", 5_000_100, 2)[0].code == "insufficient_balance"  # 10.01 > 10
    assert fills(send("2", "B", 5_000_100, 1)) == [(5_000_100, 1, "T")]
    bal = {b.ccy: b for b in v.ledger.balances(A)}
    assert bal["BTC"].total == pytest.approx(0.0011) and bal["USDT"].margin_used == 0
    assert bal["USDT"].total == pytest.approx(10.0 - lot_cost)
    assert send("3", "S", 5_000_000, 12)[0].code == "insufficient_balance"  # has 11 lots
    assert isinstance(send("4", "S", 5_100_000, 10, "GTC")[0], Ack)  # rests, holds 10 lots
    assert send("5", "S", 5_000_000, 2)[0].code == "insufficient_balance"
    assert fills(send("6", "S", 5_000_000, 1)) == [(5_000_000, 1, "T")]
    assert v.ledger.total(A, "BTC") == pytest.approx(0.001)
