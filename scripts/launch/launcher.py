"""``cmc launch``: run a placement on this machine, supervised, steered through the admin socket.

The launcher process runs the placement's first node itself and every other node as a child
process (``cmc launch CONF --child NODE``, which also serves a control socket); it starts the
configured gateways first, warms the Numba kernels, pins every node and host thread, writes a
status file, serves the admin socket and the optional metrics endpoint, and restarts a node
process that dies (``[supervision.nodes]`` intensity; past it trading is HALTED).

On SIGTERM or SIGINT (or the admin ``shutdown`` command): flatten per ``[launch].shutdown``
(``Flatten`` to every strategy, then wait until every pair is flat, bounded), halt (every
executor cancels what is still working; wait until nothing is open, bounded), stop the child
nodes, stop this node (which flushes the journal), stop the gateways, exit 0.

This module is the launcher process's supervision and life cycle; what is settled before any
process starts (the config's checks, the run and socket directories, the epoch, the gateways'
command lines) is ``launch_prep``, a child node process's own main is ``child_node`` (both
re-exported here), and what happens when a child node dies or goes silent is the helper
``node_supervision.NodeSupervision`` the launcher creates once its nodes and cluster are up.

Live parameters (``cmc admin set``) are in the launcher's config copy too: a child node process
started again gets them (``--params``), so its fresh cores keep what was set.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zmq
from loguru import logger

import kernels
from actors.admin import AdminCore, journal_detail
from actors.runtime import link_auth
from actors.runtime.instruments import check_instruments
from actors.runtime.node import fill_address, topology
from actors.runtime.node_runtime import Cluster, NodeRuntime, safe
from scripts.launch.alerts import start_alerts, stop_alerts
from scripts.launch.beats import BeatReceiver, NodeWatch, beats_address
from scripts.launch.child_node import run_child
from scripts.launch.launch_prep import (
    gateway_commands,
    launch_duration_s,
    load_launch_config,
    prepare_run,
)
from scripts.launch.node_supervision import NodeSupervision, node_on_hung
from scripts.launch.procs import Child, RestartBudget, cmc_cmd
from transports.clock import LiveClock
from transports.config.engine import AppConfig
from transports.errors import ConfigError
from transports.wire.messages import Decision, Flatten, Halt


class Launcher:
    """The launcher process: gateways, nodes, supervision of node processes, admin, metrics.

    What it does when a child node process dies or falls silent is ``self.supervision``
    (``scripts.launch.node_supervision.NodeSupervision``, created by ``start``); ``watch``
    calls it."""

    def __init__(self, conf: str, cfg: AppConfig, quiet: bool = False,
                 wrap: Any = None, warm: Any = None,
                 ha: Any = None) -> None:
        self.conf = conf
        self.wrap = wrap  #: ``wrap(actor, core)`` for this process's cores (fault tests)
        #: what a hot standby hands over (``NodeRuntime.Warm``), else None
        self.warm = warm
        #: the ``HaRuntime`` of a launch with ``[ha]`` (``scripts.launch.ha.runtime``), else None
        self.ha = ha
        #: a hot standby checked the venues' instruments before it took over: not again
        self.instruments_checked = False
        #: called with the ``NodeRuntime`` after it is built and before it starts (the hot
        #: standby's fence and replication go on the shells before any order can leave)
        self.before_start: Any = None
        self.clock = LiveClock()
        # the run directory, the socket directory, the logs and the run's epoch
        place = prepare_run(cfg, self.clock, quiet)
        self.run_dir, self.sock_dir, self.status_path = (place.run_dir, place.sock_dir,
                                                         place.status_path)
        cfg = self.cfg = place.cfg
        self.stop_event = threading.Event()
        self.stop_reason = ""
        self.started_at = datetime.fromtimestamp(self.clock.now_ns() / 1e9, UTC).isoformat()
        self.state = "starting"
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.gateways: dict[str, Child] = {}
        self.children: dict[str, Child] = {}
        self.budgets: dict[str, RestartBudget] = {}
        self.runtime: NodeRuntime | None = None
        self.cluster: Any = None
        self.admin: Any = None
        self.metrics: Any = None
        self.alerts: Any = None  #: the ``AlertService`` when this node runs the journal
        self.admin_endpoint = ""
        self._status_lock = threading.Lock()
        #: the child nodes' heartbeats (``scripts.launch.beats``)
        self.node_watch = NodeWatch(cfg.supervision.node_heartbeat_timeout_ms * 1_000_000)
        self.beats: BeatReceiver | None = None
        #: restarts and the hung-node policy of the child nodes (``start`` creates it)
        self.supervision: NodeSupervision | None = None

    # --- admin backend ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The status file's content plus the trading state."""
        st = self._status()
        if self.cluster is not None:
            risk = safe(lambda: self.cluster.query("risk", 1.0), {}) or {}
            st["trading"] = {k: risk.get(k) for k in ("state", "reasons", "exposure", "pnl")}
        return st

    def request_shutdown(self, reason: str) -> None:
        """Begin the orderly shutdown (any thread)."""
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()

    def journal(self, what: str, detail: dict[str, Any]) -> None:
        """Journal an admin command and its result."""
        self.cluster.send("journal", Decision("admin", what, journal_detail(detail),
                                              self.clock.now_ns()))

    # --- status file -----------------------------------------------------------------------------

    def _status(self) -> dict[str, Any]:
        assert self.cfg.placement is not None
        nodes: dict[str, Any] = {}
        for n in self.cfg.placement.nodes:
            c = self.children.get(n.name)
            if c is None:
                nodes[n.name] = {"pid": os.getpid(), "state": self.state, "restarts": 0}
            else:
                silent = self.node_watch.silent_ns(n.name, self.clock.mono_ns())
                nodes[n.name] = {"pid": c.pid, "state": c.state, "restarts": c.restarts,
                                 "silent_ms": None if silent is None else silent // 1_000_000}
        return {"pid": os.getpid(), "state": self.state, "started_at": self.started_at,
                # why it stopped (SIGTERM, SIGINT, the admin's shutdown, duration); "" running
                "stop_reason": self.stop_reason,
                "config": str(Path(self.conf).resolve()), "run_dir": str(self.run_dir),
                "sock_dir": self.sock_dir, "admin": self.admin_endpoint, "nodes": nodes,
                "metrics": (f"http://{self.cfg.metrics.host}:{self.metrics.port}/metrics"
                            if self.metrics is not None else ""),
                "gateways": {g: {"pid": c.pid, "state": c.state} for g, c in
                             self.gateways.items()},
                **({"ha": safe(self.ha.status, {})} if self.ha is not None else {})}

    def write_status(self, state: str | None = None) -> None:
        """Write the status file atomically."""
        with self._status_lock:
            if state is not None:
                self.state = state
            tmp = self.status_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._status(), indent=1))
            os.replace(tmp, self.status_path)

    def node_on_hung(self) -> str:
        """What a silent child node gets (``node_supervision.node_on_hung``)."""
        return node_on_hung(self.cfg.supervision)

    # --- start -----------------------------------------------------------------------------------

    def _child_node(self, name: str) -> Child:
        return Child(f"node {name}", cmc_cmd("launch", self.conf, "--child", name, "--sock",
                                             self.sock_dir, "--run-dir", str(self.run_dir)),
                     self.run_dir / f"node-{name}.log")

    def start(self) -> None:
        """Start gateways, kernels, child nodes, this node, admin and metrics."""
        cfg = self.cfg
        assert cfg.placement is not None
        keyed = [v.name for v in cfg.venues if v.curve_server_key]
        if cfg.launch.gateways and keyed and not os.environ.get("CMC_CURVE_SECRET"):
            # a gateway started here would serve plain while the engine speaks CURVE: silence
            raise ConfigError(
                f"$.launch.gateways: venues {keyed} have curve_server_key, but the gateways "
                "this launch starts get no CURVE keys; start those gateways yourself with "
                "--curve-secret/--curve-allow, or set CMC_CURVE_SECRET and CMC_CURVE_ALLOW")
        for name, args in gateway_commands(self.cfg, self.conf, self.sock_dir, self.run_dir):
            child = Child(f"gateway {name}", cmc_cmd(*args), self.run_dir / f"{name}.log")
            self.gateways[name] = child
            child.start()
            child.wait_ready(cfg.launch.ready_timeout_s)
        # a venue whose tick, lot or currency differs from the config stops the start here
        if not self.instruments_checked:
            checked = check_instruments(cfg, self.ctx, self.sock_dir)
            logger.info("instruments of {} checked against the venues", checked)
        logger.info("warmed {} kernels", kernels.warm_up())
        if len(cfg.placement.nodes) > 1:
            # one node key pair per launch, owner-only in the run directory; every node link
            # (PUSH/PULL, control) is CURVE with it (children load it from their --run-dir)
            keys, _ = link_auth.write_link_keys(self.run_dir)
            link_auth.attach(self.ctx, keys)
            self.beats = BeatReceiver(self.ctx, beats_address(self.sock_dir))
        for n in cfg.placement.nodes[1:]:
            child = self._child_node(n.name)
            self.children[n.name] = child
            self.budgets[n.name] = RestartBudget(cfg.supervision.nodes)
            child.start(["--epoch", str(cfg.run.epoch)])
        for name, child in self.children.items():
            child.wait_ready(cfg.launch.ready_timeout_s)
            self.node_watch.started(name, child.pid, self.clock.mono_ns())
        first = cfg.placement.nodes[0].name
        self.runtime = NodeRuntime(cfg, first, self.ctx, self.clock, self.sock_dir, self.run_dir,
                                   wrap=self.wrap, warm=self.warm)
        self.alerts = start_alerts(cfg, self.runtime, self.clock, self.run_dir.name)
        if self.before_start is not None:
            self.before_start(self.runtime)
        self.runtime.start()
        self.cluster = Cluster(cfg, self.runtime, self.ctx, self.sock_dir)
        self.supervision = NodeSupervision(
            config=lambda: self.cfg,  # the current one: an admin ``set`` replaces ``self.cfg``
            clock=self.clock, cluster=self.cluster, children=self.children,
            budgets=self.budgets, node_watch=self.node_watch, beats=self.beats,
            journal=self.journal, write_status=self.write_status)
        if cfg.admin.enabled:
            from transports.admin_server import AdminServer

            core = AdminCore(self, cfg.admin.max_request_bytes, cfg.admin.dedup_entries)
            self.admin_endpoint = fill_address(cfg.admin.endpoint, self.sock_dir)
            self.admin = AdminServer(cfg.admin, core.handle, self.admin_endpoint,
                                     on_alarm=core.alarm)
            self.admin.start()
        if cfg.metrics.enabled:
            from scripts.launch.metrics import Metrics

            self.metrics = Metrics(cfg.metrics, self.cluster, self.stop_event,
                                   status=self._status)
            self.metrics.start()
        self.write_status("running")
        logger.info("launched nodes {} (run {}), admin {}",
                    [n.name for n in cfg.placement.nodes], self.run_dir,
                    self.admin_endpoint or "off")

    # --- watch -----------------------------------------------------------------------------------

    def watch(self) -> None:
        """Until asked to stop: restart node processes that die, by policy."""
        sup = self.supervision
        assert sup is not None, "start() first"
        while not self.stop_event.wait(0.05):
            for name, child in self.children.items():
                code = child.exited()
                if code is None or child.state in ("failed", "stopped"):
                    continue
                self.node_watch.forget(name)
                sup.node_died(name, child, code)
            sup.check_beats()

    def serve(self, length_s: float | None) -> None:
        """Say READY, then watch until asked to stop, or for ``length_s`` seconds
        (``--duration``: the orderly shutdown's reason is ``duration``)."""
        timer: threading.Timer | None = None
        if length_s is not None:
            logger.info("launch stops after {:g} s (--duration)", length_s)
            timer = threading.Timer(length_s, self.request_shutdown, args=("duration",))
            timer.daemon = True
            timer.start()
        try:
            print(f"READY {self.status_path}", flush=True)
            self.watch()
        finally:
            if timer is not None:
                timer.cancel()

    # --- stop ------------------------------------------------------------------------------------

    def _wait(self, pred: Any, timeout_s: float) -> bool:
        deadline = self.clock.mono_ns() + int(timeout_s * 1e9)
        waiter = threading.Event()
        while self.clock.mono_ns() < deadline:
            if safe(pred, False):
                return True
            waiter.wait(0.05)
        return bool(safe(pred, False))

    def shutdown(self) -> None:
        """Flatten per policy, halt, wait for working orders, stop everything."""
        self.write_status("stopping")
        cfg, cl = self.cfg, self.cluster
        logger.info("shutting down ({})", self.stop_reason or "signal")
        topo = topology(cfg)
        strategies = list(topo.strategies)
        if cl is not None:
            if cfg.launch.shutdown == "flatten":
                for s in strategies:
                    safe(lambda s=s: cl.tell(s, Flatten("shutdown")))
                # and risk flattens what no strategy holds: an orphan (the fill of an order
                # the journal never saw before a crash, a previous run's position) must not
                # outlive the engine as a naked leg
                safe(lambda: cl.tell(topo.risk, Flatten("shutdown")))
                retell = [self.clock.mono_ns()]

                def flat() -> bool:
                    snaps = [cl.query(s) for s in strategies]
                    if not all(x["pending"] is None and x["pos_dir"] == 0 for x in snaps):
                        return False
                    tol = sum(abs(x.get("residual_base", 0.0)) for x in snaps) + 1e-6
                    if all(abs(v) <= tol for v in cl.query(topo.risk)["exposure"].values()):
                        return True
                    if self.clock.mono_ns() - retell[0] > 1_000_000_000:  # an IOC missed
                        retell[0] = self.clock.mono_ns()
                        cl.tell(topo.risk, Flatten("shutdown"))
                    return False

                if not self._wait(flat, cfg.launch.flatten_timeout_s):
                    logger.warning("pairs not flat {}s after flatten", cfg.launch.flatten_timeout_s)
            safe(lambda: cl.tell(topo.risk, Halt("shutdown")))
            legs = [a for a in topo.legs if a in cl.node_of]

            def nothing_open() -> bool:
                return all(not cl.query(leg).get("open") for leg in legs)

            if not self._wait(nothing_open, cfg.launch.cancel_timeout_s):
                logger.warning("orders still open {}s after halt", cfg.launch.cancel_timeout_s)
        for closer in (self.admin, self.metrics):
            if closer is not None:
                safe(closer.stop)
        for child in self.children.values():
            child.stop()
        if self.beats is not None:
            self.beats.close()
        if self.runtime is not None:
            self.runtime.stop()  # flushes the journal
        stop_alerts(self.alerts, self.runtime, cfg)
        if cl is not None:
            cl.close()
        link_auth.detach(self.ctx)  # the ZAP thread's socket is in this context
        self.ctx.destroy(linger=0)
        for gw in self.gateways.values():
            gw.stop()
        # the run's summary from its journal: closed now, and the gateways' records written
        from scripts.summary.build import write_run_summary

        write_run_summary(self.run_dir, cfg)
        self.write_status("stopped")
        logger.info("stopped")


def run_launch(conf: str, quiet: bool = False, duration: str | None = None,
               role: str | None = None) -> int:
    """Run a launch until SIGTERM/SIGINT, the admin ``shutdown`` or the end of ``duration``
    (``launch_duration_s``: none by default, a launch runs until stopped); return the exit
    code. With ``[ha]``, ``role`` (else the config's ``ha.role``) picks primary, standby or
    auto (``scripts.launch.ha.launch``)."""
    cfg = load_launch_config(conf)
    length_s = launch_duration_s(duration, cfg)
    if cfg.ha is not None:
        from scripts.launch.ha.launch import run_ha_launch

        return run_ha_launch(conf, cfg, quiet, length_s, role or cfg.ha.role)
    if role is not None:
        raise ConfigError(f"--role {role}: the config has no [ha] section (a hot standby "
                          "needs NATS servers and a lease)")
    launcher = Launcher(conf, cfg, quiet)
    signal.signal(signal.SIGTERM, lambda *_: launcher.request_shutdown("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: launcher.request_shutdown("SIGINT"))
    try:
        launcher.start()
        launcher.serve(length_s)
    finally:
        launcher.shutdown()
    return 0


__all__ = ["Launcher", "launch_duration_s", "load_launch_config", "run_child", "run_launch"]
