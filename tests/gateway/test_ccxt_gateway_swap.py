"""A perpetual through the real gateway against the Binance USDⓈ-M fake: ``mark`` messages,
positions, ``reduce_only`` and funding payments as ``funding``, judged from the fake's record."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.gateway.ccxt_world import CLOCK, wait_until
from transports.wire.venue_msgs import (
    Done,
    Fill,
    Funding,
    Instruments,
    Mark,
    NewOrder,
    Positions,
    PositionsReq,
    Reject,
)

pytestmark = pytest.mark.e2e

SYM = "BTCUSDT"
_CL = itertools.count(500)


def order(w: Any, side: str, qty: int, *, reduce_only: bool = False) -> str:
    """A marketable IOC; its client id."""
    cl = f"1.{next(_CL)}.0.0"

    def touch() -> tuple[int, int]:
        b = w.gw.gw.md.books[SYM]
        return max(b.bids), min(b.asks)

    bid, ask = w.gw.call(touch)
    px = ask + 2000 if side == "B" else bid - 2000  # marketable through a 200 USDT jump
    w.eng.send(NewOrder(cl=cl, sym=SYM, side=side, px=px, qty=qty, tif="IOC",  # type: ignore[arg-type]
                        ts=CLOCK.now_ns(), reduce_only=reduce_only))
    return cl


def position(w: Any) -> int:
    w.eng.send(PositionsReq())
    n = len(w.eng.of(Positions))
    w.eng.wait_oe(lambda m: len(w.eng.of(Positions)) > n, 5, "positions")
    return {p.sym: p.net for p in w.eng.of(Positions)[-1].list}[SYM]


def truth_position(w: Any) -> int:
    return w.fake.truth()["positions"].get("binance-usdm", {}).get(SYM, 0)


def test_perp_instrument_and_marks(binance_usdm: Any) -> None:
    e = binance_usdm.eng
    ins = e.instruments()
    assert isinstance(ins, Instruments) and ins.v == 2
    (i,) = ins.list
    assert (i.kind, i.tick, i.lot, i.contract_ccy, i.funding_interval_s) == ("perp", "0.1",
                                                                             "0.001", "BTC", 1)
    e.pump_md(0.6)
    marks = [m for _, m in e.md_log if isinstance(m, Mark)]
    assert marks, "no mark within 0.6 s (mark_interval_ms = 200)"
    m = marks[-1]
    bid, ask = max(e.book["b"]), min(e.book["a"])
    assert abs(m.mark_px - (bid + ask) / 2) < 100  # within 10 USDT of the mid
    assert m.funding_rate == "0.0001" and m.next_funding_ts > 0 and m.index_px > 0


def test_positions_reduce_only_and_funding(binance_usdm: Any) -> None:
    w, e = binance_usdm, binance_usdm.eng
    cl = order(w, "B", 5)
    d = e.wait_oe(lambda m: isinstance(m, Done) and m.cl == cl, 5, "done")
    assert (d.state, d.cum) == ("filled", 5)
    assert position(w) == truth_position(w) == 5
    # reduce-only for more than the position: the exchange refuses it, nothing trades
    cl = order(w, "S", 8, reduce_only=True)
    r = e.wait_oe(lambda m: isinstance(m, Reject) and m.cl == cl, 5, "reject")
    assert r.code == "reduce_only" and not e.of(Fill, cl), r
    assert truth_position(w) == 5
    # funding settles every second on the open position: each payment reaches the engine once
    f = e.wait_oe(lambda m: isinstance(m, Funding), 6, "a funding payment")
    assert f.sym == SYM and f.ccy == "USDT" and f.rate == "0.0001"

    def recorded() -> list[dict[str, Any]]:
        return [r for r in w.fake.truth()["funding"] if r["account"] == "binance-usdm"]

    wait_until(lambda: len(e.of(Funding)) >= 2 or e.pump_oe(0.05), 8, "two payments")
    truth = {r["ts"] // 1_000_000: r["paid"] for r in recorded()}
    got = [(m.ts // 1_000_000, m.paid) for m in e.of(Funding)]
    assert len({t for t, _ in got}) == len(got)  # once each
    for t, paid in got:
        assert truth[t] == pytest.approx(paid), (t, paid, truth)
        assert paid < 0  # a long pays a positive rate
    cl = order(w, "S", 5, reduce_only=True)
    d = e.wait_oe(lambda m: isinstance(m, Done) and m.cl == cl, 5, "done")
    assert d.cum == 5 and position(w) == truth_position(w) == 0

