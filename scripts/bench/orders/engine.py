"""The engine path of ``cmc bench orders``: LegOrders through a running node's LegExecutor.

The engine node of the demo placement runs in this process (``Node``), its ``combo`` core
replaced by a tap (``AckTap``) that stamps every ``ExecReport`` in the hot thread; the
LegOrders come from the driver process (``driver``) over the node's inbound link. Separate
from the raw client (``raw``) and the orchestration (``bench``): this is the part that
knows the node -- its readiness, its tap, its own hop histograms, what it denied.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from actors.core import Core, Out
from actors.runtime.node import Node
from scripts.bench.orders.driver import LEGS
from scripts.bench.orders.stats import DRAIN_S, split, summarize
from transports.clock import Clock, LiveClock, sleep_s
from transports.wire.messages import ExecReport

#: the engine path's variants: (label, intents fdatasync'ed before the order leaves)
ENGINE_VARIANTS = (("engine", True), ("engine_nosync", False))


class AckTap(Core):
    """Stands in for the ComboExecutor of the bench node: it only stamps each ``ExecReport``
    (combo id, kind, CLOCK_MONOTONIC when it handled it, reason).

    A probe, not a trading core: it reads ``clock`` itself (``mono_ns``), because the
    ``now_ns`` it is handed is its host's wake time, not when the report reached it (see
    ``scripts.bench.orders.bench``); it decides nothing and sends nothing."""

    def __init__(self, name: str, clock: Clock) -> None:
        super().__init__(name)
        self.clock = clock
        self.events: list[tuple[int, str, int, str]] = []

    def on_exec_report(self, m: ExecReport, now_ns: int) -> Out:
        """Stamp the report (appending to a list is atomic under the GIL: the driver reads it)."""
        self.events.append((m.combo_id, m.kind, self.clock.mono_ns(), m.reason))
        return []


def wait_ready(node: Node, timeout_s: float = 30.0) -> None:
    """Wait until every bench leg executor is ACTIVE with an open gate (reconciled)."""
    clock = LiveClock()
    deadline = clock.mono_ns() + int(timeout_s * 1e9)
    while True:
        snaps = [node.query(f"leg.{v}") for v, _ in LEGS]
        if all(s["gate"] == "" and s["trading_state"] == "ACTIVE" for s in snaps):
            return
        if clock.mono_ns() > deadline:
            states = [(s["gate"], s["trading_state"]) for s in snaps]
            raise RuntimeError(f"leg executors not ready (gate, state): {states}")
        sleep_s(0.05)


def run_engine(node: Node, tap: AckTap, keys: Path, rate: float, seconds: float, base_id: int,
               touch: dict[str, tuple[int, int]], tmp: Path) -> dict[str, Any]:
    """Drive ``rate`` x ``seconds`` LegOrders into the node from the driver process
    (``driver``) on the schedule; return the row, with the node's own hops and what was
    not acked (``denied``: ``kind:reason`` -> count)."""
    n = max(2, int(rate * seconds))
    node.latency.reset()
    tap.events.clear()
    out = tmp / f"driver-{base_id}.npz"
    cmd = [sys.executable, "-m", "scripts.bench.orders.driver", "--address",
           node.directory.node_address["engine"], "--keys", str(keys), "--rate", str(rate),
           "--seconds", str(seconds), "--base-id", str(base_id), "--out", str(out)]
    cmd += [f"--touch={v}={b}:{a}" for v, (b, a) in touch.items()]
    drv = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL)
    try:
        _, err = drv.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        drv.kill()
        drv.communicate()
        raise RuntimeError("the order driver did not finish") from None
    if drv.returncode != 0 or not out.exists():
        raise RuntimeError(f"the order driver failed ({drv.returncode}): {err.decode()[-400:]}")
    with np.load(out) as z:
        sched, sent = z["sched"], z["sent"]
        cost = {k: float(z[k]) for k in ("frames", "cpu_s", "wall_s")}
    clock = LiveClock()
    end = clock.mono_ns() + int(DRAIN_S * 1e9)
    while clock.mono_ns() < end and _resolved(tap, base_id, n) < n:
        sleep_s(0.02)
    ack, done, routed = (np.full(n, -1, np.int64) for _ in range(3))
    failed = 0
    denied: dict[str, int] = {}
    for cid, kind, ts, reason in list(tap.events):
        k = cid - base_id
        if not 0 <= k < n:
            continue
        if kind == "sent" and routed[k] < 0:
            routed[k] = ts  # the executor's cycle that took the order (its "sent" report)
        elif kind == "accepted" and ack[k] < 0:
            ack[k] = ts
        elif kind == "done" and done[k] < 0:
            done[k] = ts
        elif kind in ("denied", "rejected"):
            failed += 1
            why = f"{kind}:{reason}"
            denied[why] = denied.get(why, 0) + 1
    row = summarize(rate, sched, sent, ack, done, failed)
    hops = {}
    for hop in ("send_to_ack", "intent_fsync"):
        s = node.latency.hist(hop).summary_us((50, 99), 1)
        hops[hop] = {"n": s["count"], "p50_us": s.get("p50"), "p99_us": s.get("p99")}
    driver = {"frames": int(cost["frames"]),
              "cpu_pct": round(100 * cost["cpu_s"] / max(cost["wall_s"], 1e-9), 1)}
    return {**row, "hops": hops, "denied": denied, "split": split(sent, routed, ack),
            "driver": driver}


def _resolved(tap: AckTap, base_id: int, n: int) -> int:
    return sum(1 for cid, kind, _, _ in list(tap.events)
               if kind in ("done", "denied", "rejected") and 0 <= cid - base_id < n)


__all__ = ["ENGINE_VARIANTS", "AckTap", "run_engine", "wait_ready"]
