"""What a launch settles before any process starts: the config's checks, the run and socket
directories, the logs, the run's epoch, the gateways' command lines, the launch's length.

Separate from the launcher (``scripts.launch.launcher``, which re-exports the public names)
because none of it supervises anything: it turns the config and the command line into places
and arguments, once, and a hot standby (``scripts.launch.ha.launch``) or a test can use it
without a running launch.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from loguru import logger

from actors.runtime.node import actor_names, check_placement
from actors.runtime.supervisor import with_epoch
from scripts.launch.alerts import check_alerts_config
from scripts.launch.process import (
    configure_logging,
    new_run_dir,
    new_sock_dir,
    private_sock_dir,
)
from transports.clock import Clock
from transports.config.engine import AppConfig, load_config
from transports.config.ops import check_ops
from transports.errors import ConfigError
from transports.journal.intent_wal import starting_epoch


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


class RunPlace(NamedTuple):
    """Where a launch runs: its directories, its status file, and its config with the epoch
    the run directory calls for."""

    run_dir: Path
    sock_dir: str
    status_path: Path
    cfg: AppConfig


def prepare_run(cfg: AppConfig, clock: Clock, quiet: bool = False) -> RunPlace:
    """Make the run directory (``[launch] run_dir``, else a new one under ``[run] out_dir``) and
    the private socket directory, configure the logs into the run directory, and move the
    config's epoch above any its intent WALs already used (a relaunch into a run directory that
    has orders)."""
    lc = cfg.launch
    if lc.run_dir:
        run_dir = Path(lc.run_dir).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        run_dir = new_run_dir(cfg.run.out_dir, clock)
    # only this user may open the sockets (a configured one is checked and tightened)
    sock_dir = private_sock_dir(lc.sock_dir) if lc.sock_dir else new_sock_dir()
    status_path = Path(lc.status_file) if lc.status_file else run_dir / "status.json"
    configure_logging(run_dir, cfg.run.log_level, quiet)
    epoch = starting_epoch(cfg.run.epoch, run_dir)
    if epoch != cfg.run.epoch:  # a relaunch into a run directory that already has orders
        logger.info("run {}: epoch {} (its intent WALs used up to {})", run_dir, epoch,
                    epoch - 1)
        cfg = with_epoch(cfg, epoch)
    return RunPlace(run_dir, sock_dir, status_path, cfg)


def gateway_commands(cfg: AppConfig, conf: str, sock_dir: str, run_dir: Path
                     ) -> list[tuple[str, list[str]]]:
    """(name, ``cmc`` arguments) of each gateway process ``[launch] gateways`` asks for:
    the simulator once, a ccxt or paper gateway per venue that names one."""
    out: list[tuple[str, list[str]]] = []
    common = ["--sock", sock_dir, "--conf", conf]
    for gw in cfg.launch.gateways:
        if gw == "sim":
            out.append(("sim", ["gateway", "sim", *common, "--truth-out",
                                str(run_dir / "truth.json")]))
        for v in cfg.venues:
            if gw == "ccxt" and v.ccxt is not None:
                out.append((f"ccxt-{v.name}", ["gateway", "ccxt", "--exchange",
                                               v.ccxt.exchange, "--market", v.ccxt.market,
                                               "--venue", v.name, *common]))
            elif gw in ("ctp", "ib") and v.gateway == gw:
                out.append((f"{gw}-{v.name}", ["gateway", gw, "--venue", v.name, *common]))
            elif gw == "paper" and v.paper is not None:
                out.append((f"paper-{v.name}", ["gateway", "paper", "--venue", v.name,
                                                *common, "--truth-out",
                                                str(run_dir / f"truth-{v.name}.json")]))
    return out


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


__all__ = ["RunPlace", "gateway_commands", "launch_duration_s", "load_launch_config",
           "prepare_run"]
