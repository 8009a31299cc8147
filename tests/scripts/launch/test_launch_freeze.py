"""``cmc launch`` with a trade node frozen by SIGSTOP while it trades (issue 12, failure 4).

During the stop the launcher reports the node ``hung`` (its heartbeats stopped); after SIGCONT
the node notices its own clock jump before it handles anything that waited meanwhile
(``ClockJump``, journaled): its feeds resync every book, its executors reconcile once more (the
simulator's record of the requests), and no order reaches the venue before both are done. The
journal still replays identically."""

from __future__ import annotations

import json
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from scripts.admin.client import request
from scripts.replay.core import Verifier
from tests.scripts.launch.test_launch import _launch, _stop
from tests.scripts.launch.test_launch_helpers import TWO_NODES, sim_truth, write_conf
from tests.support.helpers import eventually
from transports.clock import LiveClock
from transports.journal.format import T_BATCH, decode_batch_raw, decode_item
from transports.journal.reader import JournalReader
from transports.wire.messages import ClockJump
from transports.wire.venue_msgs import Snapshot

pytestmark = pytest.mark.e2e
ACCOUNTS = ("shfe-acct", "comex-acct")
FEEDS = ("feed.shfe", "feed.comex", "feed.fx")
STOP_S = 4.0


@pytest.fixture
def short_sock() -> Iterator[str]:
    yield tempfile.mkdtemp(prefix="cmcf-")


def _conf(tmp: Path, sock: str) -> Path:
    conf = write_conf(tmp, sock, TWO_NODES, gateways=True, admin=True)
    text = conf.read_text()
    # short timeouts; a hung node is only reported here, so the freeze itself is what is tested
    text = text.replace("heartbeat_timeout_ms = 1000\n", "heartbeat_timeout_ms = 1000\n"
                        "freeze_detect_ms = 500\nnode_heartbeat_ms = 100\n"
                        "node_heartbeat_timeout_ms = 1000\n", 1)
    text = text.replace("[supervision.nodes]\n", '[supervision.nodes]\non_hung = "report"\n', 1)
    conf.write_text(text)
    return conf


def _after_jump(run_dir: Path) -> tuple[list[int], dict[str, int]]:
    """When each ``ClockJump`` reached the trade node's cores, and per feed the first snapshot
    it applied after the first one (the journal's batch times, engine clock)."""
    jumps: list[int] = []
    resynced: dict[str, int] = {}
    for frame in JournalReader(run_dir / "journal.cmcj"):
        if frame.rtype != T_BATCH:
            continue
        ts, _g, items = decode_batch_raw(frame.body)
        for src, dest, raw in items:
            if src == "@clock":
                msg = decode_item(src, dest, raw)
                assert type(msg) is ClockJump and msg.gap_ns >= 1_000_000_000
                if dest == "feed.shfe":
                    jumps.append(ts)
            elif (jumps and dest in FEEDS and dest not in resynced and src[0] == "@"
                  and type(decode_item(src, dest, raw)) is Snapshot):
                resynced[dest] = ts
    return jumps, resynced


def test_a_frozen_trade_node_is_reported_hung_and_resyncs_before_trading(
        tmp_path: Path, short_sock: str) -> None:
    conf = _conf(tmp_path, short_sock)
    keys = str(tmp_path / "keys")
    ctx: zmq.Context[Any] = zmq.Context()
    clock = LiveClock()
    proc, status = _launch(conf, tmp_path / "launch.log")
    stopped = False
    victim = 0
    try:
        ep = json.loads(status.read_text())["admin"]

        def admin(cmd: str, **args: Any) -> Any:
            reply = request(ep, keys, cmd, args, timeout_s=5)
            assert reply["ok"], reply
            return reply["result"]

        def node(name: str = "trade") -> dict[str, Any]:
            return json.loads(status.read_text())["nodes"][name]  # type: ignore[no-any-return]

        eventually(lambda: len([o for o in sim_truth(ctx, short_sock)["orders"]
                                if o["account"] in ACCOUNTS]) >= 2, 30, step_s=0.2)  # it trades
        orders0 = admin("orders")
        reconciles0 = {leg: v["reconcile"]["count"] for leg, v in orders0.items()}
        victim = node()["pid"]
        t_stop = clock.mono_ns()
        os.kill(victim, signal.SIGSTOP)
        stopped = True
        eventually(lambda: node()["state"] == "hung", 10, step_s=0.05)
        assert admin("status")["nodes"]["trade"]["state"] == "hung"
        eventually(lambda: clock.mono_ns() - t_stop >= STOP_S * 1e9, STOP_S + 1, step_s=0.05)
        t_cont = clock.now_ns()
        os.kill(victim, signal.SIGCONT)
        stopped = False
        eventually(lambda: node()["state"] == "running", 10, step_s=0.05)
        assert node()["pid"] == victim and node()["restarts"] == 0  # reported, not killed

        # each leg reconciled once more, from the venue's own record of what it was asked
        def asked_again() -> dict[str, Any] | None:
            truth = sim_truth(ctx, short_sock)
            for acct in ACCOUNTS:
                got = {r["t"] for r in truth["requests"]
                       if r["account"] == acct and r["ts"] >= t_cont}
                if not {"open_orders", "trades", "positions"} <= got:
                    return None
            return truth

        eventually(asked_again, 15, step_s=0.2)
        orders1 = eventually(lambda: (o := admin("orders")) and all(
            v["reconcile"]["done"] and v["reconcile"]["count"] > reconciles0[leg]
            for leg, v in o.items()) and o, 15)
        reconciled = {leg: v["reconcile"]["at_ns"] for leg, v in orders1.items()}
        # it trades again after the freeze
        truth = eventually(lambda: (t := sim_truth(ctx, short_sock)) and [
            o for o in t["orders"] if o["account"] in ACCOUNTS and o["ts"] >= t_cont] and t,
            40, step_s=0.2)
    finally:
        if stopped:
            os.kill(victim, signal.SIGCONT)
        code = _stop(proc)
        ctx.destroy(linger=0)
    assert code == 0, (tmp_path / "launch.log").read_text()
    run_dir = Path(json.loads(status.read_text())["run_dir"])
    jumps, resynced = _after_jump(run_dir)
    assert len(jumps) == 1, jumps  # noticed once, before anything that waited was routed
    assert jumps[0] >= t_cont
    assert set(resynced) == set(FEEDS), resynced  # every feed took a fresh snapshot
    ready_ns = max(max(resynced.values()), *reconciled.values())
    late = [o for o in truth["orders"] if o["account"] in ACCOUNTS and o["ts"] >= t_cont]
    first = min(o["ts"] for o in late)
    print(f"\nfrozen {STOP_S:.0f} s: jump noticed {(jumps[0] - t_cont) / 1e6:.1f} ms after "
          f"SIGCONT, books resynced and legs reconciled {(ready_ns - t_cont) / 1e6:.1f} ms "
          f"after; first order {(first - t_cont) / 1e6:.1f} ms after")
    # no order on the frozen world: none before the books were fresh and the legs reconciled
    assert all(o["ts"] >= ready_ns for o in late), (late[:3], ready_ns)
    # the journal of the launch (the jump included) replays identically
    res = Verifier(str(run_dir)).run()
    assert res["status"] == "identical", json.dumps(res["divergence"], default=str)[:3000]
