"""``/metrics`` as a Prometheus user reads it: a short real launch on two nodes (the launcher in
this process, the trading node a child process, the simulator as the gateway), scraped over
HTTP and parsed with ``prometheus_client``'s own parser: counters are counters, latencies are
histograms merged from the nodes' HDR histograms."""

from __future__ import annotations

import json
import re
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.launch.launcher import Launcher
from scripts.launch.metrics import LATENCY_BUCKETS_S, _Totals
from tests.scripts.launch.test_launch_helpers import TWO_NODES, launched, write_conf
from tests.support.helpers import eventually

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    # the launch stops its own actors
    yield


@pytest.fixture(scope="module")
def launch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    tmp = tmp_path_factory.mktemp("prom")
    sock_dir = tempfile.mkdtemp(prefix="cmcp-")
    extra = "[metrics]\nenabled = true\nport = 0\ninterval_ms = 100\n"
    conf = write_conf(tmp, sock_dir, TWO_NODES, gateways=True, admin=False, extra=extra,
                      flatten_timeout_s=2.0)
    with launched(conf) as launcher:
        yield launcher


def _scrape(launcher: Launcher) -> dict[str, Any]:
    url = json.loads(Path(launcher.status_path).read_text())["metrics"]
    with urllib.request.urlopen(url, timeout=2) as r:
        text = r.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(fam: Any, sample: str, **labels: str) -> float:
    return sum(s.value for s in fam.samples
               if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))


def test_counters_and_merged_latency_histograms(launch: Launcher) -> None:
    def traded() -> dict[str, Any] | None:
        fams = _scrape(launch)
        orders = fams.get("cmc_orders")
        lat = fams.get("cmc_latency_seconds")
        if orders is None or lat is None:
            return None
        if _value(orders, "cmc_orders_total") < 2:
            return None
        if _value(lat, "cmc_latency_seconds_count", hop="tick_to_order") < 2:
            return None
        return fams

    fams = eventually(traded, 40, step_s=0.2)
    for name in ("cmc_orders", "cmc_fills", "cmc_rejects", "cmc_bad_frames", "cmc_denials",
                 "cmc_refusals", "cmc_alarms", "cmc_restarts", "cmc_node_restarts"):
        assert fams[name].type == "counter", name
    assert _value(fams["cmc_orders"], "cmc_orders_total", leg="leg.shfe") >= 1
    assert fams["cmc_node_restarts"].samples  # both nodes, 0 restarts so far
    # tick_to_order is recorded on the "trade" node (a child process): its HDR histogram
    # crossed the control socket and was merged with the launcher's node's
    lat = fams["cmc_latency_seconds"]
    assert lat.type == "histogram"
    buckets = [(s.labels["le"], s.value) for s in lat.samples
               if s.name == "cmc_latency_seconds_bucket" and s.labels["hop"] == "tick_to_order"]
    assert [le for le, _ in buckets] == [f"{b:g}" for b in LATENCY_BUCKETS_S] + ["+Inf"] or \
        [float(le) for le, _ in buckets] == [*LATENCY_BUCKETS_S, float("inf")]
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)  # cumulative
    n = _value(lat, "cmc_latency_seconds_count", hop="tick_to_order")
    assert counts[-1] == n >= 2
    total_s = _value(lat, "cmc_latency_seconds_sum", hop="tick_to_order")
    assert 0 < total_s / n < 60  # a mean in the histogram's range
    # the md hop is recorded by the Feeds, on the same node: present, and counted
    assert _value(lat, "cmc_latency_seconds_count", hop="md_wire") > 0
    # the Grafana dashboard in docs/ asks only for what is exported
    dash = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    asked = {m for e in exprs for m in re.findall(r"\bcmc_[a-z_]+", e)}
    names = {f.name for f in fams.values()} | {s.name for f in fams.values() for s in f.samples}
    names |= {f"{f.name}_total" for f in fams.values() if f.type == "counter"}
    names |= {f"{f.name}_bucket" for f in fams.values() if f.type == "histogram"}
    assert asked and asked <= names, asked - names


def test_totals_survive_an_actor_restart() -> None:
    """An actor's count restarts from 0 with the actor; the exported counter keeps rising."""
    t = _Totals()
    for v in (3, 5, 1, 4):  # 5 -> 1: the actor restarted and counted 1 since
        t.see(("cmc_fills", "leg.shfe"), v)
    assert t.family("cmc_fills") == {("leg.shfe",): 5 + 4}


def test_the_hot_standby_gauges_follow_the_status() -> None:
    """A primary's role, lease epoch, replication lag and lease time left, from the launcher's
    status (what ``cmc admin status`` shows), scraped as a Prometheus user would."""
    import threading

    from prometheus_client import generate_latest

    from scripts.launch.metrics import Metrics
    from transports.config.ops import MetricsConfig

    status = {"nodes": {}, "ha": {"holding": True, "epoch": 42, "lag_records": 7,
                                  "remaining_ms": 250.5}}
    m = Metrics(MetricsConfig(enabled=True, port=0), None, threading.Event(),
                status=lambda: status)
    try:
        m.refresh_nodes()
        fams = {f.name: f for f in text_string_to_metric_families(
            generate_latest(m.registry).decode())}
        assert _value(fams["cmc_ha_primary"], "cmc_ha_primary") == 1
        assert _value(fams["cmc_ha_epoch"], "cmc_ha_epoch") == 42
        assert _value(fams["cmc_ha_replication_lag_records"],
                      "cmc_ha_replication_lag_records") == 7
        status["ha"] = {"holding": False, "epoch": 0, "lag_records": 0, "remaining_ms": 0}
        m.refresh_nodes()
        fams = {f.name: f for f in text_string_to_metric_families(
            generate_latest(m.registry).decode())}
        assert _value(fams["cmc_ha_primary"], "cmc_ha_primary") == 0
    finally:
        m.server.shutdown()
