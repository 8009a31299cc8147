"""``cmc top``'s frame rendering (pure): full, partial and empty views."""

from __future__ import annotations

from scripts.admin.top import render

VIEW = {
    "risk": {"state": "REDUCING", "reasons": {"margin": "REDUCING"},
             "positions": {"shfe:au2606": 28, "comex:GCZ6": -9}, "exposure": {"gold": 6.87},
             "pnl": {"gross": 120.5, "fees": 20.0, "net": 100.5, "ccy": "CNY"},
             "feeds": {"shfe": {"state": "SYNCED", "gaps": 0},
                       "comex": {"state": "RESYNCING", "gaps": 2}}},
    "pairs": {"au-gc": {"z_entry": 2.0, "z_exit": 0.5, "last": {"mid_spread": 0.61, "mean": 0.5,
                                                                "z": 2.4},
                        "pos_lots": [28, -9], "pending": None, "halted": False,
                        "flattening": False, "reachable": True}},
    "latency": {"engine": {"tick_to_order": {"p50": 80.0, "p99": 410.0}},
                "trade": {"error": "no answer"}},
    "status": {"nodes": {"engine": {"state": "running", "pid": 7, "restarts": 1}}},
}


def test_a_full_frame_shows_every_part() -> None:
    out = render(VIEW, "12:00:00")
    assert "trading REDUCING" in out and "margin" in out
    assert "engine(running, pid 7, restarts 1)" in out
    line = next(x for x in out.splitlines() if x.startswith("au-gc"))
    assert "+0.610" in line and "+2.40" in line and "+28/-9" in line and "trading" in line
    assert "-|--------+--------|*" in line  # z beyond +entry: past the threshold mark
    assert "comex:RESYNCING gaps 2" in out and "gold +6.9" in out and "net 100.50" in out
    assert "tick_to_order p50 80.0 p99 410.0" in out and "trade: unavailable" in out
    assert "\x1b[" not in out
    assert "\x1b[33mREDUCING" in render(VIEW, color=True)


def test_partial_and_empty_views_render() -> None:
    assert "trading ?" in render({})
    partial = {"pairs": {"au-gc": {"reachable": False}}}
    assert "unreachable" in render(partial)
