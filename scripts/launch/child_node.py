"""A child node process of a launch (``cmc launch CONF --child NODE``): its main.

Separate from the launcher (``scripts.launch.launcher``, which re-exports ``run_child``) because
it runs in another process with another job: it hosts one node, serves the control socket the
launcher steers it through and sends the heartbeats the launcher watches, and it supervises
nothing itself (the launcher restarts it by policy).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import zmq
from loguru import logger

import kernels
from actors.runtime import link_auth
from actors.runtime.node_runtime import CtlServer, NodeRuntime, ctl_address
from actors.runtime.supervisor import with_epoch
from scripts.launch.alerts import start_alerts, stop_alerts
from scripts.launch.beats import BeatSender, beats_address
from scripts.launch.process import configure_logging
from transports.clock import LiveClock
from transports.config.engine import load_config, with_params
from transports.journal.intent_wal import starting_epoch


def run_child(conf: str, node: str, sock_dir: str, run_dir: str, epoch: int,
              params: dict[str, dict[str, Any]] | None = None) -> int:
    """Run one child node of a launch (started by the launcher, not by hand); ``params`` are
    the live parameters set so far (``live_params`` of the launcher's config)."""
    cfg = load_config(conf)
    for section, values in (params or {}).items():
        cfg = with_params(cfg, section, values)
    out = Path(run_dir)
    cfg = with_epoch(cfg, starting_epoch(epoch, out))  # above any epoch its WAL already used
    configure_logging(out, cfg.run.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launcher orchestrates the shutdown
    kernels.warm_up()
    ctx: zmq.Context[Any] = zmq.Context()
    # the launch's node key pair, by path in the run directory (written by the launcher)
    link_auth.attach(ctx, link_auth.load_link_keys(out / link_auth.LINK_KEY_FILE))
    clock = LiveClock()
    runtime = NodeRuntime(cfg, node, ctx, clock, sock_dir, out)
    alerts = start_alerts(cfg, runtime, clock, out.name)
    runtime.start()
    ctl = CtlServer(runtime, ctx, ctl_address(sock_dir, node))
    ctl.start()
    # alive to the launcher from now on; silent past its timeout, this node is ``hung``
    beats = BeatSender(ctx, beats_address(sock_dir), node,
                       cfg.supervision.node_heartbeat_ms / 1000)
    beats.start()
    logger.info("node {} running (epoch {})", node, cfg.run.epoch)
    print("READY", flush=True)
    try:
        while not stop.wait(0.1):
            pass
    finally:
        beats.stop()
        ctl.stop()
        runtime.stop()
        stop_alerts(alerts, runtime, cfg)
        link_auth.detach(ctx)
        ctx.destroy(linger=0)
    return 0


__all__ = ["run_child"]
