"""``cmc launch CONF`` with ``[ha]``: a primary, or a hot standby that takes over.

- **primary** (``--role primary``): wait until the lease is ours (an engine that still holds it
  keeps it), start a fresh run marked in the stream, trade; every order and cancel carries the
  lease's revision as its fencing ``epoch``; intents replicated before they leave.
- **standby** (``--role standby``): follow the primary's run and replay it live
  (``scripts.launch.ha.standby``); when the lease expires and is ours, start the node on the
  replicated run as a restarted node starts, with the warm cores, and trade as the primary.
- **auto**: primary if the lease is free within two TTLs, else standby.

A primary that loses the lease is replaced at once by a standby (``on_deposed = "standby"``) or
exits with ``EXIT_DEPOSED`` (``"exit"``) -- ``scripts.launch.ha.runtime``. Its take-over numbers are
journaled as ``Decision("ha", "failover", ...)`` (an alert) and kept in the status file:
``takeover_ms`` runs from the old primary's last lease renewal (its own wall clock, in the
lease) to the moment every trading leg executor was reconciled and open for orders (the first
possible order).
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import msgspec
from loguru import logger

from actors.runtime.node import fill_address
from actors.runtime.node_runtime import Warm
from scripts.launch.ha.runtime import EXIT_DEPOSED, HaRuntime, replace_with_standby
from scripts.launch.ha.standby import Standby, StandbyStopped
from scripts.launch.ha.standby_admin import start_standby_admin
from scripts.launch.launcher import Launcher
from scripts.launch.process import (
    configure_logging,
    new_run_dir,
    new_sock_dir,
    private_sock_dir,
)
from transports.clock import LiveClock, sleep_s
from transports.config.engine import AppConfig
from transports.errors import CmcError
from transports.ha.loop import HaError
from transports.wire.messages import Decision

READY_TIMEOUT_S = 5.0  #: bound on the executors' reconciliation after a take-over
CONNECT_RETRY_S = 0.5  #: between attempts to reach NATS


def _with_run_dir(cfg: AppConfig, run_dir: Path) -> AppConfig:
    return msgspec.structs.replace(
        cfg, launch=msgspec.structs.replace(cfg.launch, run_dir=str(run_dir)))


def _status_path(cfg: AppConfig, run_dir: Path) -> Path:
    return Path(cfg.launch.status_file) if cfg.launch.status_file else run_dir / "status.json"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _legs_open(launcher: Launcher, timeout_s: float) -> bool:
    """Wait until every trading leg executor is reconciled and open (gate ''), bounded."""
    from actors.runtime.node import topology

    cl, clock = launcher.cluster, launcher.clock
    legs = [a for a in topology(launcher.cfg).legs if a in cl.node_of]
    deadline = clock.mono_ns() + int(timeout_s * 1e9)
    while clock.mono_ns() < deadline:
        try:
            if all(cl.query(leg, 1.0).get("gate", "") == "" for leg in legs):
                return True
        except CmcError:
            pass
        sleep_s(0.001)  # a poll of the executors' state: nothing to wait on instead
    return False


def _connect(cfg: AppConfig, role: str, clock: LiveClock, run_id: str,
             stop: threading.Event) -> HaRuntime | None:
    """Connect to NATS, retrying until it answers (a standby that starts while NATS is away,
    a deposed primary replaced during a partition) or ``stop`` (None)."""
    while True:
        try:
            return HaRuntime(cfg, role, clock, run_id).start()
        except HaError as exc:
            logger.warning("ha: NATS not reachable ({}); retrying", exc)
        if stop.wait(CONNECT_RETRY_S):
            return None


def _standby_phase(conf: str, cfg: AppConfig, ha: HaRuntime, run_dir: Path, clock: LiveClock,
                   stop: threading.Event, status_path: Path, reason: dict[str, str]
                   ) -> tuple[Standby, Warm, AppConfig, dict[str, int]] | None:
    """Follow the primary until the lease is ours; return the standby, what it hands the node,
    the config (with the standby's socket directory) and the take-over's first timings; None
    when stopped first."""
    import zmq

    from actors.runtime.instruments import check_instruments

    assert cfg.placement is not None
    # a venue whose tick, lot or currency differs from the config stops the standby here,
    # not at its take-over
    ctx = zmq.Context()
    try:
        check_instruments(cfg, ctx, str(run_dir))
    finally:
        ctx.destroy(linger=0)
    standby = Standby(cfg, ha, run_dir, clock, cfg.placement.nodes[0].name)
    lc = cfg.launch
    sock_dir = private_sock_dir(lc.sock_dir) if lc.sock_dir else new_sock_dir()
    cfg = msgspec.structs.replace(cfg, launch=msgspec.structs.replace(lc, sock_dir=sock_dir))
    admin_endpoint = fill_address(cfg.admin.endpoint, sock_dir) if cfg.admin.enabled else ""

    def status() -> dict[str, Any]:
        return {"pid": os.getpid(), "state": "standby", "run_dir": str(run_dir),
                "config": str(Path(conf).resolve()), "admin": admin_endpoint,
                "sock_dir": sock_dir, "ha": {**ha.status(), **standby.lag()}}

    admin = start_standby_admin(cfg, admin_endpoint, status) if admin_endpoint else None
    try:
        _write_json(status_path, status())
        standby.start(stop)
        print(f"STANDBY {status_path}", flush=True)
        took = standby.wait(stop, lambda: _write_json(status_path, status()))
    except StandbyStopped:
        took = False
    if admin is not None:
        admin.stop()  # the node that takes over serves the same endpoint
    if not took:
        standby.stop()
        _write_json(status_path, {"pid": os.getpid(), "state": "stopped",
                                  "stop_reason": reason.get("why", ""),
                                  "run_dir": str(run_dir)})
        return None
    timing = {"acquired_ns": clock.now_ns(), "last_renewal_ns": standby.last_renewal_ns}
    warm = standby.take_over()
    timing["drained_ns"] = clock.now_ns()
    return standby, warm, cfg, timing


def _takeover_detail(timing: dict[str, int]) -> dict[str, float]:
    """The take-over's durations (ms) from its timestamps (ns)."""
    def ms(a: str, b: str) -> float:
        return round((timing[b] - timing[a]) / 1e6, 3)

    return {"takeover_ms": ms("last_renewal_ns", "ready_ns"),
            "acquire_ms": ms("last_renewal_ns", "acquired_ns"),
            "drain_ms": ms("acquired_ns", "drained_ns"),
            "node_start_ms": ms("drained_ns", "started_ns"),
            "legs_open_ms": ms("started_ns", "ready_ns"),
            "start_ms": ms("drained_ns", "ready_ns")}


def _lease_first(ha: HaRuntime, role: str, ttl_ms: int, stop: threading.Event) -> bool:
    """True when this engine starts a fresh run as primary: the lease is ours (``primary``
    waits for it; ``auto`` gives up after two TTLs and follows as a standby)."""
    if role not in ("primary", "auto"):
        return False
    left_s = 2 * ttl_ms / 1000
    while not stop.is_set():
        if ha.lease.wait_holding(0.05):
            return True
        left_s -= 0.05
        if role == "auto" and left_s <= 0:
            return False
    return False


def run_ha_launch(conf: str, cfg: AppConfig, quiet: bool, length_s: float | None,
                  role: str) -> int:
    """Run a launch with ``[ha]`` in ``role``; return the exit code."""
    import kernels

    assert cfg.ha is not None and cfg.placement is not None
    clock = LiveClock()
    lc = cfg.launch
    if lc.run_dir and role == "primary":
        run_dir = Path(lc.run_dir).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
    else:  # a standby always follows into a directory of its own
        run_dir = new_run_dir(str(Path(lc.run_dir).parent) if lc.run_dir else cfg.run.out_dir,
                              clock)
    configure_logging(run_dir, cfg.run.log_level, quiet)
    status_path = _status_path(cfg, run_dir)
    stop = threading.Event()
    reason: dict[str, str] = {}
    launcher: Launcher | None = None

    def on_signal(signum: int, _frame: Any) -> None:
        reason["why"] = signal.Signals(signum).name
        stop.set()
        if launcher is not None:
            launcher.request_shutdown(reason["why"])

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # compiled (or loaded from numba's cache) before the lease is ours: a holder whose lease
    # thread waits on the GIL for hundreds of ms misses its renewals and deposes itself
    kernels.warm_up()
    ha = _connect(cfg, role, clock, run_dir.name, stop)
    if ha is None:
        return 0
    logger.info("ha: {} as {} (lease {}/{}, TTL {} ms)", ha.holder, role, cfg.ha.bucket,
                cfg.ha.key, cfg.ha.lease_ttl_ms)
    fresh = _lease_first(ha, role, cfg.ha.lease_ttl_ms, stop)
    followed = None
    if not fresh and not stop.is_set():
        followed = _standby_phase(conf, cfg, ha, run_dir, clock, stop, status_path, reason)
        if followed is None:
            ha.stop(release=False)
            return 0
    if stop.is_set():
        ha.stop()
        return 0
    standby, warm, timing = None, None, {}
    if followed is not None:
        standby, warm, cfg, timing = followed
    launcher = Launcher(conf, _with_run_dir(cfg, run_dir), quiet, warm=warm, ha=ha)
    launcher.instruments_checked = standby is not None
    next_seq = standby.last_seq + 1 if standby is not None else 1

    def on_lost(why: str) -> None:
        if ha.ha_cfg.on_deposed == "standby":
            replace_with_standby(why)
        logger.critical("deposed ({}): exiting {} without touching the venues", why,
                        EXIT_DEPOSED)
        os._exit(EXIT_DEPOSED)

    def before_start(runtime: Any) -> None:
        ha.attach(runtime.node.shells)
        try:
            ha.become_primary(next_seq, fresh, run_dir.name, msgspec.json.encode(runtime.cfg))
        except HaError as exc:  # lost while starting: nothing was sent yet
            on_lost(f"lease lost while starting: {exc}")

    launcher.before_start = before_start
    ha.watch(on_lost)  # from here on a lost lease replaces this process at once
    try:
        launcher.start()
        timing["started_ns"] = clock.now_ns()
        ready = _legs_open(launcher, READY_TIMEOUT_S)
        timing["ready_ns"] = clock.now_ns()
        detail: dict[str, Any] = {"role": "took_over" if standby is not None else "primary",
                                  "epoch": ha.lease.epoch, "run_epoch": launcher.cfg.run.epoch,
                                  "legs_open": ready, **timing}
        if standby is not None and timing.get("last_renewal_ns"):
            detail.update(_takeover_detail(timing))
            logger.warning("ha: took over as primary, epoch {}: {} ms from the last renewal "
                           "(lease {} ms, drain {} ms, node start {} ms, legs open {} ms)",
                           detail["epoch"], detail["takeover_ms"], detail["acquire_ms"],
                           detail["drain_ms"], detail["node_start_ms"], detail["legs_open_ms"])
        ha.last_event = detail
        # a take-over is journaled as ``failover`` (an alert, ``transports.alerts.rules``)
        launcher.cluster.send("journal", Decision(
            "ha", "failover" if standby is not None else "primary",
            json.dumps(detail, sort_keys=True), clock.now_ns()))
        launcher.write_status()
        launcher.serve(length_s)
    finally:
        if not ha.deposed:
            launcher.shutdown()
            ha.stop(release=True)
    return 0


__all__ = ["run_ha_launch"]
