"""``cmc launch`` then ``cmc summary RUN --json``: the summary.json written at the stop and the
one computed from the journal afterwards hold the same figures, and those are the journal's."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import zmq
from click.testing import CliRunner

from scripts.audit.extract import build_index
from scripts.replay.core import Verifier
from scripts.summary.cmd import summary as summary_cmd
from tests.scripts.launch.test_launch_helpers import ONE_NODE, sim_truth, write_conf
from tests.support.helpers import eventually
from transports.config.engine import load_config

ROOT = Path(__file__).resolve().parents[2]


def _launch_until_fills(conf: Path, sock: str, log: Path) -> Path:
    """Launch ``conf`` (its simulator a child gateway), SIGTERM it once the venue has filled
    orders of the engine, wait for the exit; return the run directory."""
    proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", "launch", str(conf), "--quiet"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("wb"),
                            stdin=subprocess.DEVNULL)
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(60), f"launcher not ready; see {log}"
        line = proc.stdout.readline().decode().strip()
        sel.close()
        assert line.startswith("READY "), f"launcher said {line!r}: {log.read_text()}"
        status = Path(line.split(" ", 1)[1])
        eventually(lambda: len([f for f in sim_truth(ctx, sock)["fills"]
                                if f["account"].endswith("-acct")]) >= 2, 30, step_s=0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(40) == 0, log.read_text()
        return Path(json.loads(status.read_text())["run_dir"])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
        ctx.destroy(linger=0)


@pytest.mark.e2e
def test_launch_summary_json_equals_cmc_summary_and_the_journal(tmp_path: Path) -> None:
    sock = tempfile.mkdtemp(prefix="cmcs-")
    conf = write_conf(tmp_path, sock, ONE_NODE, gateways=True, admin=False)
    run = _launch_until_fills(conf, sock, tmp_path / "launch.log")
    written = run / "summary.json"  # the launcher's stop wrote it
    at_stop = json.loads(written.read_bytes())
    assert "error" not in at_stop, at_stop

    res = CliRunner().invoke(summary_cmd, [str(run), "--json"])
    assert res.exit_code == 0, res.output
    computed = json.loads(res.output)
    assert computed == at_stop  # every figure, the same

    # ... and they are the journal's: its orders, its fills (each venue trade once), its combos
    idx = build_index(run / "journal.cmcj")
    assert computed["orders"]["sent"] == len(idx.orders) > 0
    assert computed["fills"]["count"] == len(idx.fills) >= 2
    assert computed["fills"]["lots"] == sum(f["qty"] for f in idx.fills)
    c = computed["combos"]
    assert c["total"] == len(idx.combos) == c["complete"] + c["repaired"] + c["failed"] + sum(
        c["other"].values())
    # net PnL from the journal's fills (foreign currency at the summary's rate), the positions
    # still open (none, after the stop's flatten, unless it timed out) marked apart
    cfg = load_config(str(conf))
    contracts = {(k.venue, k.sym): k for k in cfg.contracts}
    net = 0.0
    for f in idx.fills:
        k = contracts[(f["venue"], f["sym"])]
        sign = 1 if f["side"] == "B" else -1
        flow = -sign * f["qty"] * f["px"] * float(Decimal(k.tick)) * k.multiplier - f["fee"]
        net += flow * (1.0 if k.ccy == computed["pnl"]["currency"] else computed["pnl"]["fx_rate"])
    p = computed["pnl"]
    assert p["net"] - p["open_value"] == pytest.approx(net, abs=0.02)
    # the risk supervisor's own valuation, replayed from the same journal, agrees
    v = Verifier(run / "journal.cmcj")
    assert v.run()["status"] == "identical"
    risk = next(r.cores["risk"] for r in v.routers.values() if "risk" in r.cores)
    assert computed["pnl"]["net"] == pytest.approx(risk.book.pnl()["net"], abs=0.01)
    assert computed["risk"]["state_text"] == "HALTED (end of run: shutdown flatten)"
    assert computed["exposure_unit"] == {"gold": "g"}
