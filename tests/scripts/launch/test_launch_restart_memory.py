"""A node killed at exact points of ``LegShell.flush_sends`` and restarted by the launcher forgets
nothing (issue 12, failure 2): real processes (launcher, child node, simulator gateway), the kill
hook ``CMC_TEST_KILL_AT`` (``actors.runtime.shells.kill_hook.KillHook``), the venue's own record.

- ``after_fsync`` at the close of the first spread (the intent is durable, the order never left):
  the restarted strategy, rebuilt from the journal, still holds its spread and the venue never
  holds more than ``max_spread_position`` clips (a fresh strategy opened on top of it).
- ``after_first_send`` at the first open (leg A left, leg B never did): the leg-A order the
  journal never saw sent comes back from the intent WAL and is queried by client id, so the
  engine's fills equal the venue's.

Both: no client order id reaches the venue twice; after SIGTERM the venue's net exposure is
within the clip's lot residual; ``cmc replay --verify`` replays the run identically.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import zmq

from scripts.admin.client import request
from scripts.replay.core import Verifier
from tests.scripts.launch.test_launch import BASE, _launch, _stop
from tests.scripts.launch.test_launch_helpers import TWO_NODES, exposure, sim_truth, write_conf
from tests.support.helpers import eventually
from transports.journal.format import T_BATCH, decode_batch_raw, decode_item
from transports.journal.reader import JournalReader
from transports.wire.messages import ExecReport

pytestmark = pytest.mark.e2e
CLIP = {"au2606": 28, "GCZ6": 9}  #: lots per clip (demo pair), max_spread_position = 1


def _journal_fills(run_dir: Path) -> set[tuple[str, str]]:
    """(cl, trade id) of every fill report risk was given, from the journal."""
    out: set[tuple[str, str]] = set()
    for frame in JournalReader(run_dir / "journal.cmcj"):
        if frame.rtype != T_BATCH:
            continue
        _ts, _g, items = decode_batch_raw(frame.body)
        for src, dest, raw in items:
            if dest != "risk" or src[0] != "@":
                continue
            msg = decode_item(src, dest, raw)
            if type(msg) is ExecReport and msg.kind == "fill":
                out.add((msg.cl, msg.trade_id))
    return out


def _max_venue_lots(truth: dict[str, Any]) -> dict[str, int]:
    """The largest absolute position each contract ever reached at the venue (its fill record,
    in order)."""
    pos: dict[str, int] = {}
    peak: dict[str, int] = {}
    for f in sorted(truth["fills"], key=lambda f: f["ts"]):
        if not f["account"].endswith("-acct"):
            continue
        pos[f["sym"]] = pos.get(f["sym"], 0) + (f["qty"] if f["side"] == "B" else -f["qty"])
        peak[f["sym"]] = max(peak.get(f["sym"], 0), abs(pos[f["sym"]]))
    return peak


@pytest.mark.parametrize(("point", "when"), [("after_fsync", "holding"),
                                            ("after_first_send", "")])
def test_a_node_killed_mid_send_restarts_without_forgetting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str, when: str) -> None:
    sock = tempfile.mkdtemp(prefix="cmck-")
    conf = write_conf(tmp_path, sock, TWO_NODES, gateways=True, admin=True,
                      extra=os.environ.get("CMC_TEST_RESTART_EXTRA", ""))
    flag = tmp_path / "killed"
    monkeypatch.setenv("CMC_TEST_KILL_AT", point)
    monkeypatch.setenv("CMC_TEST_KILL_WHEN", when)
    monkeypatch.setenv("CMC_TEST_KILL_ONCE", str(flag))
    keys = str(tmp_path / "keys")
    ctx: zmq.Context[Any] = zmq.Context()
    proc, status = _launch(conf, tmp_path / "launch.log")
    try:
        ep = json.loads(status.read_text())["admin"]

        def admin(cmd: str, **args: Any) -> Any:
            reply = request(ep, keys, cmd, args, timeout_s=5)
            assert reply["ok"], reply
            return reply["result"]

        eventually(flag.exists, 90, step_s=0.1)  # the hook fired: the trade node is dead
        at_kill = sim_truth(ctx, sock)

        def restarted() -> bool:
            n = json.loads(status.read_text())["nodes"]["trade"]
            return n["restarts"] == 1 and n["state"] == "running"

        eventually(restarted, 60, step_s=0.05)
        orders = eventually(lambda: (o := admin("orders")) and all(
            v["reconcile"]["done"] for v in o.values()) and o, 20)
        pair = admin("pairs")["pairs"]["au-gc"]
        venue_pos = {s: q for acct in ("shfe-acct", "comex-acct")
                     for s, q in at_kill["positions"].get(acct, {}).items() if q}
        in_flight = {leg: v["reconcile"].get("in_flight", []) for leg, v in orders.items()}
        print(f"\n{point}: venue at kill {venue_pos}; restarted strategy pos_dir "
              f"{pair['pos_dir']} lots {pair['pos_lots']}; queried in flight {in_flight}")
        if point == "after_fsync":
            # (3) it held a spread when it died (the kill was at its close): it still does
            assert venue_pos, "the kill was meant to come at the close of an open spread"
            assert pair["pos_dir"] != 0, pair
            assert sorted(abs(x) for x in pair["pos_lots"]) == sorted(
                abs(q) for q in venue_pos.values()), (pair, venue_pos)
            # the close that never left is in flight: queried by client id
            assert any(in_flight.values()), in_flight
        else:
            # leg A left, the journal never saw it: it comes back from the WAL, queried by id
            assert any(in_flight.values()), in_flight
        # let it trade on: it must not open on top of what it holds
        eventually(lambda: len(sim_truth(ctx, sock)["orders"]) > len(at_kill["orders"]) + 2,
                   30, step_s=0.2)
    finally:
        code = _stop(proc)
        ctx.destroy(linger=0)
    truth = json.loads((tmp_path / "run" / "truth.json").read_text())  # the gateway's at exit
    assert code == 0, (tmp_path / "launch.log").read_text()
    mine = [o for o in truth["orders"] if o["account"].endswith("-acct")]
    # (1) no client order id was sent twice
    cls = [o["cl"] for o in mine]
    assert len(cls) == len(set(cls)), "a client order id reached the venue twice"
    # (3) the venue never held more than max_spread_position clips
    peak = _max_venue_lots(truth)
    print(f"\npeak venue lots {peak}; final positions {truth['positions']}")
    for sym, lots in peak.items():
        assert lots <= CLIP[sym], f"{sym}: {lots} lots at the venue, more than one clip"
    # (2) every venue fill is a fill report in the journal
    venue_fills = {(f["cl"], f["tid"]) for f in truth["fills"]
                   if f["account"].endswith("-acct")}
    journaled = _journal_fills(tmp_path / "run")
    assert venue_fills == journaled, (sorted(venue_fills - journaled),
                                      sorted(journaled - venue_fills))
    # (4) SIGTERM flattened everything (within the clip's lot residual)
    residual = abs(28 * 1000.0 - 9 * BASE["GCZ6"])
    assert abs(exposure(truth, BASE)) <= residual + 1e-6, truth["positions"]
    # the run, restart included, replays identically
    res = Verifier(tmp_path / "run").run()
    assert res["status"] == "identical", res["divergence"]
