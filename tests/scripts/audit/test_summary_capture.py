"""The demo summary's capture, judged from the venue's record: which windows count as traded
(each kind's ``want`` and ``held``, the parity default), the merge of one dislocation's
windows, the eligibility yardstick (twice the order round trip) and funding in the PnL."""

from __future__ import annotations

from typing import Any

from scripts.demo.summary import build_summary, capture, merge_windows, targets
from transports.config.engine import load_config

MS = 1_000_000


def _order(ts: int, venue: str, sym: str, side: str, cl: str, account: str = "") -> dict[str, Any]:
    return {"ts": ts, "venue": venue, "account": account or f"{venue}-acct", "cl": cl,
            "sym": sym, "side": side, "px": 1, "qty": 1, "tif": "IOC"}


def test_a_parity_window_is_traded_by_leg_a_on_the_side_it_pays_for() -> None:
    cfg = load_config()
    w_high = {"pair": "au-gc", "start_ns": 100 * MS, "end_ns": 200 * MS, "dir": -1}
    w_low = {"pair": "au-gc", "start_ns": 300 * MS, "end_ns": 400 * MS, "dir": 1}
    orders = [
        _order(150 * MS, "shfe", "au2606", "S", "1.5.0.0"),  # sells A in the high window
        _order(350 * MS, "shfe", "au2606", "S", "1.6.0.0"),  # wrong side for the low one
        _order(360 * MS, "comex", "GCZ6", "B", "1.6.1.0"),  # leg B does not count
    ]
    assert capture([w_high, w_low], orders, [], cfg) == [True, False]
    # a chase (attempt 1) is not an entry decision
    orders = [_order(350 * MS, "shfe", "au2606", "B", "1.7.0.1")]
    assert capture([w_low], orders, [], cfg) == [False]
    orders = [_order(350 * MS, "shfe", "au2606", "B", "1.7.0.0")]
    assert capture([w_low], orders, [], cfg) == [True]
    # outside the window in time: not traded
    orders = [_order(401 * MS, "shfe", "au2606", "B", "1.7.0.0")]
    assert capture([w_low], orders, [], cfg) == [False]


def test_a_window_names_its_orders_and_a_held_position_counts() -> None:
    cfg = load_config()
    w = {"pair": "au-gc", "start_ns": 100 * MS, "end_ns": 200 * MS, "dir": 1,
         "want": [["comex", "GCZ6", "S"]], "held": ["comex", "GCZ6", -1]}
    # the wanted order, not leg A's
    assert capture([w], [_order(150 * MS, "comex", "GCZ6", "S", "1.2.1.0")], [], cfg) == [True]
    assert capture([w], [_order(150 * MS, "shfe", "au2606", "B", "1.2.0.0")], [], cfg) == [False]
    # no order inside, but short GCZ6 on the venue's fills before the start: held
    fills = [{"ts": 50 * MS, "account": "comex-acct", "sym": "GCZ6", "side": "S", "qty": 2}]
    assert capture([w], [], fills, cfg) == [True]
    # long instead of short, or the fill after the start: not held
    fills_long = [{**fills[0], "side": "B"}]
    assert capture([w], [], fills_long, cfg) == [False]
    fills_late = [{**fills[0], "ts": 150 * MS}]
    assert capture([w], [], fills_late, cfg) == [False]


def test_windows_of_one_dislocation_merge_but_not_across_pairs_or_directions() -> None:
    a = {"pair": "p", "start_ns": 0, "end_ns": 100 * MS, "dir": 1}
    b = {"pair": "p", "start_ns": 200 * MS, "end_ns": 300 * MS, "dir": 1}
    other_pair = {"pair": "q", "start_ns": 150 * MS, "end_ns": 160 * MS, "dir": 1}
    other_dir = {"pair": "p", "start_ns": 600 * MS, "end_ns": 700 * MS, "dir": -1}
    far = {"pair": "p", "start_ns": 1000 * MS, "end_ns": 1100 * MS, "dir": -1}
    out = merge_windows([a, b, other_pair, other_dir, far])
    spans = [(w["pair"], w["start_ns"] // MS, w["end_ns"] // MS, w["dir"]) for w in out]
    assert spans == [("p", 0, 300, 1), ("q", 150, 160, 1), ("p", 600, 700, -1),
                     ("p", 1000, 1100, -1)]


def test_summary_counts_eligible_windows_and_funding_from_the_venue() -> None:
    cfg = load_config()
    short = {"pair": "au-gc", "start_ns": 100 * MS, "end_ns": 102 * MS, "dir": 1}
    long_ = {"pair": "au-gc", "start_ns": 1000 * MS, "end_ns": 1500 * MS, "dir": 1}
    truth = {
        "windows": [short, long_],
        "orders": [_order(1200 * MS, "shfe", "au2606", "B", "1.3.0.0", "shfe-acct")],
        "fills": [],
        "counts": {},
        "funding": [{"ts": 5, "account": "comex-acct", "sym": "GCZ6", "paid": 12.5, "ccy": "CNY"},
                    {"ts": 6, "account": "someone-else", "sym": "GCZ6", "paid": 99.0}],
    }
    # round trip p50 1.5 ms: windows must last more than 3 ms to be eligible
    latency = {"send_to_ack": {"p50": 1500.0}}
    s = build_summary(cfg, 1.0, {}, truth, latency, "")
    assert s["opportunities"] == 2 and s["opportunities_traded"] == 1
    assert s["capture_rate"] == 0.5
    assert s["opportunities_eligible"] == 1 and s["capture_rate_eligible"] == 1.0
    assert s["eligible_min_window_ms"] == 3.0
    assert s["pnl"]["funding"] == 12.5  # only the engine's accounts
    assert s["pnl"]["net"] == round(s["pnl"]["gross"] - s["pnl"]["fees"] + 12.5, 2)
    assert s["targets"] == {"capture": True, "slippage": True, "exposure": True,
                            "duplicate_ids": True}
    s["capture_rate_eligible"] = 0.97
    s["final_exposure"] = {"gold": 5000.0}
    assert targets(s)["capture"] is False and targets(s)["exposure"] is False
