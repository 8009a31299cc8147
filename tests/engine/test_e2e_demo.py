"""End to end over real sockets and processes: the simulator process, the engine node, ZeroMQ.

One short demo run is shared by the module; every check is made against the simulator's own
record (truth) of orders and fills, never the engine's view of itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.demo_pool import DemoSpec, result

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

#: the demo run in the background from the session's start (tests.support.demo_pool)
POOLED_DEMOS = [DemoSpec("demo-12", 12.0)]


@pytest.fixture(scope="module")
def demo_run() -> tuple[dict[str, Any], str]:
    return result(POOLED_DEMOS[0])


def test_demo_trades_and_ends_clean(demo_run: tuple[dict[str, Any], str]) -> None:
    summary, failure = demo_run
    assert failure == ""
    assert summary["combos"] > 0
    assert summary["opportunities"] > 0
    assert summary["venue"]["duplicate_client_ids"] == 0
    assert summary["actor_errors"] == {}
    assert summary["lost_wakeups"] == 0  # every input was announced to its host's wait


def test_final_exposure_from_venue_fills_is_within_the_lot_residual(
        demo_run: tuple[dict[str, Any], str]) -> None:
    summary, _ = demo_run
    truth = json.loads((Path(summary["run_dir"]) / "truth.json").read_text())
    grams = {"au2606": 1000.0, "GCZ6": 3110.34768}
    net = sum((1 if f["side"] == "B" else -1) * f["qty"] * grams[f["sym"]]
              for f in truth["fills"])
    assert abs(net) <= abs(summary["lot_residual_base"]) + 1e-6
    assert summary["final_exposure"]["gold"] == pytest.approx(net, abs=1e-3)


def test_every_client_order_id_reached_the_venue_once(demo_run: tuple[dict[str, Any], str]) -> None:
    summary, _ = demo_run
    truth = json.loads((Path(summary["run_dir"]) / "truth.json").read_text())
    cls = [o["cl"] for o in truth["orders"]]
    assert len(cls) == len(set(cls)) == summary["orders_sent"]


def test_summary_has_every_promised_key(demo_run: tuple[dict[str, Any], str]) -> None:
    summary, _ = demo_run
    for key in ("duration_s", "md_events", "opportunities", "combos", "combos_complete",
                "combos_repaired", "capture_rate", "avg_slippage_ticks", "pnl",
                "final_exposure", "venue", "latency_us", "orders_sent", "rejects", "journal"):
        assert key in summary, key
    assert set(summary["pnl"]) >= {"currency", "gross", "fees", "net"}
    assert set(summary["venue"]) >= {"orders", "fills", "duplicate_client_ids"}
    t2o = summary["latency_us"]["tick_to_order"]
    assert t2o["p50"] is not None and t2o["p50"] <= t2o["p99"] <= t2o["max"]
    assert Path(summary["journal"]).stat().st_size > 0


def test_capture_and_slippage_meet_the_promise(demo_run: tuple[dict[str, Any], str]) -> None:
    summary, _ = demo_run
    assert summary["capture_rate"] >= 0.98
    assert summary["avg_slippage_ticks"] <= 0.8
