"""A relaunch into the same run directory starts above every epoch its intent WALs used, so two
launches never send the same client order id (the launcher in this process, the simulator as its
child gateway, the real WAL)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import zmq

from scripts.launch.launcher import Launcher, load_launch_config
from scripts.replay.core import Verifier
from tests.scripts.launch.test_launch_helpers import ONE_NODE, sim_truth, write_conf
from tests.support.helpers import eventually
from transports.journal.intent_wal import cl_epoch, highest_epoch, read_intents
from transports.wire.messages import LegOrder

pytestmark = pytest.mark.e2e
COMBO = 5_000_001  #: the same combo / leg / attempt in both launches


def _launch_once(conf: Path, sock_dir: str, ctx: zmq.Context[Any]) -> tuple[int, list[str]]:
    """Launch, send one resting order for ``COMBO``, wait until the venue has it, shut down.
    Return the launch's epoch and the client ids the venue saw."""
    launcher = Launcher(str(conf), load_launch_config(str(conf)), quiet=True)
    try:
        launcher.start()
        q = launcher.cluster.query
        eventually(lambda: q("leg.shfe").get("reconcile", {}).get("done"), 10)
        eventually(lambda: q("book.shfe:au2606")["valid"] and q("book.shfe:au2606")["bids"], 10)
        far = q("book.shfe:au2606")["bids"][0][0] - 2000  # rests until the shutdown cancels it
        launcher.cluster.send("leg.shfe", LegOrder(COMBO, 0, 0, "shfe", "au2606", "B", 1, far,
                                                   "GTC", "entry", 0, 0))
        mine = f"{launcher.cfg.run.epoch}.{COMBO}.0.0"
        orders = eventually(lambda: (o := sim_truth(ctx, sock_dir)["orders"]) and any(
            x["cl"] == mine for x in o) and o, 10)
        return launcher.cfg.run.epoch, [o["cl"] for o in orders if o["account"] == "shfe-acct"]
    finally:
        launcher.request_shutdown("test over")
        launcher.shutdown()


def test_two_launches_into_one_run_dir_never_reuse_a_client_order_id(tmp_path: Path) -> None:
    sock_dir = tempfile.mkdtemp(prefix="cmce-")
    conf = write_conf(tmp_path, sock_dir, ONE_NODE, gateways=True, admin=False,
                      flatten_timeout_s=2.0)
    run = tmp_path / "run"
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        first, venue1 = _launch_once(conf, sock_dir, ctx)
        used = highest_epoch(run)
        assert used >= first
        second, venue2 = _launch_once(conf, sock_dir, ctx)
    finally:
        ctx.destroy(linger=0)
    assert second > used, (first, used, second)
    wal = [order["cl"] for _ts, _acct, order in read_intents(run / "intents-engine.cmcw")]
    assert f"{first}.{COMBO}.0.0" in wal and f"{second}.{COMBO}.0.0" in wal
    assert len(wal) == len(set(wal)), "a client order id was written twice"
    assert not set(venue1) & set(venue2)
    later = wal[wal.index(f"{second}.{COMBO}.0.0"):]
    assert min(cl_epoch(cl) for cl in later) >= second
    # the journal both launches wrote replays identically, each launch's cores at its epoch
    res = Verifier(run).run()
    assert res["status"] == "identical", res["divergence"]
    print(f"\nlaunch 1 epoch {first} (WAL up to {used}); launch 2 epoch {second}; "
          f"{len(wal)} client ids in the WAL, all distinct")
