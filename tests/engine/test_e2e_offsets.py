"""End to end with futures offsets: conf/demo-offsets.toml (SHFE au traded with offsets, the
simulator rolling today's lots to yesterday's every 2 s) over the real processes and sockets.
Judged from the simulator's record: every SHFE order carried an offset, the closes happened, the
summary counts them as the venue did, and the run ends clean and flat on both sides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.demo_pool import DemoSpec, result

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CONF = str(Path(__file__).resolve().parents[2] / "conf" / "demo-offsets.toml")
#: run in the background from the session's start (tests.support.demo_pool)
POOLED_DEMOS = [DemoSpec("offsets-14", 14.0, conf=CONF)]


@pytest.fixture(scope="module")
def offsets_run() -> tuple[dict[str, Any], str]:
    return result(POOLED_DEMOS[0])


def test_offsets_demo_ends_clean_and_flat(offsets_run: tuple[dict[str, Any], str]) -> None:
    summary, failure = offsets_run
    assert failure == ""
    assert summary["combos"] > 0
    assert summary["venue"]["duplicate_client_ids"] == 0
    assert summary["final_exposure"]["gold"] == pytest.approx(0.0, abs=1e-3)
    snaps = json.loads((Path(summary["run_dir"]) / "actors.json").read_text())
    leg = snaps["leg.shfe"]
    assert leg["positions"].get("au2606", 0) == 0
    sides = leg["offsets"]["positions"]["au2606"]
    assert sides["long"] == sides["short"]  # flat net (the policy closes: both are 0)
    assert sides == {"long": 0, "short": 0, "long_today": 0, "short_today": 0}
    assert "offsets" not in snaps["leg.comex"]


def test_closes_by_offset_from_the_venues_record(offsets_run: tuple[dict[str, Any], str]) -> None:
    summary, _ = offsets_run
    truth = json.loads((Path(summary["run_dir"]) / "truth.json").read_text())
    acct = {"shfe-acct": "shfe", "comex-acct": "comex", "fx-acct": "fx"}
    shfe = [o for o in truth["orders"] if acct[o["account"]] == "shfe"]
    other = [o for o in truth["orders"] if acct[o["account"]] != "shfe"]
    assert shfe and all(o.get("offset") in ("open", "close_today", "close_yesterday")
                        for o in shfe)
    assert other and not any("offset" in o for o in other)
    by = {k: sum(1 for o in shfe if o["offset"] == k)
          for k in ("open", "close", "close_today", "close_yesterday")}
    assert summary["orders_by_offset"] == by
    assert by["open"] > 0 and by["close_today"] + by["close_yesterday"] > 0
    # the engine sent what the venue recorded, per offset
    sent = json.loads((Path(summary["run_dir"]) / "actors.json").read_text())[
        "leg.shfe"]["offsets"]["sent"]
    assert sent == by
