"""Audit tools on a real demo journal: verify, exports that match the journal, trace, anomalies."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from actors.journal import read_journal
from scripts.cli import main as cli
from tests.support.demo_runs import demo_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_run(tmp_path_factory)


def _journal_counts(journal: Path) -> dict[str, int]:
    """Count each table's records straight from the journal (the rules of audit_extract)."""
    n = {"orders": 0, "fills": 0, "combos": 0, "feed_health": 0, "book_events": 0, "decisions": 0}
    states: set[str] = set()
    sent: set[str] = set()
    trades: set[tuple[str, str]] = set()  # (venue, trade id): a repeated report is one trade
    for _ts, _g, dest, m in read_journal(journal):
        if isinstance(m, dict):
            if dest.endswith("@oe") and m["t"] == "new":
                n["orders"] += 1
                sent.add(m["cl"])
            elif m["t"] == "fill":
                trades.add((dest, m["tid"]))
            elif m["t"] in ("status", "trades") and not dest.endswith("@oe"):
                listed = m.get("fills") or m.get("list") or []
                trades |= {(dest, f["tid"]) for f in listed if f["cl"] in sent}
            continue
        kind = m[0]
        n["combos"] += kind == "ComboIntent" and dest == "combo"
        n["feed_health"] += kind == "FeedHealth"
        n["book_events"] += kind == "BookInvalid"
        n["decisions"] += kind == "Decision"
        if kind == "TradingState":
            states.add(json.dumps(m))
    n["risk_events"] = len(states)
    n["fills"] = len(trades)
    return n


def _rows(path: Path) -> int:
    with open(path, newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def test_verify_prints_counts(run_dir: Path) -> None:
    res = CliRunner().invoke(cli, ["audit", "verify", str(run_dir), "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["ok"] and r["closed_cleanly"] and r["items"] > 500 and len(r["head_hash"]) == 32


def test_export_row_counts_equal_the_journal(run_dir: Path, tmp_path: Path) -> None:
    want = _journal_counts(run_dir / "journal.cmcj")
    assert want["orders"] > 0 and want["fills"] > 0 and want["combos"] > 0
    res = CliRunner().invoke(
        cli,
        [
            "audit",
            "export",
            str(run_dir),
            "--format",
            "csv",
            "--out",
            str(tmp_path / "csv"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["rows"]
    for table, n in want.items():
        assert rows[table] == n, table
        assert _rows(tmp_path / "csv" / f"{table}.csv") == n, table


def test_parquet_export_has_the_same_counts(run_dir: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq  # in the test extra: a missing install fails, never skips
    res = CliRunner().invoke(
        cli, ["audit", "export", str(run_dir), "--format", "parquet", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    for table, n in _journal_counts(run_dir / "journal.cmcj").items():
        assert pq.read_table(tmp_path / f"{table}.parquet").num_rows == n, table


def test_trace_tells_a_combos_story(run_dir: Path, tmp_path: Path) -> None:
    CliRunner().invoke(cli, ["audit", "export", str(run_dir), "--out", str(tmp_path)])
    with open(tmp_path / "combos.csv", newline="") as f:
        combo = next(csv.DictReader(f))["combo_id"]
    res = CliRunner().invoke(cli, ["audit", "trace", str(run_dir), combo, "--json"])
    assert res.exit_code == 0, res.output
    t = json.loads(res.output)
    assert t["combo_id"] == int(combo)
    assert {"spread", "mean", "z", "edge", "cost", "required_edge"} <= set(t["decision"])
    assert t["thresholds"]["z_entry"] is not None and t["limits"]
    assert len(t["legs"]) == 2
    for leg in t["legs"]:
        assert leg["stamps_ns"]["send"] and leg["stamps_ns"]["ack"]
        assert leg["latency_us"]["send->ack"] > 0
    kinds = {s["kind"] for s in t["steps"]}
    assert {"intent", "leg_order", "send", "venue_ack", "exec_sent", "state"} <= kinds
    text = CliRunner().invoke(cli, ["audit", "trace", str(run_dir), combo])
    assert "send->ack" in text.output and "thresholds" in text.output
    bad = CliRunner().invoke(cli, ["audit", "trace", str(run_dir), "42"])
    assert bad.exit_code == 2 and "not in the journal" in bad.output


def test_anomalies_lists_every_category_with_times(run_dir: Path) -> None:
    res = CliRunner().invoke(cli, ["audit", "anomalies", str(run_dir), "--json"])
    assert res.exit_code == 0, res.output
    a = json.loads(res.output)
    assert set(a) == {"rejects", "legging", "slippage_outliers", "gaps", "stale", "halts", "alarms"}
    # the demo ends with an operator flatten and halt, and starts with each book resyncing
    assert any(h["state"] == "HALTED" for h in a["halts"])
    assert a["gaps"] and all(r["time"].endswith("Z") for r in a["gaps"])
