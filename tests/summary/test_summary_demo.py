"""``cmc summary`` of a ``cmc demo`` run: the journal's figures agree with the venue's record
(the demo's own summary.json), and both texts say units, currencies and why risk stopped."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scripts.demo.demo import print_human
from scripts.summary.build import build_run_summary
from scripts.summary.cmd import summary as summary_cmd
from scripts.summary.text import OPPORTUNITY_NOTE, format_summary
from tests.support.demo_runs import demo_run

END_OF_RUN = "HALTED (end of run: shutdown flatten)"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_run(tmp_path_factory)


@pytest.fixture(scope="module")
def pair(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the journal's summary, the demo's summary from the venue's record)."""
    return build_run_summary(run_dir), json.loads((run_dir / "summary.json").read_bytes())


def test_the_journal_summary_agrees_with_the_venue_record(
        pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    s, venue = pair
    assert s["replay"]["status"] == "identical"
    assert s["orders"]["sent"] == venue["venue"]["orders"] > 0
    assert s["fills"]["count"] == venue["venue"]["fills"]
    c = s["combos"]
    assert (c["total"], c["complete"], c["repaired"], c["failed"]) == (
        venue["combos"], venue["combos_complete"], venue["combos_repaired"],
        venue["combos_failed"])
    for u, v in venue["final_exposure"].items():
        assert s["exposure"].get(u, 0.0) == pytest.approx(v, abs=1e-3)
    # each currency's cash flows and fees are the venue's; in the home currency they differ
    # only by the rate: the demo converts at the strategy's last rate, this at the last FX mid
    for ccy, v in venue["pnl"]["by_currency"].items():
        assert s["pnl"]["by_currency"][ccy]["cash_flows"] == pytest.approx(v["cash_flows"],
                                                                          abs=0.01)
        assert s["fees"][ccy] == pytest.approx(v["fees"], abs=0.01)
    foreign = sum(abs(x["net"]) for k, x in s["pnl"]["by_currency"].items()
                  if k != s["pnl"]["currency"])
    rate_gap = abs(s["pnl"]["fx_rate"] - venue["pnl"]["fx_rate"])
    assert s["pnl"]["net"] == pytest.approx(venue["pnl"]["net"], abs=foreign * rate_gap + 0.02)
    assert s["risk"]["state_text"] == venue["risk_state_text"] == END_OF_RUN


def test_both_texts_say_units_currencies_failed_combos_and_why_risk_stopped(
        pair: tuple[dict[str, Any], dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    s, venue = pair
    print_human(venue)
    demo_text = capsys.readouterr().out
    text = format_summary(s)
    for t in (demo_text, text):
        assert " CNY" in t
        assert re.search(r"gold [+-][\d,]+\.\d{3} g\b", t), t  # grams, the base unit
        assert END_OF_RUN in t
        assert "failed" in t
    assert OPPORTUNITY_NOTE in demo_text
    assert "opportunities" in text and "signals" in text
    # a failed combo is listed by id, pair and the lots it filled
    s2 = {**s, "combos": {**s["combos"], "failed": 1, "failed_list": [
        {"combo_id": 1000000007, "pair": "au-gc", "action": "open", "filled_a_lots": 3,
         "filled_b_lots": 0}]}}
    assert "1000000007 au-gc open (filled 3/0 lots)" in format_summary(s2)


def test_cmc_summary_json_and_a_run_without_a_journal(run_dir: Path, tmp_path: Path,
                                                      pair: tuple[dict[str, Any], Any]) -> None:
    res = CliRunner().invoke(summary_cmd, [str(run_dir / "journal.cmcj"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == json.loads(json.dumps(pair[0]))
    res = CliRunner().invoke(summary_cmd, [str(tmp_path)])
    assert res.exit_code == 2
    assert "no journal there" in res.output
