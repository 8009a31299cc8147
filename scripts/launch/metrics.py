"""Optional Prometheus endpoint of a launch (``[metrics] enabled = true``).

A thread refreshes the gauges from the actors' snapshots every ``interval_ms`` (through the same
``Cluster`` the admin socket uses, so the hot path pays nothing) and ``prometheus_client`` serves
them on ``http://host:port/metrics``. Totals the engine already counts (fills, rejects) are
exported as gauges named ``*_total`` semantics aside: they restart from zero with an actor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from loguru import logger

from actors.admin import safe
from transports.config.ops import MetricsConfig

_STATES = ("ACTIVE", "REDUCING", "HALTED")
#: a node process's states in the launcher's status (``hung``: silent past its heartbeat timeout)
_NODE_STATES = ("starting", "running", "hung", "failed", "stopped")


class Metrics:
    """Gauges refreshed from snapshots, served over HTTP."""

    def __init__(self, cfg: MetricsConfig, cluster: Any, stop: threading.Event,
                 status: Callable[[], dict[str, Any]] | None = None) -> None:
        from prometheus_client import CollectorRegistry, Gauge, start_http_server

        self.cfg = cfg
        self.status = status  #: the launcher's status (its node processes' states)
        self.cluster = cluster
        self.stop_event = stop
        r = self.registry = CollectorRegistry()
        self.fills = Gauge("cmc_fills", "Fills seen by the RiskSupervisor", registry=r)
        self.leg = Gauge("cmc_leg_orders", "Leg executor counters", ["leg", "counter"],
                         registry=r)
        self.exposure = Gauge("cmc_net_exposure_base", "Net exposure per underlying (base units)",
                              ["underlying"], registry=r)
        self.pnl = Gauge("cmc_pnl", "PnL in the home currency", ["kind"], registry=r)
        self.state = Gauge("cmc_trading_state", "1 for the current trading state", ["state"],
                           registry=r)
        self.feed = Gauge("cmc_feed_synced", "1 if the venue's feed is synced", ["venue"],
                          registry=r)
        self.latency = Gauge("cmc_latency_us", "Latency per hop (µs)", ["node", "hop", "q"],
                             registry=r)
        self.combos = Gauge("cmc_combos", "ComboExecutor counters", ["counter"], registry=r)
        self.node_state = Gauge("cmc_node_state", "1 for a node process's current state",
                                ["node", "state"], registry=r)
        self.node_silent = Gauge("cmc_node_silent_ms", "Since a child node's last heartbeat (ms)",
                                 ["node"], registry=r)
        self.server, self._http = start_http_server(cfg.port, cfg.host, registry=r)
        self.port = self.server.server_port
        self._thread = threading.Thread(target=self._run, name="metrics", daemon=True)

    def start(self) -> None:
        """Start refreshing."""
        self._thread.start()
        logger.info("metrics on http://{}:{}/metrics", self.cfg.host, self.port)

    def stop(self) -> None:
        """Stop refreshing and serving."""
        self.server.shutdown()
        self._thread.join(2)

    def _run(self) -> None:
        while not self.stop_event.wait(self.cfg.interval_ms / 1000):
            safe(self.refresh)

    def refresh(self) -> None:
        """Read the snapshots once and set every gauge."""
        self.refresh_nodes()
        cl = self.cluster
        risk = safe(lambda: cl.query("risk", 1.0), {}) or {}
        if risk:
            self.fills.set(risk.get("fills", 0))
            for u, v in (risk.get("exposure") or {}).items():
                self.exposure.labels(u).set(v)
            for k, v in (risk.get("pnl") or {}).items():
                if isinstance(v, int | float):
                    self.pnl.labels(k).set(v)
            for s in _STATES:
                self.state.labels(s).set(1 if risk.get("state") == s else 0)
            for venue, f in (risk.get("feeds") or {}).items():
                self.feed.labels(venue).set(1 if f.get("state") == "SYNCED" else 0)
        for actor in cl.actors():
            if actor.startswith("leg."):
                snap = safe(lambda a=actor: cl.query(a, 1.0), {}) or {}
                for k, v in (snap.get("counters") or {}).items():
                    if isinstance(v, int) and k in ("sent", "fills", "rejects", "cancels",
                                                    "unknown_outcomes", "bad_frames"):
                        self.leg.labels(actor, k).set(v)
        combo = safe(lambda: cl.query("combo", 1.0), {}) or {}
        for k, v in (combo.get("counters") or {}).items():
            if isinstance(v, int):
                self.combos.labels(k).set(v)
        for node in cl.nodes:
            lat = safe(lambda n=node: cl.on_node(n, "latency", {}, 1.0), {}) or {}
            for hop, qs in lat.items():
                if isinstance(qs, dict):
                    for q in ("p50", "p99"):
                        if isinstance(qs.get(q), int | float):
                            self.latency.labels(node, hop, q).set(qs[q])

    def refresh_nodes(self) -> None:
        """The node processes' states from the launcher's status (no actor is asked: a hung
        node cannot answer, and its state must still show)."""
        if self.status is None:
            return
        nodes = (safe(self.status, {}) or {}).get("nodes") or {}
        for node, n in nodes.items():
            for st in _NODE_STATES:
                self.node_state.labels(node, st).set(1 if n.get("state") == st else 0)
            if isinstance(n.get("silent_ms"), int):
                self.node_silent.labels(node).set(n["silent_ms"])


__all__ = ["Metrics"]
