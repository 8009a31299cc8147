"""RiskCore with futures offsets: both sides of a contract with ``offsets`` from the offset each
``ExecReport`` carries; gross notional and margin count long + short, net exposure stays net;
contracts without offsets are unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from actors.leg.executor import LegExecutorCore
from actors.leg.offsets import CLOSE_TODAY, CLOSE_YESTERDAY, OPEN
from actors.risk.risk import RiskCore
from tests.support.contracts import au, gc
from transports.config.engine import RiskConfig
from transports.wire.messages import BookUpdate, ExecReport, LegOrder, Position
from transports.wire.venue_msgs import Done, Fill, NewOrder

S = 1_000_000_000
#: SHFE gold with offsets, a new trading day every 10 s; COMEX gold without
AU = au(offsets=True, close_today=True, trading_day_roll_s=10, margin_rate=0.1)
GC = gc(margin_rate=0.05)


def _core() -> RiskCore:
    contracts = {"shfe:au2606": AU, "comex:GCZ6": GC}
    return RiskCore("risk", contracts, RiskConfig(), ["leg.shfe", "leg.comex", "combo"],
                    ["strategy.au-gc"], {}, epoch=1)


def _fill(side: str, qty: int, offset: str, t_ns: int, venue: str = "shfe",
          sym: str = "au2606", px: int = 30650) -> ExecReport:
    return ExecReport(venue, f"1.1.{t_ns}", 1, 0, 0, sym, side, "fill", "FILLED", px, qty, qty,
                      0, 0.0, f"t{t_ns}", "", t_ns, t_ns, offset=offset)


def _mark(r: RiskCore, venue: str, sym: str, px: int) -> None:
    r.on_book_update(BookUpdate(venue, sym, True, 0, 0, 0, [px - 1], [1], [px + 1], [1]), 0)


def _sides(r: RiskCore) -> dict[str, int]:
    return r.snapshot()["positions_sides"].get("shfe:au2606", {})


LOT = 30650 * 0.02 * 1000.0  # one au lot at the mark, CNY (the home currency)


def test_open_long_and_short_keep_both_sides_and_both_hold_margin() -> None:
    r = _core()
    _mark(r, "shfe", "au2606", 30650)
    r.on_exec_report(_fill("B", 3, OPEN, 1 * S), 1 * S)
    r.on_exec_report(_fill("S", 2, OPEN, 2 * S), 2 * S)
    assert _sides(r) == {"long": 3, "short": 2, "long_today": 3, "short_today": 2}
    assert r.positions["shfe:au2606"] == 1
    assert r.exposure()["gold"] == pytest.approx(1000.0)  # net stays net
    gross, margin = r.book.gross_and_margin()
    assert gross == pytest.approx(5 * LOT)  # long + short
    assert margin == pytest.approx(5 * LOT * 0.1)
    snap = r.snapshot()
    assert snap["gross_notional"] == pytest.approx(5 * LOT)
    assert snap["margin_used"] == pytest.approx(5 * LOT * 0.1)
    assert r.positions_sides() == snap["positions_sides"]


def test_flat_net_with_both_sides_still_holds_gross_and_margin() -> None:
    r = _core()
    _mark(r, "shfe", "au2606", 30650)
    r.on_exec_report(_fill("B", 2, OPEN, 1 * S), 1 * S)
    r.on_exec_report(_fill("S", 2, OPEN, 2 * S), 2 * S)
    assert r.positions["shfe:au2606"] == 0
    assert r.exposure().get("gold", 0.0) == 0.0
    assert r.book.gross_and_margin() == pytest.approx((4 * LOT, 4 * LOT * 0.1))
    # a view the executors budget with carries the same gross and margin
    out = r.on_exec_report(_fill("B", 1, OPEN, 3 * S), 3 * S)
    views = [m for _, m in out if type(m).__name__ == "RiskView"]
    assert views and views[0].gross_notional == pytest.approx(5 * LOT)


def test_close_yesterday_and_close_today_take_their_buckets_across_the_roll() -> None:
    r = _core()
    _mark(r, "shfe", "au2606", 30650)
    r.on_exec_report(_fill("B", 3, OPEN, 1 * S), 1 * S)
    r.on_exec_report(_fill("S", 2, OPEN, 2 * S), 2 * S)
    # a new trading day: yesterday's lots now
    r.on_exec_report(_fill("S", 1, CLOSE_YESTERDAY, 12 * S), 12 * S)
    assert _sides(r) == {"long": 2, "short": 2, "long_today": 0, "short_today": 0}
    r.on_exec_report(_fill("B", 1, OPEN, 13 * S), 13 * S)
    assert _sides(r) == {"long": 3, "short": 2, "long_today": 1, "short_today": 0}
    r.on_exec_report(_fill("S", 1, CLOSE_TODAY, 14 * S), 14 * S)
    assert _sides(r) == {"long": 2, "short": 2, "long_today": 0, "short_today": 0}
    r.on_exec_report(_fill("B", 2, CLOSE_YESTERDAY, 15 * S), 15 * S)
    assert _sides(r) == {"long": 2, "short": 0, "long_today": 0, "short_today": 0}
    assert r.positions["shfe:au2606"] == 2
    assert r.book.gross_and_margin()[0] == pytest.approx(2 * LOT)
    r.on_exec_report(_fill("S", 2, CLOSE_YESTERDAY, 16 * S), 16 * S)
    assert _sides(r) == {}  # flat: nothing held
    assert r.book.gross_and_margin() == (0.0, 0.0)


def test_adopted_position_moves_the_sides_by_its_difference() -> None:
    r = _core()
    r.on_exec_report(_fill("B", 2, OPEN, 1 * S), 1 * S)
    r.on_exec_report(_fill("S", 1, OPEN, 2 * S), 2 * S)
    r.on_position(Position("shfe", "au2606", 3, 3 * S), 3 * S)  # +2: closes the short first
    assert _sides(r) == {"long": 3, "short": 0, "long_today": 3, "short_today": 0}
    assert r.positions["shfe:au2606"] == 3


def test_contracts_without_offsets_are_unchanged() -> None:
    r = _core()
    _mark(r, "comex", "GCZ6", 26500)
    r.on_exec_report(_fill("B", 2, "", 1 * S, "comex", "GCZ6", 26500), 1 * S)
    r.on_exec_report(_fill("S", 1, "", 2 * S, "comex", "GCZ6", 26500), 2 * S)
    assert r.positions["comex:GCZ6"] == 1
    assert "comex:GCZ6" not in r.snapshot()["positions_sides"]
    lot = 26500 * 0.10 * 100.0  # USD without an FX book: 1 per unit
    assert r.book.gross_and_margin() == pytest.approx((lot, lot * 0.05))


def test_replaying_the_same_reports_rebuilds_the_same_sides() -> None:
    steps = [("B", 3, OPEN, 1), ("S", 2, OPEN, 2), ("S", 1, CLOSE_YESTERDAY, 12),
             ("B", 1, OPEN, 13), ("S", 1, CLOSE_TODAY, 14), ("B", 1, "", 15)]
    snaps = []
    for _ in range(2):
        r = _core()
        _mark(r, "shfe", "au2606", 30650)
        for side, q, off, t in steps:
            r.on_exec_report(_fill(side, q, off, t * S), t * S)
        snaps.append((r.snapshot()["positions_sides"], r.book.gross_and_margin()))
    assert snaps[0] == snaps[1]
    assert snaps[0][0]["shfe:au2606"]["short"] == 1  # the unknown offset closed yesterday's short


def test_the_leg_executors_fill_reports_carry_the_offset_risk_keeps() -> None:
    """The LegExecutor's ``ExecReport``\\s carry each order's offset; risk, fed them, keeps the
    same two sides as the executor."""
    leg = LegExecutorCore("leg.shfe", "shfe", "acct", {"au2606": AU}, 3,
                          RiskConfig(max_net_exposure_base=1e9), ["combo", "risk"], 2000)
    r = _core()
    seen: list[str] = []

    def trade(combo: int, side: str, qty: int, now: int) -> None:
        lo = LegOrder(combo, 0, 0, "shfe", "au2606", side, qty, 30500, "IOC",  # type: ignore[arg-type]
                      "entry", 1, 2)
        (n,) = [m for d, m in leg.handle(lo, now) if d == "@oe" and isinstance(m, NewOrder)]
        out: list[tuple[str, Any]] = leg.handle(
            Fill(cl=n.cl, oid="o" + n.cl, tid=f"t{now}", px=30500, qty=qty, ts=now), now)
        out += leg.handle(Done(cl=n.cl, oid="o" + n.cl, state="filled", cum=qty, ts=now), now)
        for d, m in out:
            if d == "risk" and isinstance(m, ExecReport):
                if m.kind == "fill":
                    seen.append(m.offset)
                r.on_exec_report(m, now)

    trade(1, "B", 5, 100 * S)
    trade(2, "S", 2, 100 * S + 1)
    trade(3, "S", 3, 110 * S)  # the next trading day
    assert seen == [OPEN, CLOSE_TODAY, CLOSE_YESTERDAY]
    legs = leg.snapshot()["offsets"]["positions"]["au2606"]
    assert r.snapshot()["positions_sides"].get("shfe:au2606", dict.fromkeys(legs, 0)) == legs
