"""``cmc drill crash``: a launch whose trade node is SIGKILLed while it trades, judged from the
simulator's record; and the judge itself, on records made to fail each oracle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.drill.crash import judge
from tests.support.demo_pool import CliSpec, completed
from transports.config.engine import load_config
from transports.journal.writer import JournalWriter
from transports.wire.messages import ExecReport

CFG = load_config(str(Path(__file__).resolve().parents[2] / "conf" / "launch-demo.toml"))
T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def _fill(cl: str, tid: str, sym: str, side: str, qty: int, ts: int) -> dict[str, Any]:
    acct = "shfe-acct" if sym == "au2606" else "comex-acct"
    return {"ts": ts, "venue": "x", "account": acct, "cl": cl, "oid": "o", "tid": tid,
            "sym": sym, "side": side, "px": 1, "qty": qty, "fee": 0.0, "liq": "T"}


def _report(cl: str, tid: str, sym: str, side: str, qty: int) -> ExecReport:
    return ExecReport("x", cl, 1, 0, 0, sym, side, "fill", "FILLED", 1, qty, qty, 0,  # type: ignore[arg-type]
                      0.0, tid, "", 0, 0)


def _run(tmp: Path, fills: list[dict[str, Any]], reported: list[ExecReport],
         orders: list[tuple[str, int]]) -> Path:
    """A run directory with the venue's record (orders as (cl, ts)) and the engine's
    journal of ``reported`` fills."""
    run = tmp / "run"
    run.mkdir()
    accounts = {f["cl"]: f["account"] for f in fills}
    truth = {"orders": [{"cl": c, "ts": ts, "account": accounts.get(c, "shfe-acct")}
                        for c, ts in orders], "fills": fills}
    (run / "truth.json").write_text(json.dumps(truth))
    w = JournalWriter.open(run / "journal.cmcj", run_id="r", cfg_hash="c")
    w.append_batch(T0, "risk", [("@group", "risk", r) for r in reported])
    w.close()
    return run


def test_a_hedged_combo_whose_fills_the_engine_saw_passes(tmp_path: Path) -> None:
    fills = [_fill("1.1.0.0", "t1", "au2606", "S", 28, T0 + MS),
             _fill("1.1.1.0", "t2", "GCZ6", "B", 9, T0 + 2 * MS)]
    reps = [_report(f["cl"], f["tid"], f["sym"], f["side"], f["qty"]) for f in fills]
    sent = [("1.1.0.0", T0), ("1.1.1.0", T0)]  # both legs left before the kill
    r = judge(CFG, _run(tmp_path, fills, reps, sent), [T0 + MS + 1], {})
    assert r["ok"], r["failures"]
    assert r["fills_equal"] and r["max_leg_lots"] == 28
    assert r["time_to_flat_ms"] == [1.0]  # the hedge in flight at the kill filled 1 ms later


def test_a_combo_that_traded_just_before_the_kill_and_left_it_flat_passes(
        tmp_path: Path) -> None:
    """Both legs filled within the clocks' margin before the kill and the venue was flat after
    them: the exposure is back at the kill, not "never" (the partition drill, cut right after
    a combo's legs left, was judged a failure for it)."""
    fills = [_fill("1.1.0.0", "t1", "au2606", "S", 28, T0 + MS),
             _fill("1.1.1.0", "t2", "GCZ6", "B", 9, T0 + 2 * MS)]
    reps = [_report(f["cl"], f["tid"], f["sym"], f["side"], f["qty"]) for f in fills]
    sent = [("1.1.0.0", T0), ("1.1.1.0", T0)]
    r = judge(CFG, _run(tmp_path, fills, reps, sent), [T0 + 10 * MS], {})
    assert r["ok"], r["failures"]
    assert r["time_to_flat_ms"] == [0.0]


def test_each_oracle_fails_on_what_it_guards(tmp_path: Path) -> None:
    fills = [_fill("1.1.0.0", "t1", "au2606", "S", 28, T0 + MS),
             _fill("1.2.0.0", "t3", "au2606", "S", 28, T0 + 3 * MS)]  # never hedged, 56 lots
    reps = [_report("1.1.0.0", "t1", "au2606", "S", 28)]  # the engine never saw t3
    sent = [("1.1.0.0", T0), ("1.2.0.0", T0 + 2 * MS + 1), ("1.2.0.0", T0 + 2 * MS + 2)]
    r = judge(CFG, _run(tmp_path, fills, reps, sent), [T0 + 2 * MS], {})
    assert not r["ok"]
    assert r["duplicate_client_ids"] == ["1.2.0.0"]
    assert not r["fills_equal"] and r["venue_only_fills"] == [("1.2.0.0", "t3")]
    assert r["max_leg_lots"] == 56 > r["limit_leg_lots"]
    assert r["final_exposure_g"] == -56_000.0
    assert r["time_to_flat_ms"] == [None]
    assert len(r["failures"]) == 5


#: ``cmc drill crash``, run in the background from the session's start (tests.support.demo_pool)
POOLED_DEMOS = [CliSpec("drill-crash-2", ("drill", "crash", "--kills", "2", "--seed", "3",
                                          "--out", "{out}/d", "--json"))]


@pytest.mark.e2e
def test_cmc_drill_crash_kills_the_trade_node_and_every_oracle_holds() -> None:
    rc, stdout, stderr = completed(POOLED_DEMOS[0])
    report = json.loads(stdout)
    assert rc == (0 if report["ok"] else 1), stderr
    assert report["kills"] == 2 and report["orders"] >= 2 and report["fills"] >= 1
    assert report["ok"], report["failures"]
    assert report["duplicate_client_ids"] == [] and report["fills_equal"]
    assert abs(report["final_exposure_g"]) <= report["residual_g"]
