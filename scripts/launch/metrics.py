"""Optional Prometheus endpoint of a launch (``[metrics] enabled = true``).

A thread refreshes the gauges from the actors' snapshots every ``interval_ms`` (through the same
``Cluster`` the admin socket uses, so the hot path pays nothing) and ``prometheus_client`` serves
them on ``http://host:port/metrics``.

Besides the gauges, ``PromCollector`` exports what a Prometheus user expects:

- **counters** (``*_total``): orders, fills, rejects per leg; bad frames per actor and source;
  denials and refusals per actor and reason; alarms; actor and node restarts. An actor's count
  restarts from 0 with the actor; the exported total does not (a drop is taken as a restart and
  the new count is added), so ``rate()`` and ``increase()`` hold across restarts.
- **histograms** ``cmc_latency_seconds{hop}``: the nodes' HDR histograms (``transports.hdr``)
  merged per hop, exported as fixed buckets (``LATENCY_BUCKETS_S``) with ``_sum``/``_count``;
  they add up across launches and hosts as any Prometheus histogram does. A negative sample (a
  hop between two clocks) is counted in every bucket.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from loguru import logger

from actors.admin import safe
from transports.config.ops import MetricsConfig
from transports.latency import LatencyRecorder

_STATES = ("ACTIVE", "REDUCING", "HALTED")
#: a node process's states in the launcher's status (``hung``: silent past its heartbeat timeout)
_NODE_STATES = ("starting", "running", "hung", "failed", "stopped")
#: bucket bounds of ``cmc_latency_seconds`` (s): 1 µs .. 60 s, the HDR histograms' range
LATENCY_BUCKETS_S = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
                     5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)
#: leg executor counters exported as counters: name -> (metric, help)
_LEG_COUNTERS = {"sent": "orders", "fills": "fills", "rejects": "rejects"}
#: counts that are refusals: (actor prefix, counter) -> reason
_REFUSALS = {("combo", "refused_intents"): "combo_refused",
             ("leg.", "intent_failed"): "intent_not_durable",
             ("leg.", "throttled"): "throttled"}


class _Totals:
    """Monotonic totals from counts that restart at 0 with their actor (a drop is a restart:
    the new count is added to what was counted before)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, ...], int] = {}
        self.totals: dict[tuple[str, ...], int] = {}

    def see(self, key: tuple[str, ...], value: int) -> None:
        last = self._last.get(key)
        step = value - last if last is not None and value >= last else value
        self.totals[key] = self.totals.get(key, 0) + step
        self._last[key] = value

    def family(self, name: str) -> dict[tuple[str, ...], int]:
        return {k[1:]: v for k, v in self.totals.items() if k[0] == name}


class PromCollector:
    """Counters and latency histograms from the last refresh (``Metrics.refresh``); a scrape
    reads what the refresh thread left, it never asks an actor."""

    #: metric -> (help, label names)
    COUNTERS = {
        "cmc_orders": ("Orders sent to the venue per leg", ("leg",)),
        "cmc_fills": ("Fills per leg", ("leg",)),
        "cmc_rejects": ("Orders the venue rejected per leg", ("leg",)),
        "cmc_bad_frames": ("Undecodable or rejected venue frames", ("actor", "source")),
        "cmc_denials": ("Orders denied by a pre-trade or risk check, by reason",
                        ("actor", "reason")),
        "cmc_refusals": ("Intents or orders refused before the venue, by reason",
                         ("actor", "reason")),
        "cmc_alarms": ("Alarms raised", ("actor",)),
        "cmc_restarts": ("Actor restarts by the supervisor", ("actor",)),
        "cmc_node_restarts": ("Node process restarts by the launcher", ("node",)),
    }

    def __init__(self) -> None:
        self.totals = _Totals()
        self.latency = LatencyRecorder(capacity=1)  #: the nodes' histograms, merged

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        for name, (text, labels) in self.COUNTERS.items():
            fam = CounterMetricFamily(name, text, labels=list(labels))
            for key, v in sorted(self.totals.family(name).items()):
                fam.add_metric(list(key), v)
            yield fam
        lat = self.latency
        fam_h = HistogramMetricFamily("cmc_latency_seconds", "Latency per hop (all nodes)",
                                      labels=["hop"])
        for hop in sorted(lat.hops()):
            h = lat.hist(hop)
            cum = h.bucket_counts([round(b * 1e9) for b in LATENCY_BUCKETS_S])
            buckets = [(f"{b:g}", c) for b, c in zip(LATENCY_BUCKETS_S, cum, strict=True)]
            buckets.append(("+Inf", h.count))
            fam_h.add_metric([hop], buckets, h.sum_ns() / 1e9)
        yield fam_h


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
        #: the hot standby (``[ha]``): this engine's role, its lease epoch and replication lag
        self.ha_primary = Gauge("cmc_ha_primary", "1 while this engine holds the lease",
                                registry=r)
        self.ha_epoch = Gauge("cmc_ha_epoch", "The lease's epoch (fencing token) held",
                              registry=r)
        self.ha_lag = Gauge("cmc_ha_replication_lag_records",
                            "Journal records queued for the standby or not yet acknowledged",
                            registry=r)
        self.ha_remaining = Gauge("cmc_ha_lease_remaining_ms",
                                  "Until the lease's local deadline (ms)", registry=r)
        self.prom = PromCollector()
        r.register(self.prom)  # type: ignore[arg-type]
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
        see = self.prom.totals.see
        for u, v in (risk.get("denials") or {}).items():
            see(("cmc_denials", "risk", str(u)), int(v))
        for actor in cl.actors():
            if actor.startswith(("leg.", "feed.")):
                snap = safe(lambda a=actor: cl.query(a, 1.0), {}) or {}
                self._actor_counters(actor, snap)
        combo = safe(lambda: cl.query("combo", 1.0), {}) or {}
        for k, v in (combo.get("counters") or {}).items():
            if isinstance(v, int):
                self.combos.labels(k).set(v)
        self._actor_counters("combo", combo)
        merged = LatencyRecorder(capacity=1)
        for node in cl.nodes:
            lat = safe(lambda n=node: cl.on_node(n, "latency", {}, 1.0), {}) or {}
            for hop, qs in lat.items():
                if isinstance(qs, dict):
                    for q in ("p50", "p99"):
                        if isinstance(qs.get(q), int | float):
                            self.latency.labels(node, hop, q).set(qs[q])
            hdr = safe(lambda n=node: cl.on_node(n, "latency_hdr", {}, 1.0), {}) or {}
            merged.merge_encoded(hdr)
            sup = safe(lambda n=node: cl.on_node(n, "supervisor", {}, 1.0), {}) or {}
            for actor, st in (sup.get("actors") or {}).items():
                if isinstance(st.get("restarts"), int):
                    see(("cmc_restarts", actor), st["restarts"])
        self.prom.latency = merged  # one assignment: a scrape sees the old or the new one

    def _actor_counters(self, actor: str, snap: dict[str, Any]) -> None:
        """An actor's snapshot counters into the exported totals (and the leg gauges)."""
        see = self.prom.totals.see
        counters = snap.get("counters") or {}
        if actor.startswith("leg."):
            for k, v in counters.items():
                if isinstance(v, int) and k in ("sent", "fills", "rejects", "cancels",
                                                "unknown_outcomes", "bad_frames"):
                    self.leg.labels(actor, k).set(v)
            for k, name in _LEG_COUNTERS.items():
                if isinstance(counters.get(k), int):
                    see((f"cmc_{name}", actor), counters[k])
            for reason, v in (counters.get("denied") or {}).items():
                see(("cmc_denials", actor, str(reason)), int(v))
        if isinstance(counters.get("bad_frames"), int):
            see(("cmc_bad_frames", actor, "oe"), counters["bad_frames"])
        if isinstance(snap.get("rejected_frames"), int):  # a Feed's undecodable md frames
            see(("cmc_bad_frames", actor, "md"), snap["rejected_frames"])
        if isinstance(counters.get("alarms"), int):
            see(("cmc_alarms", actor), counters["alarms"])
        for (prefix, k), reason in _REFUSALS.items():
            if actor.startswith(prefix) and isinstance(counters.get(k), int):
                see(("cmc_refusals", actor, reason), counters[k])

    def refresh_nodes(self) -> None:
        """The node processes' states from the launcher's status (no actor is asked: a hung
        node cannot answer, and its state must still show)."""
        if self.status is None:
            return
        status = safe(self.status, {}) or {}
        ha = status.get("ha")
        if isinstance(ha, dict):
            self.ha_primary.set(1 if ha.get("holding") else 0)
            self.ha_epoch.set(ha.get("epoch") or 0)
            self.ha_lag.set(ha.get("lag_records") or 0)
            self.ha_remaining.set(ha.get("remaining_ms") or 0)
        nodes = status.get("nodes") or {}
        for node, n in nodes.items():
            for st in _NODE_STATES:
                self.node_state.labels(node, st).set(1 if n.get("state") == st else 0)
            if isinstance(n.get("silent_ms"), int):
                self.node_silent.labels(node).set(n["silent_ms"])
            if isinstance(n.get("restarts"), int):
                self.prom.totals.see(("cmc_node_restarts", node), n["restarts"])


__all__ = ["LATENCY_BUCKETS_S", "Metrics", "PromCollector"]
