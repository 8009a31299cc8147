"""End to end under the simulator's market-data fault mix (``--faults md-chaos``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.demo_pool import DemoSpec, result

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
#: run in the background from the session's start (tests.support.demo_pool); 14 s covers the
#: preset's crossed book (8 s) and sequence reset (12 s) on every venue
POOLED_DEMOS = [DemoSpec("md-chaos-14", 14.0, faults="md-chaos")]


@pytest.fixture(scope="module")
def md_chaos() -> tuple[dict[str, Any], str]:
    return result(POOLED_DEMOS[0])


def test_md_chaos_never_decides_on_a_bad_book_and_still_trades(
        md_chaos: tuple[dict[str, Any], str]) -> None:
    summary, failure = md_chaos
    assert failure == ""
    assert summary["decisions_on_unusable_book"] == 0
    assert summary["combos"] > 0
    truth = json.loads((Path(summary["run_dir"]) / "truth.json").read_text())
    injected = truth["counts"]
    assert injected.get("fault_md_drop", 0) + injected.get("fault_md_reset", 0) > 0
    feeds = summary["feed"]
    assert sum(f["gaps"] for f in feeds.values()) > 0
    assert sum(f["resyncs"] for f in feeds.values()) > 0
    assert summary["venue"]["duplicate_client_ids"] == 0
    assert abs(summary["final_exposure"]["gold"]) <= abs(summary["lot_residual_base"]) + 1e-6
