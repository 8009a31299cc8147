"""A placement group's ``spin_us`` reaches its host in a real node: that group's host reports
its idle strategy, the others do not spin."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import zmq

from actors.runtime.node import Node
from scripts.bench.tick_to_trade import BENCH_CONF, conf_path
from transports.clock import LiveClock, sleep_s
from transports.config.engine import load_config_bytes


def test_the_groups_spin_us_reaches_its_host(tmp_path: Path) -> None:
    raw = conf_path(BENCH_CONF).read_bytes().replace(
        b'name = "hot"\nnode = "engine"\n', b'name = "hot"\nnode = "engine"\nspin_us = 300\n', 1)
    cfg = load_config_bytes(raw, "bench-spin.toml")
    assert {g.name: g.spin_us for g in cfg.placement.groups}["hot"] == 300  # type: ignore[union-attr]
    ctx: zmq.Context[Any] = zmq.Context()
    clock = LiveClock()
    node = Node(cfg, "engine", ctx, clock, tempfile.mkdtemp(prefix="cmcs-"), tmp_path)
    try:
        node.start()

        def counters(group: str) -> dict[str, int]:
            return node.hosts[group].proxy().host_counters().get(timeout=5)

        end = clock.mono_ns() + 10_000_000_000
        while counters("hot").get("idle.sleeps", 0) < 1 and clock.mono_ns() < end:
            sleep_s(0.01)
        hot = counters("hot")
        # idle (no venue here): it spun its window out, then went to the blocking wait
        assert hot["idle.spins"] > 0 and hot["idle.sleeps"] >= 1
        assert "idle.spins" not in counters("risk")  # spin_us 0: today's idle path
    finally:
        node.stop()
        node.close_send_sockets()
        ctx.destroy(linger=0)
