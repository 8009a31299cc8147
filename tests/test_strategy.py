"""StrategyCore: parity, thresholds, warm-up, open on dislocation, close on reversion."""

from __future__ import annotations

import pytest

from actors.strategy import MIN_WARM_SAMPLES, StrategyCore
from tests.helpers import msgs
from transports.config import load_config
from transports.messages import BookUpdate, ComboIntent, ComboState, Control, SessionStatus

GRAMS_PER_OZ = 31.1034768


def _core() -> StrategyCore:
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = cfg.pairs[0]
    return StrategyCore("strategy.au-gc", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", 1)


def _upd(venue: str, sym: str, bid: int, ask: int, qty: int = 100, ts: int = 0) -> BookUpdate:
    return BookUpdate(venue, sym, True, ts, ts, ts, [bid, bid - 1], [qty, qty], [ask, ask + 1],
                      [qty, qty])


def _feed(s: StrategyCore, au_mid_cny: float, ts: int) -> list:
    au_bid = round(au_mid_cny / 0.02) - 1
    return s.on_book_update(_upd("shfe", "au2606", au_bid, au_bid + 2, ts=ts), ts)


def _prime(s: StrategyCore, gc: float = 2650.0, fx: float = 7.2) -> float:
    s.on_book_update(_upd("fx", "USDCNH", round(fx / 0.0001) - 1, round(fx / 0.0001) + 1), 0)
    s.on_book_update(_upd("comex", "GCZ6", round(gc / 0.1) - 1, round(gc / 0.1) + 1), 0)
    parity = gc * fx / GRAMS_PER_OZ
    for i in range(MIN_WARM_SAMPLES + 50):
        # calm: basis 0.5 CNY/g with a one-tick wobble
        _feed(s, parity + 0.5 + (0.02 if i % 2 else 0.0), i)
    return parity


def test_lot_pair_for_gold_is_28_to_9() -> None:
    s = _core()
    assert (s.lots_a, s.lots_b) == (28, 9)
    assert s.residual_base == pytest.approx(28_000 - 9 * 3110.34768)


def test_no_decision_while_warming_up() -> None:
    s = _core()
    s.on_book_update(_upd("fx", "USDCNH", 71999, 72001), 0)
    s.on_book_update(_upd("comex", "GCZ6", 26499, 26501), 0)
    out = _feed(s, 700.0, 1)  # far from anything, but the window is empty
    assert msgs(out, ComboIntent) == []
    assert s.refusals["WARMUP"] == 1


def test_dislocation_up_sells_a_buys_b_then_reversion_closes() -> None:
    s = _core()
    parity = _prime(s)
    assert msgs(_feed(s, parity + 0.5, 1000), ComboIntent) == []  # calm: no edge
    out = _feed(s, parity + 0.5 + 1.6, 1001)
    (intent,) = msgs(out, ComboIntent)
    assert intent.action == "open" and intent.direction == -1
    a, b = intent.legs
    assert (a.side, a.qty_lots, b.side, b.qty_lots) == ("S", 28, "B", 9)
    assert a.limit_px_ticks < a.expected_px_ticks  # IOC sell limit below the touch
    assert intent.edge >= intent.cost * 1.2 + 0.3
    # a second signal while the combo is pending does not fire again
    assert msgs(_feed(s, parity + 2.2, 1002), ComboIntent) == []
    s.on_combo_state(ComboState(intent.combo_id, "au-gc", "open", "complete", -1, 28, 9,
                                6.87, 1003), 1003)
    assert (s.pos_dir, s.pos_a_lots, s.pos_b_lots) == (-1, -28, 9)
    out = _feed(s, parity + 0.5, 1004)
    (close,) = msgs(out, ComboIntent)
    assert close.action == "close"
    assert [(x.side, x.qty_lots) for x in close.legs] == [("B", 28), ("S", 9)]
    s.on_combo_state(ComboState(close.combo_id, "au-gc", "close", "complete", -1, 28, 9, 6.87,
                                1005), 1005)
    assert (s.pos_dir, s.pos_a_lots, s.pos_b_lots) == (0, 0, 0)


def test_dislocation_down_buys_a() -> None:
    s = _core()
    parity = _prime(s)
    (intent,) = msgs(_feed(s, parity + 0.5 - 1.6, 2000), ComboIntent)
    assert intent.direction == 1 and intent.legs[0].side == "B" and intent.legs[1].side == "S"


def test_edge_below_costs_does_not_trade() -> None:
    s = _core()
    parity = _prime(s)
    assert msgs(_feed(s, parity + 0.5 + 0.2, 2000), ComboIntent) == []
    assert s.refusals["NO_EDGE"] >= 1


def test_thin_book_cannot_fill_the_clip() -> None:
    s = _core()
    parity = _prime(s)
    au_bid = round((parity + 2.1) / 0.02) - 1
    out = s.on_book_update(_upd("shfe", "au2606", au_bid, au_bid + 2, qty=5), 3000)
    assert msgs(out, ComboIntent) == []


def test_closed_session_blocks_new_combos() -> None:
    s = _core()
    parity = _prime(s)
    s.on_session_status(SessionStatus("comex", "GCZ6", "break", 0), 0)
    assert msgs(_feed(s, parity + 2.1, 3000), ComboIntent) == []
    assert s.refusals["CLOSED_B"] == 1


def test_flatten_closes_at_once_and_stops_opening() -> None:
    s = _core()
    parity = _prime(s)
    (intent,) = msgs(_feed(s, parity + 2.1, 3000), ComboIntent)
    s.on_combo_state(ComboState(intent.combo_id, "au-gc", "open", "complete", -1, 28, 9, 6.87,
                                3001), 3001)
    s.on_control(Control("flatten"), 3002)
    (close,) = msgs(_feed(s, parity + 2.1, 3003), ComboIntent)  # not reverted, still closes
    assert close.action == "close"
    s.on_combo_state(ComboState(close.combo_id, "au-gc", "close", "complete", -1, 28, 9, 6.87,
                                3004), 3004)
    assert msgs(_feed(s, parity + 2.1, 3005), ComboIntent) == []


def test_combo_ids_differ_between_pairs_and_epochs() -> None:
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = cfg.pairs[0]
    ids = set()
    for epoch, idx in ((1, 0), (1, 1), (2, 0)):
        s = StrategyCore("s", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", epoch, idx)
        parity = _prime(s)
        (intent,) = msgs(_feed(s, parity + 2.1, 5000), ComboIntent)
        ids.add(intent.combo_id)
    assert len(ids) == 3


def test_a_late_update_of_a_finished_combo_still_moves_the_position() -> None:
    s = _core()
    parity = _prime(s)
    (intent,) = msgs(_feed(s, parity + 2.1, 3000), ComboIntent)
    s.on_combo_state(ComboState(intent.combo_id, "au-gc", "open", "complete", -1, 28, 9, 6.87,
                                3001), 3001)
    # a late fill re-opened and repaired the combo: it now holds 27 lots of A
    s.on_combo_state(ComboState(intent.combo_id, "au-gc", "open", "repaired", -1, 27, 9, 0.0,
                                3002), 3002)
    assert (s.pos_a_lots, s.pos_b_lots) == (-27, 9)
