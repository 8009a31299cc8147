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
from actors.runtime.node import actor_names, check_placement, fill_address, topology
from actors.runtime.node_runtime import Cluster, CtlServer, NodeRuntime, ctl_address, safe
from actors.runtime.supervisor import EPOCH_STRIDE, with_epoch
from scripts.launch.alerts import check_alerts_config, start_alerts, stop_alerts
from scripts.launch.beats import BeatReceiver, BeatSender, NodeWatch, beats_address
from scripts.launch.process import (
    configure_logging,
    new_run_dir,
    new_sock_dir,
    private_sock_dir,
)
from scripts.launch.procs import Child, RestartBudget, cmc_cmd
from transports.clock import LiveClock
from transports.config.engine import AppConfig, live_params, load_config, with_params
from transports.config.ops import check_ops
from transports.errors import CmcError, ConfigError
from transports.journal.intent_wal import starting_epoch
from transports.wire.messages import Decision, Flatten, Halt


def load_launch_config(conf: str) -> AppConfig:
    """Load and check everything a launch needs before anything starts (errors name fields)."""
    cfg = load_config(conf)
    check_placement(cfg)
    check_ops(cfg.supervision, actor_names(cfg))
    check_alerts_config(cfg)
    if cfg.admin.enabled:
        from transports.admin_server import load_allowlist, load_server_keys

        load_server_keys(cfg.admin.server_secret)
        load_allowlist(cfg.admin.allowlist)
    if cfg.metrics.enabled:
        try:
            import prometheus_client  # noqa: F401
        except ImportError:
            raise ConfigError("$.metrics.enabled: needs the prometheus-client package "
                              "(pip install prometheus-client)") from None
    return cfg


class Launcher:
    """The launcher process: gateways, nodes, supervision of node processes, admin, metrics."""

    def __init__(self, conf: str, cfg: AppConfig, quiet: bool = False,
                 wrap: Any = None, warm: Any = None,
                 ha: Any = None) -> None:
        self.conf = conf
        self.wrap = wrap  #: ``wrap(actor, core)`` for this process's cores (fault tests)
        #: what a hot standby hands over (``NodeRuntime.Warm``), else None
        self.warm = warm
        #: the ``HaRuntime`` of a launch with ``[ha]`` (``scripts.launch.ha``), else None
        self.ha = ha
        #: a hot standby checked the venues' instruments before it took over: not again
        self.instruments_checked = False
        #: called with the ``NodeRuntime`` after it is built and before it starts (the hot
        #: standby's fence and replication go on the shells before any order can leave)
        self.before_start: Any = None
        self.cfg = cfg
        self.clock = LiveClock()
        lc = cfg.launch
        if lc.run_dir:
            self.run_dir = Path(lc.run_dir).resolve()
            self.run_dir.mkdir(parents=True, exist_ok=True)
        else:
            self.run_dir = new_run_dir(cfg.run.out_dir, self.clock)
        # only this user may open the sockets (a configured one is checked and tightened)
        self.sock_dir = private_sock_dir(lc.sock_dir) if lc.sock_dir else new_sock_dir()
        self.status_path = Path(lc.status_file) if lc.status_file else self.run_dir / "status.json"
        configure_logging(self.run_dir, cfg.run.log_level, quiet)
        epoch = starting_epoch(cfg.run.epoch, self.run_dir)
        if epoch != cfg.run.epoch:  # a relaunch into a run directory that already has orders
            logger.info("run {}: epoch {} (its intent WALs used up to {})", self.run_dir, epoch,
                        epoch - 1)
            cfg = self.cfg = with_epoch(cfg, epoch)
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

    # --- start -----------------------------------------------------------------------------------

    def _child_node(self, name: str) -> Child:
        return Child(f"node {name}", cmc_cmd("launch", self.conf, "--child", name, "--sock",
                                             self.sock_dir, "--run-dir", str(self.run_dir)),
                     self.run_dir / f"node-{name}.log")

    def _gateway_commands(self) -> list[tuple[str, list[str]]]:
        """(name, ``cmc`` arguments) of each gateway process ``[launch] gateways`` asks for:
        the simulator once, a ccxt or paper gateway per venue that names one."""
        out: list[tuple[str, list[str]]] = []
        common = ["--sock", self.sock_dir, "--conf", self.conf]
        for gw in self.cfg.launch.gateways:
            if gw == "sim":
                out.append(("sim", ["gateway", "sim", *common, "--truth-out",
                                    str(self.run_dir / "truth.json")]))
            for v in self.cfg.venues:
                if gw == "ccxt" and v.ccxt is not None:
                    out.append((f"ccxt-{v.name}", ["gateway", "ccxt", "--exchange",
                                                   v.ccxt.exchange, "--market", v.ccxt.market,
                                                   "--venue", v.name, *common]))
                elif gw in ("ctp", "ib") and v.gateway == gw:
                    out.append((f"{gw}-{v.name}", ["gateway", gw, "--venue", v.name, *common]))
                elif gw == "paper" and v.paper is not None:
                    out.append((f"paper-{v.name}", ["gateway", "paper", "--venue", v.name,
                                                    *common, "--truth-out",
                                                    str(self.run_dir / f"truth-{v.name}.json")]))
        return out

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
        for name, args in self._gateway_commands():
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
        while not self.stop_event.wait(0.05):
            for name, child in self.children.items():
                code = child.exited()
                if code is None or child.state in ("failed", "stopped"):
                    continue
                self.node_watch.forget(name)
                self._node_died(name, child, code)
            self._check_beats()

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

    def _check_beats(self) -> None:
        """Read the child nodes' heartbeats; act on a node gone silent or answering again."""
        if self.beats is None:
            return
        now = self.clock.mono_ns()
        for node, pid in self.beats.drain():
            self.node_watch.beat(node, pid, now)
        for node, what, silent_ns in self.node_watch.check(now):
            child = self.children.get(node)
            if child is None or child.exited() is not None:
                continue  # an exit is the exit path's to handle
            if what == "hung":
                self._node_hung(node, child, silent_ns)
            elif child.state == "hung":
                child.state = "running"
                logger.warning("node {} answers again after {:.1f} s", node, silent_ns / 1e9)
                self.journal("node_answered", {"node": node, "pid": child.pid})
                self.write_status()

    def node_on_hung(self) -> str:
        """What a silent child node gets: ``supervision.nodes.on_hung``, else the hosts'
        ``supervision.on_hung`` (``replace`` is ``exit`` for a process)."""
        sup = self.cfg.supervision
        policy = sup.nodes.on_hung or sup.on_hung
        return "exit" if policy == "replace" else policy

    def _node_hung(self, name: str, child: Child, silent_ns: int) -> None:
        policy = self.node_on_hung()
        logger.error("node {} (pid {}) silent for {:.1f} s: hung; on_hung {}", name, child.pid,
                     silent_ns / 1e9, policy)
        child.state = "hung"
        self.journal("node_hung", {"node": name, "pid": child.pid,
                                   "silent_ms": silent_ns // 1_000_000, "on_hung": policy})
        self.write_status()
        if policy == "halt":
            reason = f"launcher: node {name} hung (silent {silent_ns // 1_000_000} ms)"
            safe(lambda: self.cluster.send(topology(self.cfg).risk, Halt(reason)))
        elif policy == "exit" and child.proc is not None:
            # SIGKILL: a stopped process cannot act on SIGTERM; the exit path restarts it
            child.proc.kill()

    def _node_died(self, name: str, child: Child, code: int) -> None:
        logger.error("node {} exited with code {}", name, code)
        self.journal("node_exit", {"node": name, "code": code})
        child.stop(1.0)
        if not self.budgets[name].allow(self.clock.mono_ns()):
            child.state = "failed"
            reason = f"launcher: node {name} died (exit {code}) past its restart intensity"
            safe(lambda: self.cluster.send(topology(self.cfg).risk, Halt(reason)))
            self.write_status()
            logger.critical(reason)
            return
        child.restarts += 1
        epoch = self.cfg.run.epoch + child.restarts * EPOCH_STRIDE
        params = live_params(self.cfg)  # what `cmc admin set` changed so far
        child.start(["--epoch", str(epoch), "--params", json.dumps(params)])
        try:
            child.wait_ready(self.cfg.launch.ready_timeout_s)
        except CmcError as exc:
            logger.error("restart of node {} failed: {}", name, exc)
            return  # seen as dead again on the next pass
        self.node_watch.started(name, child.pid, self.clock.mono_ns())
        self._set_since(name, params)
        self.journal("node_restart", {"node": name, "epoch": epoch, "restarts": child.restarts})
        self.write_status()

    def _set_since(self, node: str, params: dict[str, dict[str, Any]]) -> None:
        """Give ``node`` what was set after it was started with ``params`` (an admin ``set``
        that came while it was starting could not reach it)."""
        for section, values in live_params(self.cfg).items():
            changed = {k: v for k, v in values.items() if params[section].get(k) != v}
            if changed:
                safe(lambda s=section, c=changed: self.cluster.on_node(
                    node, "set_params", {"section": s, "values": c}))

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


def launch_duration_s(duration: str | None, cfg: AppConfig) -> float | None:
    """The launch's length from ``cmc launch --duration``: None (run until stopped), the
    config's ``[run] duration_s`` for ``config``, else a positive number of seconds."""
    if duration is None:
        return None
    if duration.strip().lower() == "config":
        return float(cfg.run.duration_s)
    try:
        seconds = float(duration)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"--duration: {duration!r} is neither a positive number of seconds "
                          "nor `config` ([run] duration_s)")
    return seconds


def run_launch(conf: str, quiet: bool = False, duration: str | None = None,
               role: str | None = None) -> int:
    """Run a launch until SIGTERM/SIGINT, the admin ``shutdown`` or the end of ``duration``
    (``launch_duration_s``: none by default, a launch runs until stopped); return the exit
    code. With ``[ha]``, ``role`` (else the config's ``ha.role``) picks primary, standby or
    auto (``scripts.launch.ha_launch``)."""
    cfg = load_launch_config(conf)
    length_s = launch_duration_s(duration, cfg)
    if cfg.ha is not None:
        from scripts.launch.ha_launch import run_ha_launch

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


__all__ = ["Launcher", "launch_duration_s", "load_launch_config", "run_child", "run_launch"]
