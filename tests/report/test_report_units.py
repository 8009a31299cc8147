"""``cmc report`` and ``cmc audit export`` in the run's units, checked against the journal of the
shared demo run: the per-combo table, the price and fee-currency columns, the axis labels, the
p50/p99 lines and the operator/alarm markers on the timelines."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scripts.audit.extract import build_index, cl_parts
from scripts.cli import main as cli
from scripts.replay.core import load_run_config
from tests.support.demo_runs import demo_run
from transports.journal.reader import read_journal


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_run(tmp_path_factory)


@pytest.fixture(scope="module")
def report(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import matplotlib  # noqa: F401  - in the test extra: a missing install fails, never skips

    from scripts.report.cmd import build_report

    return build_report(str(run_dir / "journal.cmcj"), str(tmp_path_factory.mktemp("rep")))


def _journal_facts(journal: Path) -> dict[str, Any]:
    """Straight from the journal's records (not the audit index): each combo's intent legs,
    each order's purpose and instrument, and each venue trade once."""
    intents: dict[int, list[list[Any]]] = {}
    purpose: dict[tuple[int, int, int], str] = {}
    sym: dict[str, str] = {}  #: client order id -> its instrument
    fills: dict[tuple[str, str], dict[str, Any]] = {}
    for _ts, _g, dest, m in read_journal(journal):
        if isinstance(m, dict):
            if m.get("t") == "new" and dest.endswith("@oe"):
                sym[m["cl"]] = m["sym"]
            elif m.get("t") == "fill":
                fills.setdefault((dest, m["tid"]), {**m, "venue": dest.split(".", 1)[1]})
            elif m.get("t") in ("status", "trades") and not dest.endswith("@oe"):
                for f in m.get("fills") or m.get("list") or []:
                    fills.setdefault((dest, f["tid"]), {**f, "venue": dest.split(".", 1)[1]})
            continue
        if m[0] == "ComboIntent" and dest == "combo":
            intents[m[1]] = m[5]
        elif m[0] == "LegOrder":
            purpose[(m[1], m[2], m[3])] = m[10]
    return {"intents": intents, "purpose": purpose, "sym": sym, "fills": list(fills.values())}


def test_combo_table_rows_are_the_journals(run_dir: Path, report: dict[str, Any]) -> None:
    journal = run_dir / "journal.cmcj"
    cfg = load_run_config(journal)
    con = {(c.venue, c.sym): c for c in cfg.contracts}
    facts = _journal_facts(journal)
    rows = report["combos"]
    assert [r["combo_id"] for r in rows] == list(facts["intents"])
    assert len(rows) >= 2
    for r in rows:
        legs = facts["intents"][r["combo_id"]]
        assert [(g["contract"], g["side"], g["want_lots"]) for g in r["legs"]] == [
            (f"{v}:{s}", side, q) for _t, v, s, side, q, _lim, _exp in legs]
        mine = [f for f in facts["fills"] if (cl_parts(f["cl"]) or (0,))[0] == r["combo_id"]]
        fees: dict[str, float] = {}
        for f in mine:
            ccy = con[(f["venue"], facts["sym"][f["cl"]])].ccy
            fees[ccy] = fees.get(ccy, 0.0) + f["fee"]
        for k, (_t, venue, sym, side, _q, _lim, expected) in enumerate(legs):
            c = con[(venue, sym)]
            entry = [f for f in mine if cl_parts(f["cl"])[1] == k
                     and facts["purpose"][cl_parts(f["cl"])] == "entry"]
            leg = r["legs"][k]
            tick = float(Decimal(c.tick))
            assert leg["unit"] == f"{c.ccy}/{c.unit}"
            assert leg["expected_price"] == pytest.approx(expected * tick)
            if not entry:
                assert leg["avg_price"] is None and leg["slippage"] is None
                continue
            lots = sum(f["qty"] for f in entry)
            avg_ticks = sum(f["px"] * f["qty"] for f in entry) / lots
            sign = 1 if side == "B" else -1
            assert leg["entry_lots"] == lots
            assert leg["avg_price"] == pytest.approx(avg_ticks * tick)
            assert leg["slippage"] == pytest.approx(sign * (avg_ticks - expected) * tick, abs=1e-7)
            assert leg["slippage_ticks"] == pytest.approx(sign * (avg_ticks - expected))
        assert r["fees"] == pytest.approx(fees)
        assert r["signal_utc"].endswith("Z") and r["took_ms"] is not None
    # the combos' PnLs are their shares of the run's marked net PnL: together all of it
    idx = build_index(journal)
    assert all(f["combo_id"] in facts["intents"] for f in idx.fills)
    from scripts.report.data import Series, exposure_and_pnl

    final: dict[str, Any] = {}
    exposure_and_pnl(idx, cfg, Series(), final)
    from scripts.report.combos import combo_rows

    assert sum(r["pnl"] for r in combo_rows(idx, cfg, final)) == pytest.approx(
        final["net"], abs=0.01)


def test_export_prices_are_ticks_times_tick_and_fees_have_a_currency(
    run_dir: Path, tmp_path: Path
) -> None:
    res = CliRunner().invoke(cli, ["audit", "export", str(run_dir), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    cfg = load_run_config(run_dir / "journal.cmcj")
    con = {(c.venue, c.sym): c for c in cfg.contracts}
    with open(tmp_path / "fills.csv", newline="") as f:
        fills = list(csv.DictReader(f))
    with open(tmp_path / "orders.csv", newline="") as f:
        orders = list(csv.DictReader(f))
    assert fills and orders
    head = list(fills[0])
    assert head.index("price") == head.index("px") + 1 and "fee_ccy" in head
    for r in fills:
        c = con[(r["venue"], r["sym"])]
        assert Decimal(r["price"]) == Decimal(r["px"]) * Decimal(c.tick), r
        assert (r["price_unit"], r["fee_ccy"]) == (f"{c.ccy}/{c.unit}", c.ccy)
    assert {r["fee_ccy"] for r in fills} == {"CNY", "USD"}
    for o in orders:
        c = con[(o["venue"], o["sym"])]
        assert Decimal(o["price"]) == Decimal(o["px"]) * Decimal(c.tick), o
        if int(o["cum_qty"]):
            assert float(o["avg_price"]) == pytest.approx(float(o["avg_px"]) * float(c.tick))
        else:
            assert o["avg_price"] == ""


def test_a_venues_fee_currency_is_exported(tmp_path: Path) -> None:
    """A fee the venue charged in another currency (protocol v2 ``fee_ccy``) keeps it."""
    from actors.runtime.shells.journal_shell import JournalShell
    from scripts.audit.export import export_tables
    from transports.journal.writer import JournalWriter
    from transports.wire.messages import JournalBatch
    from transports.wire.venue_msgs import Fill, NewOrder

    items = [
        ("leg.bn", "leg.bn@oe", NewOrder(cl="1.1.0.0", sym="BTCUSDT", side="B", px=650001,
                                         qty=2, tif="IOC", ts=1)),
        ("@oe", "leg.bn", Fill(cl="1.1.0.0", oid="o", tid="t1", px=650001, qty=2, ts=2,
                               fee=0.0003, fee_ccy="BNB")),
        ("@oe", "leg.bn", Fill(cl="1.1.0.0", oid="o", tid="t2", px=650000, qty=1, ts=3,
                               fee=0.5)),
    ]
    w = JournalWriter.open(tmp_path / "journal.cmcj", run_id="t", cfg_hash="0" * 32)
    j = JournalShell.build("journal", w)
    for i, item in enumerate(items):
        j.handle(JournalBatch("hot", i, [item]), i + 1)
    j.close(len(items))
    cfg = {"contracts": [{"venue": "bn", "sym": "BTCUSDT", "tick": "0.1", "multiplier": 0.001,
                          "unit": "BTC", "ccy": "USDT"}], "pairs": []}
    export_tables(build_index(tmp_path / "journal.cmcj"), tmp_path / "out", "csv", cfg)
    with open(tmp_path / "out" / "fills.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["price"], r["price_unit"], r["fee"], r["fee_ccy"]) for r in rows] == [
        ("65000.1", "USDT/BTC", "0.0003", "BNB"), ("65000.0", "USDT/BTC", "0.5", "USDT")]


def _axes(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return report["plots"][name]["axes"]


def test_axis_labels_carry_the_configs_units(report: dict[str, Any]) -> None:
    spread = _axes(report, "spread-au-gc.png")[0]
    assert "CNY/g" in spread["ylabel"] and "CNY/g" in spread["title"]
    exposure = _axes(report, "exposure.png")[0]
    assert exposure["ylabel"] == "net exposure (grams)"
    assert "gold (g)" in exposure["legend"]
    assert _axes(report, "pnl.png")[0]["ylabel"] == "PnL (CNY)"
    slip = {a["ylabel"] for a in _axes(report, "slippage.png")}
    assert slip == {"slippage (CNY/g, + = worse)", "slippage (USD/ozt, + = worse)"}
    for info in report["plots"].values():
        for ax in info["axes"]:
            said = " ".join([ax["xlabel"], ax["ylabel"], ax["title"]])
            assert "base units" not in said and "price units" not in said, ax
            assert ax["xlabel"] in ("seconds since start", "latency (µs)", ""), ax


def test_latency_plot_marks_p50_and_p99(run_dir: Path, report: dict[str, Any]) -> None:
    from scripts.report.data import latency_percentiles, latency_samples

    pct = latency_percentiles(latency_samples(build_index(run_dir / "journal.cmcj")))
    axes = _axes(report, "latency.png")
    assert len(axes) == len(pct) >= 3
    for ax in axes:
        hop = ax["title"].rsplit(" (n=", 1)[0]
        texts = [t.strip() for t in ax["texts"]]
        assert f"p50 {pct[hop]['p50']:,.1f} µs" in texts, (hop, texts)
        assert f"p99 {pct[hop]['p99']:,.1f} µs" in texts, (hop, texts)


def test_the_demos_halt_is_marked_on_every_timeline(report: dict[str, Any]) -> None:
    """The demo ends with the launcher's flatten and halt: an operator action and the risk
    supervisor's HALTED, in the markers and drawn on each timeline plot."""
    marks = report["markers"]
    assert any(m["kind"] == "operator" and m["short"] == "halt" for m in marks), marks
    assert any(m["kind"] == "alarm" and m["short"] == "risk HALTED" for m in marks), marks
    # a flatten delivered to risk and to the strategy is one operator action
    assert sum(m["short"] == "flatten" for m in marks) == 1
    assert [m["count"] for m in marks if m["short"] == "flatten"] == [1]
    for name in ("spread-au-gc.png", "exposure.png", "pnl.png", "slippage.png"):
        for ax in _axes(report, name):
            text = " ".join(ax["texts"])
            assert "halt" in text and "risk HALTED" in text, (name, ax["texts"])
            assert {"operator action", "alarm"} <= set(ax["legend"]), (name, ax["legend"])
    page = Path(report["index"]).read_text()
    assert "Operator actions and alarms" in page and "risk HALTED: operator_halt" in page


def test_markers_merge_one_commands_deliveries_and_count_each_venues_alarm() -> None:
    from scripts.audit.extract import JournalIndex
    from scripts.report.markers import timeline_markers

    s = 1_000_000_000
    idx = JournalIndex()
    idx.decisions = [
        {"ts_ns": 10 * s, "actor": "admin", "what": "halt", "detail":
         '{"args": {"reason": "fat finger"}, "ok": true}'},
        {"ts_ns": 11 * s, "actor": "admin", "what": "status", "detail": "{}"},  # a read
        {"ts_ns": 12 * s, "actor": "admin", "what": "set", "detail":
         '{"args": {"key": "pairs.au-gc.z_entry", "value": 3.0}, "ok": true}'},
        {"ts_ns": 20 * s, "actor": "leg.shfe", "what": "alarm", "detail":
         '{"alarm": "oe_disconnected", "venue": "shfe"}'},
        {"ts_ns": 20 * s + 5, "actor": "leg.comex", "what": "alarm", "detail":
         '{"alarm": "oe_disconnected", "venue": "comex"}'},
        {"ts_ns": 10 * s + 2, "actor": "risk", "what": "breach", "detail":
         '{"reason": "operator_halt", "state": "HALTED"}'},
        {"ts_ns": 21 * s, "actor": "strategy.x", "what": "refuse", "detail": "SKEW"},
    ]
    idx.controls = [  # the admin halt's delivery, then the launcher's own flatten to two actors
        {"ts_ns": 10 * s + 1, "dest": "risk", "cmd": "halt", "arg": "admin k: fat finger"},
        {"ts_ns": 30 * s, "dest": "risk", "cmd": "flatten", "arg": "shutdown"},
        {"ts_ns": 30 * s + 9, "dest": "strategy.x", "cmd": "flatten", "arg": "shutdown"},
    ]
    idx.risk_events = [{"ts_ns": 10 * s + 2, "state": "HALTED", "reason": "operator_halt"},
                       {"ts_ns": 15 * s, "state": "ACTIVE", "reason": ""}]
    got = [(m["ts_ns"] // s, m["kind"], m["short"], m["count"], m["label"])
           for m in timeline_markers(idx)]
    assert got == [
        (10, "operator", "halt", 1, "admin halt: fat finger"),
        (10, "alarm", "risk HALTED", 1, "risk HALTED: operator_halt"),
        (12, "operator", "set_params pairs.au-gc.z_entry=3.0", 1,
         "admin set_params: pairs.au-gc.z_entry=3.0"),
        (15, "recovered", "risk ACTIVE", 1, "risk ACTIVE"),
        (20, "alarm", "oe_disconnected", 2, "alarm oe_disconnected (comex, shfe)"),
        (30, "operator", "flatten", 1, "operator flatten: shutdown"),
    ]
