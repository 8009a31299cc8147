"""``cmc node``: run one node of a placement in this process until SIGTERM or SIGINT.

Prints ``READY`` once its hosts run. With several nodes, the node links are authenticated with
the key pair in ``<run dir>/node-link.key_secret`` (``actors.runtime.link_auth``). SIGUSR1
forgets the latency samples so far (the bench uses it after its warm-up). At exit it writes
``latency-<node>.hdr.json`` with every hop's HDR histogram (``LatencyRecorder.encode``: another
process merges them) and ``latency-<node>.npz`` with each hop's most recent samples in order.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import zmq

import kernels
from actors.runtime import link_auth
from actors.runtime.node import Node
from actors.runtime.supervisor import with_epoch
from scripts.launch.process import configure_logging
from transports.clock import LiveClock
from transports.config.engine import load_config
from transports.journal.intent_wal import starting_epoch


def run_node(conf: str, node_name: str, sock_dir: str, run_dir: str) -> int:
    """Run the node; return the exit code."""
    cfg = load_config(conf)
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = with_epoch(cfg, starting_epoch(cfg.run.epoch, out))  # never reuse an order id
    configure_logging(out, cfg.run.log_level)
    stop = threading.Event()
    reset = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: reset.set())
    kernels.warm_up()
    ctx: zmq.Context[Any] = zmq.Context()
    if cfg.placement is not None and len(cfg.placement.nodes) > 1:
        # node links are CURVE with the key pair whoever started the nodes wrote here
        link_auth.attach(ctx, link_auth.load_link_keys(out / link_auth.LINK_KEY_FILE))
    node = Node(cfg, node_name, ctx, LiveClock(), sock_dir, out)
    node.start()
    print("READY", flush=True)
    try:
        while not stop.wait(0.05):
            if reset.is_set():
                reset.clear()
                node.latency.reset()
    finally:
        node.stop()
        node.close_send_sockets()
        link_auth.detach(ctx)
        ctx.destroy(linger=0)
        (out / f"latency-{node_name}.hdr.json").write_bytes(
            msgspec.json.encode(node.latency.encode()))
        np.savez(out / f"latency-{node_name}.npz", **node.latency.dump())
    return 0
