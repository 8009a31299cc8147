"""End to end with tight risk limits (``conf/demo-tight-risk.toml``): the simulator process, the
engine node, ZeroMQ. Orders are denied locally for several reasons, and the simulator's own
record shows no limit exceeded at the venue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.demo.risk_audit import audit_venue_limits
from tests.support.demo_pool import DemoSpec, result
from transports.config.engine import load_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CONF = Path(__file__).resolve().parents[2] / "conf" / "demo-tight-risk.toml"
#: run in the background from the session's start (tests.support.demo_pool)
POOLED_DEMOS = [DemoSpec("tight-risk-12", 12.0, conf=str(CONF))]


@pytest.fixture(scope="module")
def tight_run() -> tuple[dict[str, Any], str]:
    return result(POOLED_DEMOS[0])


def test_tight_risk_demo_exits_clean_with_denials_and_no_venue_breach(
        tight_run: tuple[dict[str, Any], str]) -> None:
    summary, failure = tight_run
    assert failure == ""
    risk = summary["risk"]
    assert len([r for r, n in risk["denials"].items() if n > 0]) >= 2, risk["denials"]
    assert risk["limits_exceeded_at_venue"] == 0, risk["venue_limits"]
    assert load_config(CONF).risk.fail_on_venue_breach  # a breach would have failed the run
    assert summary["actor_errors"] == {}


def test_the_venue_audit_is_the_simulators_record_judged_again(
        tight_run: tuple[dict[str, Any], str]) -> None:
    """The summary's audit is what ``audit_venue_limits`` says of the truth file, and the
    record holds the orders the engine sent (so the audit had something to judge)."""
    summary, _ = tight_run
    truth = json.loads((Path(summary["run_dir"]) / "truth.json").read_text())
    assert truth["orders"] and len(truth["orders"]) == summary["orders_sent"]
    again = audit_venue_limits(truth, load_config(CONF), {"USD": summary["pnl"]["fx_rate"]})
    assert again["exceeded"] == 0
    assert {k: v for k, v in summary["risk"]["venue_limits"].items() if k != "unchecked"} == \
        again["limits"]
    lots = again["limits"]["max_lots_per_order"]
    assert set(lots) == {"shfe:au2606", "comex:GCZ6"}
