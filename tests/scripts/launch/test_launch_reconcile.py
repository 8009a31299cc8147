"""``cmc launch``: each leg reconciles with its venue exactly once at start (one reconciliation
per executor: its own link's and the node's supervision are the same one), counted from the
simulator's own record of the requests it received."""

from __future__ import annotations

import json
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from scripts.launch.process import SimProcess
from tests.scripts.launch.test_launch import _launch, _stop
from tests.scripts.launch.test_launch_helpers import ONE_NODE, sim_truth, write_conf
from tests.support.helpers import eventually

ACCOUNTS = ("shfe-acct", "comex-acct")


@pytest.fixture
def short_sock() -> Iterator[str]:
    yield tempfile.mkdtemp(prefix="cmcr-")


@pytest.mark.e2e
def test_each_leg_reconciles_once_at_start(tmp_path: Path, short_sock: str) -> None:
    conf = write_conf(tmp_path, short_sock, ONE_NODE, gateways=False, admin=False)
    sim = SimProcess(str(conf), short_sock, tmp_path / "truth.json", tmp_path / "sim.log")
    ctx: zmq.Context[Any] = zmq.Context()
    proc = None
    try:
        sim.wait_ready()
        proc, status = _launch(conf, tmp_path / "launch.log")

        def traded() -> dict[str, Any] | None:
            # both accounts have sent an order: each leg's start reconciliation is over
            truth = sim_truth(ctx, short_sock)
            sent = {o["account"] for o in truth["orders"]}
            return truth if sent >= set(ACCOUNTS) else None

        truth = eventually(traded, 30, step_s=0.2)
        for acct in ACCOUNTS:
            first_order_ts = min(o["ts"] for o in truth["orders"] if o["account"] == acct)
            asked = [r["t"] for r in truth["requests"]
                     if r["account"] == acct and r["ts"] <= first_order_ts]
            assert sorted(asked) == ["open_orders", "positions", "trades"], (acct, asked)
        assert _stop(proc) == 0, (tmp_path / "launch.log").read_text()
        proc = None
        st = json.loads(status.read_text())
        assert st["state"] == "stopped"
    finally:
        if proc is not None:
            _stop(proc, signal.SIGKILL)
        sim.stop()
        ctx.destroy(linger=0)
