"""``cmc launch`` as a real process: config errors, SIGTERM (flat, nothing open at the venue) and
a child node killed with SIGKILL (restarted by the launcher; it reconciles before trading)."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
from click.testing import CliRunner

from scripts.admin.client import request
from scripts.cli import main as cli
from scripts.launch.process import SimProcess
from scripts.replay.core import Verifier
from tests.scripts.launch.test_launch_helpers import (
    ONE_NODE,
    TWO_NODES,
    combo_of,
    exposure,
    launched,
    sim_truth,
    write_conf,
)
from tests.support.helpers import eventually
from transports.clock import LiveClock
from transports.config.engine import load_config
from transports.journal.format import REC_HDR
from transports.journal.reader import JournalReader
from transports.wire.venue_msgs import OpenOrdersReq

ROOT = Path(__file__).resolve().parents[3]
BASE = {c.sym: c.base_per_lot for c in load_config(None).contracts}


@pytest.fixture
def short_sock() -> Iterator[str]:
    yield tempfile.mkdtemp(prefix="cmcl-")


def _launch(conf: Path, log: Path) -> tuple[subprocess.Popen[bytes], Path]:
    proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", "launch", str(conf), "--quiet"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("wb"),
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    assert sel.select(60), f"launcher not ready; see {log}"
    line = proc.stdout.readline().decode().strip()
    sel.close()
    assert line.startswith("READY "), f"launcher said {line!r}; see {log}: {log.read_text()}"
    return proc, Path(line.split(" ", 1)[1])


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def _open_orders(ctx: zmq.Context[Any], sock_dir: str, venue: str, account: str) -> list[Any]:
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.IDENTITY, account.encode())
    try:
        s.connect(f"ipc://{sock_dir}/{venue}-oe")
        s.send(msgspec.msgpack.encode(OpenOrdersReq()))
        assert s.poll(3000), "the simulator did not answer open_orders"
        reply = msgspec.msgpack.decode(s.recv())
        assert reply["t"] == "open_orders"
        return reply["list"]  # type: ignore[no-any-return]
    finally:
        s.close(linger=0)


def _fills(ctx: zmq.Context[Any], sock_dir: str) -> int:
    return len([f for f in sim_truth(ctx, sock_dir)["fills"] if f["account"].endswith("-acct")])


@pytest.mark.parametrize(("extra", "field"), [
    ("[[placement.groups]]\nname = 'x'\nnode = 'engine'\nactors = []\ncpus = [4096]\n",
     "$.placement.groups[3].cpus"),
    ("[launch]\nshutdown = 'never'\n", "$.launch.shutdown"),
    ("[supervision]\n[[supervision.groups]]\nname = 'g'\nactors = ['nope']\n",
     "$.supervision.groups[0].actors"),
    ("[admin]\nenabled = true\n", "$.admin.server_secret"),
    ("[supervision]\nheartbeat_ms = 0\n", "$.supervision.heartbeat_ms"),
])
def test_a_config_error_exits_2_naming_the_field(tmp_path: Path, extra: str, field: str) -> None:
    from tests.scripts.launch.test_launch_helpers import base_toml

    conf = tmp_path / "bad.toml"
    conf.write_text(base_toml() + ONE_NODE + extra)
    r = CliRunner().invoke(cli, ["launch", str(conf)])
    assert r.exit_code == 2, r.output
    assert field in r.output


@pytest.mark.e2e
def test_sigterm_leaves_no_open_orders_and_flat_exposure(tmp_path: Path, short_sock: str) -> None:
    conf = write_conf(tmp_path, short_sock, ONE_NODE, gateways=False, admin=False)
    sim = SimProcess(str(conf), short_sock, tmp_path / "truth.json", tmp_path / "sim.log")
    ctx: zmq.Context[Any] = zmq.Context()
    proc = None
    try:
        sim.wait_ready()
        proc, status = _launch(conf, tmp_path / "launch.log")
        eventually(lambda: _fills(ctx, short_sock) >= 2, 30, step_s=0.2)  # it trades
        code = _stop(proc)
        assert code == 0, (tmp_path / "launch.log").read_text()
        st = json.loads(status.read_text())
        assert st["state"] == "stopped"
        truth = sim_truth(ctx, short_sock)
        for venue, acct in (("shfe", "shfe-acct"), ("comex", "comex-acct")):
            assert _open_orders(ctx, short_sock, venue, acct) == []
        residual = abs(28 * 1000.0 - 9 * BASE["GCZ6"])  # the clip's lot-alignment residual
        print(f"\nafter SIGTERM: positions {truth['positions']}, exposure "
              f"{exposure(truth, BASE):+.2f} g (residual per clip {residual:.2f} g)")
        assert abs(exposure(truth, BASE)) <= residual + 1e-6
        assert (Path(st["run_dir"]) / "journal.cmcj").stat().st_size > 0
        # the launch's journal replays identically (executors wrapped as the node wrapped them)
        res = Verifier(st["run_dir"]).run()
        assert res["status"] == "identical", res["divergence"]
    finally:
        if proc is not None:
            _stop(proc, signal.SIGKILL)
        sim.stop()
        ctx.destroy(linger=0)


@pytest.mark.e2e
def test_a_killed_node_is_restarted_and_reconciles_before_trading(tmp_path: Path,
                                                                  short_sock: str) -> None:
    conf = write_conf(tmp_path, short_sock, TWO_NODES, gateways=True, admin=True)
    keys = str(tmp_path / "keys")
    ctx: zmq.Context[Any] = zmq.Context()
    proc, status = _launch(conf, tmp_path / "launch.log")
    try:
        ep = json.loads(status.read_text())["admin"]

        def admin(cmd: str, **args: Any) -> Any:
            reply = request(ep, keys, cmd, args, timeout_s=5)
            assert reply["ok"], reply
            return reply["result"]

        eventually(lambda: _fills(ctx, short_sock) >= 2, 30, step_s=0.2)
        victim = json.loads(status.read_text())["nodes"]["trade"]["pid"]
        t_kill = LiveClock().mono_ns()
        os.kill(victim, signal.SIGKILL)
        at_kill = sim_truth(ctx, short_sock)

        def restarted() -> bool:
            n = json.loads(status.read_text())["nodes"]["trade"]
            return n["restarts"] == 1 and n["state"] == "running" and n["pid"] != victim

        eventually(restarted, 30, step_s=0.05)
        back_s = (LiveClock().mono_ns() - t_kill) / 1e9
        print(f"\nnode killed -> restarted and READY in {back_s:.2f} s")
        orders = eventually(lambda: (o := admin("orders")) and all(
            v["reconcile"]["done"] for v in o.values()) and o, 10)
        for leg, acct in (("leg.shfe", "shfe-acct"), ("leg.comex", "comex-acct")):
            venue_pos = {s: q for s, q in at_kill["positions"].get(acct, {}).items() if q}
            assert orders[leg]["reconcile"]["adopted"] == venue_pos, leg
        new_epoch = 1 + 100_000  # EPOCH_STRIDE: a restarted node never reuses an id
        done_ns = min(v["reconcile"]["at_ns"] for v in orders.values())

        def late_orders() -> list[dict[str, Any]]:
            return [o for o in sim_truth(ctx, short_sock)["orders"]
                    if combo_of(o["cl"]) >= new_epoch * 1_000_000_000]

        late = eventually(late_orders, 30, step_s=0.2)  # the restarted node trades again
        assert all(o["ts"] >= done_ns for o in late), "an order left before reconciliation"
        print(f"\nfirst order after the restart {(late[0]['ts'] - done_ns) / 1e9:.2f} s after "
              "reconciliation")
        print(f"\nnode restart: venue positions at kill {at_kill['positions']}; adopted; "
              f"{len(late)} orders since, all after reconciliation")
        assert admin("status")["trading"]["state"] == "ACTIVE"
    finally:
        code = _stop(proc)
        ctx.destroy(linger=0)
    assert code == 0, (tmp_path / "launch.log").read_text()


@pytest.mark.e2e
def test_a_config_the_venue_contradicts_stops_the_start(tmp_path: Path, short_sock: str) -> None:
    """The venue says SHFE gold ticks 0.02; a config saying 0.05 must not trade: ``cmc launch``
    exits 2 naming the field and both values, before any node starts."""
    good = write_conf(tmp_path, short_sock, ONE_NODE, gateways=False, admin=False)
    wrong = tmp_path / "wrong.toml"
    text = good.read_text()
    assert text.count('tick = "0.02" ') == 1
    wrong.write_text(text.replace('tick = "0.02" ', 'tick = "0.05" '))
    sim = SimProcess(str(good), short_sock, tmp_path / "truth.json", tmp_path / "sim.log")
    try:
        sim.wait_ready()
        r = subprocess.run([sys.executable, "-m", "scripts.cli", "launch", str(wrong), "--quiet"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        assert ".tick: config 0.05, venue 'shfe' says 0.02" in r.stderr
        assert not list((tmp_path / "run").glob("journal*.cmcj"))  # nothing started
    finally:
        sim.stop()


def test_a_launch_into_a_run_whose_journal_is_damaged_refuses_and_says_how_to_repair(
        tmp_path: Path, short_sock: str) -> None:
    """P08: a record in the middle of the run's journal no longer checks out (a flipped byte):
    ``cmc launch`` must not start on what it cannot trust. It exits 1 before any node starts,
    naming the file, the record and its offset and the command that repairs it (which then
    leaves the journal whole up to that record)."""
    conf = write_conf(tmp_path, short_sock, ONE_NODE, gateways=True, admin=False,
                      flatten_timeout_s=3.0)
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        with launched(conf):
            eventually(lambda: sim_truth(ctx, short_sock)["orders"], 30, step_s=0.1)
    finally:
        ctx.destroy(linger=0)
    (journal,) = sorted((tmp_path / "run").glob("journal*.cmcj"))
    offs = [f.offset for f in JournalReader(journal)]
    k = len(offs) // 2
    data = bytearray(journal.read_bytes())
    data[offs[k] + REC_HDR.size + 3] ^= 0xFF
    journal.write_bytes(bytes(data))
    size = len(data)
    r = subprocess.run([sys.executable, "-m", "scripts.cli", "launch", str(conf), "--quiet"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert (f"{journal}: record {k} at offset {offs[k]} is bad: CRC mismatch" in r.stderr
            and f"cmc audit verify {journal} --repair" in r.stderr), r.stderr
    assert journal.stat().st_size == size  # nothing written, nothing cut
    fixed = subprocess.run([sys.executable, "-m", "scripts.cli", "audit", "verify",
                            str(journal), "--repair"], capture_output=True, text=True,
                           timeout=120)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert [f.offset for f in JournalReader(journal)] == offs[:k]
