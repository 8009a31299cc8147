"""A journal that can no longer write, in a live node (fault catalogue P09): trading halts at once
under its own reason, no order reaches the venue after it, the journal's host is not rebuilt in
a loop, and the journal on disk stays readable to its last whole record.

The launcher in this process, the simulator as its child gateway, real ZeroMQ. The fault is the
real one: the journal's file descriptor is pointed at ``/dev/null`` (``dup2``), where writes
succeed and ``fdatasync`` fails (EINVAL), as a disk that stops syncing. Before, the error left
the journal's host on every batch and the supervisor rebuilt it ~25 times a second, for good,
while trading went on until the rebuilds escalated (an ``operator_halt``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from scripts.launch.launcher import Launcher
from tests.scripts.launch.test_launch_helpers import ONE_NODE, launched, sim_truth, write_conf
from tests.support.helpers import eventually
from transports.clock import LiveClock
from transports.journal.reader import JournalReader

pytestmark = pytest.mark.e2e
CLOCK = LiveClock()

#: the journal sharing its host with risk (its batches written in that host's own flush)
JOURNAL_WITH_RISK = ONE_NODE.replace('''name = "risk"
node = "engine"
actors = ["risk"]

[[placement.groups]]
name = "journal"
node = "engine"
actors = ["journal"]''', '''name = "ops"
node = "engine"
actors = ["risk", "journal"]''')


#: one host for every actor: every batch is written in that host's own flush
ONE_HOST = """
[placement]
[[placement.nodes]]
name = "engine"
address = "ipc://{sock}/node-engine"

[[placement.groups]]
name = "all"
node = "engine"
actors = ["feed.shfe", "feed.comex", "feed.fx", "book.shfe:au2606", "book.comex:GCZ6",
          "book.fx:USDCNH", "strategy.au-gc", "combo", "leg.shfe", "leg.comex", "risk",
          "journal"]
"""


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield  # overrides conftest's per-test ActorRegistry.stop_all: the launcher stops its own


@pytest.mark.parametrize("placement", [ONE_NODE, JOURNAL_WITH_RISK, ONE_HOST],
                         ids=["journal-alone", "journal-with-risk", "one-host"])
def test_a_journal_that_cannot_sync_halts_trading_once_and_its_host_lives(
        tmp_path: Path, placement: str) -> None:
    assert JOURNAL_WITH_RISK != ONE_NODE
    sock_dir = tempfile.mkdtemp(prefix="cmcj-")
    conf = write_conf(tmp_path, sock_dir, placement, gateways=True, admin=False,
                      flatten_timeout_s=3.0)
    ctx: zmq.Context[Any] = zmq.Context()
    null = os.open("/dev/null", os.O_WRONLY)
    try:
        with launched(conf) as launcher:
            records_before = _fail_the_journal(launcher, ctx, sock_dir, null)
    finally:
        ctx.destroy(linger=0)
        os.close(null)
    # the journal on disk: every record written before the fault, whole and chained
    assert len(list(JournalReader(tmp_path / "run"))) >= records_before


def _fail_the_journal(launcher: Launcher, ctx: zmq.Context[Any], sock_dir: str,
                      null: int) -> int:
    """Point the journal at ``null`` once the strategy trades, check what follows; return the
    records written before."""
    cluster, sup = launcher.cluster, launcher.runtime.supervisor
    shell = launcher.runtime.node.shells["journal"]
    writer = shell.writer
    eventually(lambda: sim_truth(ctx, sock_dir)["orders"], 30, step_s=0.1)  # trading first
    records_before = writer.index
    os.dup2(null, writer.fd)  # writes vanish, fdatasync fails: a disk that stopped syncing
    t_fail = CLOCK.now_ns()
    eventually(lambda: cluster.query("risk")["reasons"].get("journal_failed") == "HALTED",
               5, step_s=0.01)
    halted_ns = CLOCK.now_ns()
    eventually(lambda: shell.dropped_records >= 5, 10, step_s=0.05)  # the node goes on
    snap = shell.snapshot()
    assert "Invalid argument" in snap["failed"]
    assert sup.snapshot()["actors"]["journal"]["restarts"] == 0  # no rebuild loop
    assert cluster.query("risk")["state"] == "HALTED"
    # nothing reached the venue after the halt (what was in flight at the fault may land)
    late = [o for o in sim_truth(ctx, sock_dir)["orders"] if o["ts"] > halted_ns]
    assert late == [], late
    print(f"\njournal failed -> HALTED in {(halted_ns - t_fail) / 1e6:.0f} ms; "
          f"{snap['dropped_records']} records dropped")
    return records_before  # type: ignore[no-any-return]
