"""A hostile local process cannot steer or trade through the node links of a real launch.

A two-node launch (``TWO_NODES``: ``ops`` in the launcher, ``trade`` a child process) trades
against the simulator. A foreign process — its own ZeroMQ context, no keys, or a key pair of its
own that knows the launch's public key — connects to the trade node's PULL, to the ops node's
PULL and to the trade node's control socket; it pushes well-formed batches with a ``LegOrder``
for ``leg.shfe`` and a ``Halt`` for ``risk``, and asks the control socket to ``tell`` the same.
The venue's own record shows no such order, risk and the strategy are not halted, the control
socket answered nothing, and the engine keeps trading.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.auth

from actors.runtime.link_auth import LINK_KEY_FILE
from scripts.admin.client import request
from tests.scripts.launch.test_launch import _launch
from tests.scripts.launch.test_launch_helpers import TWO_NODES, sim_truth, write_conf
from tests.support.helpers import eventually
from transports.config.engine import load_config
from transports.wire.codec import encode
from transports.wire.messages import Halt, LegOrder

ROOT = Path(__file__).resolve().parents[3]
FOREIGN_COMBO = 987_654_321_777  #: no combo of the engine has this id

#: The foreign process: only pyzmq, its own context; frames come hex-encoded on argv.
FOREIGN = r"""
import json, sys, zmq
sock_dir, server_pub, trade_batch, ops_batch, ctl1, ctl2 = sys.argv[1:7]
ctx = zmq.Context()
replies = 0
for mode in ("plain", "own-key"):
    def dress(s):
        s.setsockopt(zmq.LINGER, 1000)
        if mode == "own-key":  # a CURVE client with a key pair of its own
            s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
            s.curve_serverkey = server_pub.encode()
        return s
    for node, frame in (("trade", trade_batch), ("ops", ops_batch)):
        p = dress(ctx.socket(zmq.PUSH))
        p.connect(f"ipc://{sock_dir}/node-{node}")
        p.send(bytes.fromhex(frame))
        p.close()  # LINGER: up to 1 s to hand the frame over
    d = dress(ctx.socket(zmq.DEALER))
    d.connect(f"ipc://{sock_dir}/ctl-trade")
    d.send(bytes.fromhex(ctl1))
    d.send(bytes.fromhex(ctl2))
    if d.poll(1500):
        replies += 1
    d.close(linger=0)
ctx.term()
print(json.dumps({"ctl_replies": replies}), flush=True)
"""




def _fills(ctx: zmq.Context[Any], sock: str) -> int:
    return int(sim_truth(ctx, sock)["counts"].get("fills", 0))


def _foreign_order(truth: dict[str, Any]) -> LegOrder:
    """A well-formed order the leg executor would send: 1 lot at a price the venue just saw."""
    c = next(c for c in load_config(None).contracts if c.venue == "shfe")
    seen = [o for o in truth["orders"] if o.get("venue") == "shfe" and o.get("px")]
    assert seen, "the engine has sent no shfe order yet"
    # the venue's record holds prices in ticks
    return LegOrder(FOREIGN_COMBO, 0, 0, "shfe", c.sym, "B", 1, int(seen[-1]["px"]), "IOC",
                    "entry", 0, 0)


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_a_foreign_process_cannot_get_an_order_to_the_venue_nor_halt(tmp_path: Path) -> None:
    sock = tempfile.mkdtemp(prefix="cmcz-")
    conf = write_conf(tmp_path, sock, TWO_NODES, gateways=True, admin=True)
    keys = str(tmp_path / "keys")
    ctx: zmq.Context[Any] = zmq.Context()
    proc, status = _launch(conf, tmp_path / "launch.log")
    try:
        st = json.loads(status.read_text())
        ep, run_dir = st["admin"], Path(st["run_dir"])

        def admin(cmd: str) -> Any:
            reply = request(ep, keys, cmd, {}, timeout_s=5)
            assert reply["ok"], reply
            return reply["result"]

        # the launch's node key: owner-only; the socket directory: only the owner may open it
        assert (run_dir / LINK_KEY_FILE).stat().st_mode & 0o077 == 0
        assert Path(sock).stat().st_mode & 0o077 == 0
        eventually(lambda: _fills(ctx, sock) >= 2, 30, step_s=0.2)  # it trades
        order = _foreign_order(sim_truth(ctx, sock))
        server_pub, _ = zmq.auth.load_certificate(run_dir / LINK_KEY_FILE)
        frames = [encode([("leg.shfe", order)]).hex(),
                  encode([("risk", Halt("foreign")), ("strategy.au-gc", Halt("foreign"))]).hex(),
                  encode({"id": "f1", "cmd": "tell",
                          "args": {"actor": "leg.shfe", "msg": encode(order)}}).hex(),
                  encode({"id": "f2", "cmd": "tell",
                          "args": {"actor": "strategy.au-gc", "msg": encode(Halt("x"))}}).hex()]
        fills_before = _fills(ctx, sock)
        out = subprocess.run([sys.executable, "-c", FOREIGN, sock, server_pub.decode(), *frames],
                             capture_output=True, timeout=60, check=True)
        assert json.loads(out.stdout)["ctl_replies"] == 0  # the control socket never answered
        # the legit traffic keeps flowing: new fills after the attack (a bounded wait, which
        # is also time for any foreign frame to have been acted on)
        eventually(lambda: _fills(ctx, sock) > fills_before, 30, step_s=0.2)
        truth = sim_truth(ctx, sock)
        foreign = [o for o in truth["orders"] if f".{FOREIGN_COMBO}." in str(o.get("cl", ""))]
        assert foreign == [], foreign  # the venue's truth: no such order
        trading = admin("status")["trading"]
        assert trading["state"] == "ACTIVE", trading
        pair = admin("pairs")["pairs"]["au-gc"]
        assert pair["reachable"] and not pair["halted"], pair
        # the peers with a key of their own were turned away by the ZAP allowlist
        log = (run_dir / "log.jsonl").read_text()
        assert "node link: refused a peer" in log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(40) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            ctx.destroy(linger=0)
