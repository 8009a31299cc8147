"""End to end on the crypto venues, through the user's command: ``cmc demo --conf
conf/demo-crypto.toml`` starts the Binance and OKX fakes (real HTTP/websocket servers), one
ccxt gateway per account (real ccxt), and the engine. Every check is made against the fakes'
own records of orders and fills, never the engine's view of itself.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.demo_pool import DemoSpec, result
from transports.venues.ccxt.clmap import RULES, from_exchange, to_exchange

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf" / "demo-crypto.toml"
BASE_PER_LOT = {("binance", "BTCUSDT"): 0.0001, ("okx", "BTC-USDT"): 0.0001,
                ("binance-usdm", "BTCUSDT"): 0.001}


#: ``cmc demo --conf conf/demo-crypto.toml --duration 15 --json``, run in the background from
#: the session's start (tests.support.demo_pool)
POOLED_DEMOS = [DemoSpec("crypto-15", 15.0, seed=None, conf=str(CONF))]


@pytest.fixture(scope="module")
def crypto_run() -> tuple[str, dict[str, Any], Path]:
    summary, failure = result(POOLED_DEMOS[0])
    return failure, summary, Path(summary["run_dir"])


def _fake_records(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {n: json.loads((run_dir / f"truth-{n}.json").read_text()) for n in ("binance", "okx")}


def test_the_crypto_demo_trades_and_ends_clean(
        crypto_run: tuple[str, dict[str, Any], Path]) -> None:
    failure, summary, _ = crypto_run
    assert failure == "", (failure, summary)
    assert summary["combos"] > 0
    assert summary["venue"]["duplicate_client_ids"] == 0
    assert summary["actor_errors"] == {}
    assert summary["legging"]["unresolved_unknowns"] == 0
    assert all(code == 0 for code in summary["venue_exit_codes"].values()), summary


def test_final_exposure_from_the_fakes_fills_is_within_the_lot_residual(
        crypto_run: tuple[str, dict[str, Any], Path]) -> None:
    _, summary, run_dir = crypto_run
    net_btc = 0.0
    n_fills = 0
    for rec in _fake_records(run_dir).values():
        for f in rec["fills"]:
            n_fills += 1
            sign = 1 if f["side"] == "B" else -1
            net_btc += sign * f["qty"] * BASE_PER_LOT[(f["venue"], f["sym"])]
    assert n_fills > 0
    assert abs(net_btc) <= abs(summary["lot_residual_base"]) + 1e-9
    assert summary["final_exposure"]["btc"] == pytest.approx(net_btc, abs=1e-3)


def test_every_order_reached_its_exchange_once_under_the_exchanges_own_id(
        crypto_run: tuple[str, dict[str, Any], Path]) -> None:
    """The fakes record the exchange's client ids: OKX's must be the gateway's rewrite of an
    engine id (letters and digits only), each engine id must appear at one exchange once."""
    _, summary, run_dir = crypto_run
    seen: list[str] = []
    for name, rec in _fake_records(run_dir).items():
        for o in rec["orders"]:
            xcl = o["cl"]
            if name == "okx":
                assert xcl.isalnum(), xcl
            seen.append(xcl)
    assert len(seen) == len(set(seen)) == summary["orders_sent"]
    # OKX's are the gateway's escape of an engine id "<epoch>.<combo>.<leg>.<attempt>"
    for xcl in (o["cl"] for o in _fake_records(run_dir)["okx"]["orders"]):
        engine = from_exchange(xcl, RULES["okx"])
        assert engine is not None and re.fullmatch(r"1\.\d+\.\d+\.\d+", engine), xcl
        assert to_exchange(engine, RULES["okx"]) == xcl


def test_the_crypto_run_replays_identically(
        crypto_run: tuple[str, dict[str, Any], Path]) -> None:
    """Version 2 frames (session, instruments v2, marks) are journaled like every input: the
    same cores on the journal reach the same decisions."""
    _, _, run_dir = crypto_run
    proc = subprocess.run([sys.executable, "-m", "scripts.cli", "replay", str(run_dir),
                           "--verify"], capture_output=True, timeout=200, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout.decode()[-2000:] + proc.stderr.decode()[-2000:]
    assert b"identical" in proc.stdout
