"""``[alerts]`` in a launch: the node that hosts the journal sends the alerts.

Every event an alert is about reaches the journal (``transports.alerts.rules``), wherever it
happened: risk's state, the feeds' health, the executors' alarms, the supervisor's restarts and
the launcher's own node restarts (journaled through the cluster). So the process whose node
runs the ``journal`` actor (the launcher or a child node) taps its journal writer
(``JournalWriter.on_batch``; the writer outlives a restarted journal host, so the tap does too)
with an ``AlertService`` started before the node's hosts and stopped after them (the records
of the shutdown, a final HALTED among them, are still sent).
"""

from __future__ import annotations

from typing import Any

from actors.runtime.node import topology
from transports.alerts.sender import AlertService
from transports.clock import Clock, LiveClock
from transports.config.alerts import AlertsConfig, check_alerts
from transports.config.engine import AppConfig


def alerts_section(cfg: AppConfig) -> AlertsConfig:
    """``cfg.alerts``."""
    return cfg.alerts


def check_alerts_config(cfg: AppConfig) -> None:
    """Refuse ``[alerts]`` before anything starts: the section's checks and, when enabled, its
    secrets (a variable not set, a file others may read) -- a ``ConfigError`` naming the field."""
    section = alerts_section(cfg)
    check_alerts(section)
    if section.enabled:
        AlertService(section, LiveClock())  # resolves the secrets; starts nothing


def start_alerts(cfg: AppConfig, runtime: Any, clock: Clock, label: str) -> AlertService | None:
    """Tap the journal writer of ``runtime``'s node with a started ``AlertService`` when alerts
    are enabled and the journal runs here (call before ``runtime.start()``); else None."""
    section = alerts_section(cfg)
    if not section.enabled:
        return None
    shell = runtime.node.shells.get(topology(cfg).journal)
    if shell is None:
        return None  # the node that runs the journal sends them
    service = AlertService(section, clock, label)
    service.start()
    shell.writer.on_batch = service.on_batch
    return service


def stop_alerts(service: AlertService | None, runtime: Any, cfg: AppConfig) -> None:
    """Untap the writer and send what is left (call after ``runtime.stop()``)."""
    if service is None:
        return
    shell = runtime.node.shells.get(topology(cfg).journal) if runtime is not None else None
    if shell is not None:
        shell.writer.on_batch = None
    service.stop()


__all__ = ["alerts_section", "check_alerts_config", "start_alerts", "stop_alerts"]
