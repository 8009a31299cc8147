"""``cmc bench risk``: how fast the engine reacts, measured in one run.

- **repair decision** (issue 4): from the execution report that makes a combo imbalanced (the
  second leg rejected while the first filled) arriving at the ComboExecutor core, to the repair
  ``LegOrder`` it emits — direct calls, the same work a host does in its thread.
- **halt to executors** (issue 5): from a ``halt`` command handled by the RiskSupervisor (its
  own thread) to the moment each LegExecutor (the hot thread) holds the HALTED state, after
  which it lets no new order out — through the real hosts of an engine node, in process.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import zmq

from actors.combo.executor import ComboExecutorCore
from actors.runtime.node import Node
from scripts.progress import Progress, progress_bar
from transports.clock import LiveClock, perf_ns, sleep_s
from transports.config.engine import load_config
from transports.hdr import LatencyHist
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ExecReport,
    Halt,
    LegOrder,
    LegSpec,
    Resume,
)


def _pcts(hist: LatencyHist) -> dict[str, float]:
    """``n`` and p50/p99/p99.9/max in µs, from the HDR histogram."""
    s = hist.summary_us((50, 99, 99.9), 2)
    return {"n": s["count"], "p50_us": s["p50"], "p99_us": s["p99"], "p999_us": s["p999"],
            "max_us": s["max"]}


def _report(cid: int, leg: int, venue: str, sym: str, side: str, kind: str, qty: int,
            px: int) -> ExecReport:
    state = {"fill": "FILLED", "done": "FILLED", "rejected": "REJECTED"}[kind]
    return ExecReport(venue, f"1.{cid}.{leg}.0", cid, leg, 0, sym, side, kind,  # type: ignore[arg-type]
                      state, px, qty, qty if kind != "rejected" else 0, 0, 0.0,
                      f"t{cid}.{leg}" if kind == "fill" else "", "", 0, 0)


def repair_decision(n: int = 2000, bar: Progress | None = None) -> dict[str, Any]:
    """Time the report that triggers a repair until the repair order is emitted (``bar`` moves
    once a combo, outside the timed call)."""
    bar = bar or Progress(None)
    cfg = load_config()
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    core = ComboExecutorCore("combo", {p.name: p for p in cfg.pairs}, contracts,
                             ["strategy.au-gc"])
    for venue, sym, bid in (("shfe", "au2606", 30650), ("comex", "GCZ6", 26500),
                            ("fx", "USDCNH", 72000)):
        core.handle(BookUpdate(venue, sym, True, 0, 0, 0, [bid, bid - 1], [500, 500],
                               [bid + 1, bid + 2], [500, 500]), 0)
    samples = LatencyHist()
    now = 1_000_000_000
    for i in range(n):
        cid = 5_000_000 + i
        legs = [LegSpec("shfe", "au2606", "S", 28, 30640, 30650.0),
                LegSpec("comex", "GCZ6", "B", 9, 26510, 26501.0)]
        core.handle(ComboIntent(cid, "au-gc", "open", -1, legs, 0.0, 0.0, 0.0, 0.0, 0.0, 6.87,
                                now, now, now, now), now)
        core.handle(_report(cid, 0, "shfe", "au2606", "S", "fill", 28, 30650), now)
        core.handle(_report(cid, 0, "shfe", "au2606", "S", "done", 28, 30650), now)
        t0 = perf_ns()
        out = core.handle(_report(cid, 1, "comex", "GCZ6", "B", "rejected", 9, 0), now)
        t1 = perf_ns()
        if not any(isinstance(m, LegOrder) and m.purpose in ("chase", "unwind") for _, m in out):
            raise RuntimeError(f"combo {cid}: no repair order was emitted: {out}")
        samples.record(t1 - t0)
        bar.advance()
        now += 10_000_000_000  # each combo's timers far apart
    return _pcts(samples)


def halt_to_executors(n: int = 200, bar: Progress | None = None) -> dict[str, Any]:
    """Halt/resume ``n`` times through a real node; time risk → every executor HALTED (``bar``
    moves once a cycle, after both hops were counted)."""
    bar = bar or Progress(None)
    cfg = load_config()
    run_dir = Path(tempfile.mkdtemp(prefix="cmcb-risk-"))
    sock = tempfile.mkdtemp(prefix="cmcb-")
    ctx: zmq.Context[Any] = zmq.Context()
    clock = LiveClock()
    node = Node(cfg, "engine", ctx, clock, sock, run_dir)
    node.start()
    try:
        legs = [a for a in node.shells if a.startswith("leg.")]
        for i in range(n):
            node.tell("risk", Halt(f"bench {i}"))
            _wait_count(node, "risk_to_executor", (2 * i + 1) * len(legs))
            node.tell("risk", Resume(f"bench {i}"))
            _wait_count(node, "risk_to_executor", (2 * i + 2) * len(legs))
            bar.advance()
        samples = node.latency.hist("risk_to_executor")
    finally:
        node.stop()
        ctx.destroy(linger=0)
    return _pcts(samples)


def _wait_count(node: Node, hop: str, want: int, timeout_s: float = 5.0) -> None:
    clock = LiveClock()
    deadline = clock.mono_ns() + int(timeout_s * 1e9)
    while node.latency.count(hop) < want:
        if clock.mono_ns() > deadline:
            raise RuntimeError(f"{hop}: {node.latency.count(hop)} of {want} samples")
        sleep_s(0.0002)


def run_risk_bench(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Both measurements; ``progress``: a bar for each on a terminal (``scripts.progress``)."""
    n_repair, n_halt = (300, 30) if quick else (3000, 300)
    with progress_bar(n_repair, "repair decisions", "combo", enabled=progress) as bar:
        repair = repair_decision(n_repair, bar)
    with progress_bar(n_halt, "halt/resume", "cycle", enabled=progress) as bar:
        halt = halt_to_executors(n_halt, bar)
    return {"repair_decision": repair, "halt_to_executors": halt}
