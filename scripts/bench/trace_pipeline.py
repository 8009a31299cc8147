"""Where an ordering tick's time goes in the live pipeline (a dev tool, next to the floor's
``profile_hot_path``).

Runs ``cmc bench tick-to-trade``'s pipeline (``run_pipeline``: the engine node of
``conf/bench.toml`` fed by the load generator over ipc) at one rate with the hot group traced:
the host's ``Dispatcher`` reports each handler's completion (its ``observe`` hook) and the
cycle's start (``route`` of a venue frame), and the order path's calls that leave Python — the
intent write, the release of the held orders, the ZeroMQ send — are timed as a profiler times
them (wrapped for the run, restored after). For every *ordering* cycle (one that reached both
legs' executors) it prints, per step in the order they ran, the step's own p50 (since the step
before) and the cumulative p50 since the cycle started, then the p50/p90 of each timed call.

Read it against the floor (``python -m scripts.bench.profile_hot_path``): the same handlers run
hot there; here each runs on a CPU that went idle since the last tick (``cmc bench
tick-to-trade``'s idle floor) and shares two CPUs with the load generator and the node's other
threads. A leg's step includes the send of the order before it (the ``@oe`` output of the
previous leg is handed to its socket when that handler returns, before the next delivery).

    NUMBA_CACHE_DIR=/tmp/nc .venv/bin/python -m scripts.bench.trace_pipeline [--rate 1000]
        [--seconds 3] [--durable]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zmq

import kernels
from actors.runtime import dispatch as dispatch_mod
from actors.runtime.host import host_commit
from actors.runtime.shells import venue_shell
from scripts.bench.tick_to_trade import BENCH_CONF, conf_path, run_pipeline
from scripts.launch.process import configure_logging
from transports.config.engine import load_config_bytes
from transports.journal import intent_wal

#: (perf ns, "start" | actor, message type name): one traced group's cycle starts and handler
#: completions, in the order they happened
Event = tuple[int, str, str]
#: an ordering cycle's last step: the second leg's executor took its LegOrder
LAST_STEP = ("leg.bench-b", "LegOrder")


def ordering_steps(events: list[Event], last: tuple[str, str] = LAST_STEP
                   ) -> dict[str, list[tuple[int, int]]]:
    """Cut ``events`` into cycles (each ``"start"`` begins one) and keep the cycles that reach
    ``last``; return, per step (``actor:Message``, ``#2`` etc. for a repeat in one cycle), the
    (step ns since the step before, ns since the cycle started) of every such cycle, up to and
    including ``last``."""
    steps: dict[str, list[tuple[int, int]]] = collections.defaultdict(list)
    cycle: list[Event] = []

    def close(c: list[Event]) -> None:
        if not c or not any((a, m) == last for _, a, m in c[1:]):
            return
        t0 = prev = c[0][0]
        seen: collections.Counter[str] = collections.Counter()
        for t, actor, kind in c[1:]:
            key = f"{actor}:{kind}"
            seen[key] += 1
            if seen[key] > 1:
                key += f"#{seen[key]}"
            steps[key].append((t - prev, t - t0))
            prev = t
            if (actor, kind) == last:
                return

    for ev in events:
        if ev[1] == "start":
            close(cycle)
            cycle = [ev]
        elif cycle:
            cycle.append(ev)
    close(cycle)
    return steps


@contextlib.contextmanager
def traced() -> Iterator[tuple[list[Event], dict[str, list[int]]]]:
    """For the ``with`` block: the hot group's events (the group with a strategy) and the timed
    calls' durations (ns, by name); every patched function is restored on exit."""
    events: list[Event] = []
    calls: dict[str, list[int]] = collections.defaultdict(list)
    pc = time.perf_counter_ns
    saved: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        orig = getattr(owner, name)
        saved.append((owner, name, orig))
        setattr(owner, name, make(orig))

    def timing(label: str) -> Callable[[Any], Any]:
        def make(orig: Any) -> Any:
            def timed(*a: Any, **k: Any) -> Any:
                t0 = pc()
                try:
                    return orig(*a, **k)
                finally:
                    calls[label].append(pc() - t0)
            return timed
        return make

    def init(orig: Any) -> Any:
        def __init__(self: Any, handlers: dict[str, Any], *a: Any, **k: Any) -> None:
            orig(self, handlers, *a, **k)
            if any(n.startswith("strategy.") for n in handlers):
                self.observe = lambda dest, msg, _h, _now: events.append(
                    (pc(), dest, type(msg).__name__))
                self.traced = True
        return __init__

    def route(orig: Any) -> Any:
        def route(self: Any, src: str, out: Any, now: int) -> None:
            if getattr(self, "traced", False) and src.endswith("@md"):
                events.append((pc(), "start", src))
            orig(self, src, out, now)
        return route

    patch(dispatch_mod.Dispatcher, "__init__", init)
    patch(dispatch_mod.Dispatcher, "route", route)
    patch(host_commit.HostSink, "send", timing("HostSink.send (an @oe output, whole)"))
    patch(venue_shell.LegShell, "_write_intent", timing("LegShell._write_intent (WAL write)"))
    patch(venue_shell.LegShell, "flush_sends", timing("LegShell.flush_sends (sync + send)"))
    patch(intent_wal.IntentWal, "sync", timing("IntentWal.sync"))
    patch(zmq.Socket, "send", timing("zmq Socket.send (any socket of the process)"))
    try:
        yield events, calls
    finally:
        for owner, name, orig in reversed(saved):
            setattr(owner, name, orig)


def trace(rate: float, seconds: float, durable: bool) -> tuple[dict[str, Any],
                                                               dict[str, list[tuple[int, int]]],
                                                               dict[str, list[int]]]:
    """Run the pipeline traced; return its row, the ordering steps and the timed calls."""
    raw = conf_path(BENCH_CONF).read_bytes()
    if not durable:
        raw = raw.replace(b"[run]\n", b"[run]\ndurable_intents = false\n", 1)
    path = Path(tempfile.mkdtemp(prefix="cmct-")) / "bench.toml"
    path.write_bytes(raw)
    cfg = load_config_bytes(raw, str(path))
    with traced() as (events, calls):
        row = run_pipeline(cfg, False, rate, seconds, path)
    return row, ordering_steps(events), dict(calls)


def print_trace(row: dict[str, Any], steps: dict[str, list[tuple[int, int]]],
                calls: dict[str, list[int]]) -> None:
    """Print the steps by cumulative p50 and the timed calls (µs)."""
    n = len(steps.get(":".join(LAST_STEP), []))
    print(f"pipeline: {row['rate']:.0f} ticks/s, tick_to_order p50 {row['p50']} µs "
          f"p99 {row['p99']} µs; {n} ordering cycles traced\n")
    print(f"{'step (actor:message)':<34}{'n':>7}{'step p50':>10}{'cum p50':>10}")
    order = sorted(steps.items(), key=lambda kv: float(np.median([c for _, c in kv[1]])))
    for key, v in order:
        a = np.asarray(v, np.float64) / 1e3
        print(f"{key:<34}{len(a):>7}{np.median(a[:, 0]):>10.1f}{np.median(a[:, 1]):>10.1f}")
    print(f"\n{'call':<46}{'n':>8}{'p50 µs':>9}{'p90 µs':>9}")
    for label, ts in sorted(calls.items()):
        a = np.asarray(ts, np.float64) / 1e3
        print(f"{label:<46}{len(a):>8}{np.median(a):>9.1f}{np.percentile(a, 90):>9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=1_000.0)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--durable", action="store_true",
                    help="fdatasync the intents (the default placement); default: not")
    args = ap.parse_args()
    configure_logging(None, "WARNING", quiet=True)
    kernels.warm_up()
    print_trace(*trace(args.rate, args.seconds, args.durable))


if __name__ == "__main__":
    main()
