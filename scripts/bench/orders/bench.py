"""``cmc bench orders``: the order path, new -> ack, paced open loop, raw and through the engine.

First the machine's own baseline (``baseline``): a bare pyzmq ipc ping-pong between this
process and a child, both sleeping in ``select``, one round trip per ms (default 2,000): what
one hop between two sleeping processes costs here, the unit the paths' numbers are read in.

Then one simulator gateway process (``cmc gateway sim``) serves the demo's venues with their
simulated latency set to 0 (``bench_conf_text``), so what is measured is the gateway, the
transports and the engine, not a made-up venue delay. Against it, at each offered rate (default
1,000 and 10,000 orders/s, alternating the ``shfe`` and ``comex`` accounts and buy/sell):

- **raw** (``raw``): this process as a bare ZeroMQ/MessagePack client speaking the venue
  protocol (one DEALER per venue, identity ``bench-raw-<venue>``): ``new`` -> ``ack``. Replies
  are waited for with ``select`` on the sockets' descriptors (µs timeouts, no spin).
- **engine** (intents fdatasync'ed before each order leaves, the default) and
  **engine_nosync** (intents written, not synced; ``engine``): the engine node of the
  demo placement, in this process (``Node``, as ``cmc bench tick-to-trade`` runs it), a fresh
  one per variant, its ``combo`` core replaced by a tap (``AckTap``) that stamps every
  ``ExecReport`` in the hot thread, where the real ComboExecutor reads it. The LegOrders come
  from a driver process (``driver``) over the node's inbound link, as another node's
  combo sends them (the bench config adds an empty ``driver`` node to the placement so the
  engine node listens): they reach the hot host through a socket it polls with the venue
  sockets, not through its inbox (which it serves before any socket) and not through the GIL
  of this process. The LegExecutor core, its venue shell (intent WAL, the DEALER) and the same
  gateway do the rest.

Orders are IOC, 1 lot, priced ``AWAY_TICKS`` away from the touch on the passive side: they never
fill, never rest (the venue answers ``ack`` then ``done``), so no position and no working order
builds up; the bench config raises the engine's order rate limit and max position (never
``conf/`` defaults). The strategy is configured never to fire.

Latency is from each order's *scheduled* time (``stats``: coordinated omission is not
hidden), HdrHistogram (``transports.hdr``). The engine path's stamps come from two processes,
both on CLOCK_MONOTONIC (``LiveClock.mono_ns``, system-wide; ``now_ns`` is anchored to the wall
clock once per process, an anchor that can be milliseconds off on a loaded machine). The tap
reads that clock when it handles each report: the ``now_ns`` a core is given is the time its
host woke, and a host that drains many frames in one wake would stamp the last ones early
(even before the driver sent them). The gateway's part is the raw
round trip (the gateway and one ipc round trip); ``engine_added`` = engine path − raw path at
p50 and p99.

JSON keys (``run_orders_bench``, assembled by ``report.assemble``): ``cpus``;
``machine`` {``ipc_rtt_us``: {``n``, ``p50_us``, ``p99_us``, ``p999_us``} of the baseline's
round trips, or None when it was not run}; ``target`` {``p99_us``, ``rate``,
``sustained_rate``}; ``raw``, ``engine`` and ``engine_nosync``: lists of
rows, one per rate (``stats.summarize``: ``rate``, ``seconds``, ``scheduled``, ``sent``,
``acked``, ``done``, ``failed``, ``achieved_rate``, ``latency``/``send_lag``/``service``
{``n``, ``p50_us``, ``p99_us``, ``p999_us``, ``max_us``}, ``backlog_first_s``,
``backlog_last_s``, ``backlog_max``, ``per_second`` [{``second``, ``offered``, ``acked``,
``backlog_max``, ``p50_us``, ``p99_us``}], ``sustained``; plus ``cpu_pct`` {``gateway``, and
``bench`` or ``engine``: % of one CPU during the run; engine rows also ``host-hot``,
``host-risk``, ``host-journal``: the node's threads}); engine rows add ``cpu_pct_idle`` (the
same, measured for 1 s on the same node with market data and no orders), ``hops`` (the node's own
``send_to_ack`` and ``intent_fsync``: {``n``, ``p50_us``, ``p99_us``}), ``denied``
(``kind:reason`` -> orders denied or rejected instead of acked), ``split`` (``stats.split``:
each order's service cut where the executor took it, ``to_executor`` and ``executor_to_ack``,
each {``n``, ``p50_us``, ``p99_us``, ``p999_us``, ``max_us``}) and ``driver`` (the driver
process: ``frames`` sent, one per order, and ``cpu_pct`` of its sending loop: near 100 it is
itself the limit); ``engine_added``: [{``path``, ``rate``, ``p50_us``, ``p99_us``: engine path
− raw path; ``gateway_p50_us``: the raw path's ``service`` p50 at that rate, the gateway and
one ipc round trip; ``to_executor_p50_us`` and ``executor_to_ack_p50_us``: the engine row's
``split`` p50s; ``p50_over_rtt``: ``p50_us`` / ``machine.ipc_rtt_us.p50_us``, how many bare
ipc round trips the engine's extra hops cost (None without the baseline)}]; ``verdict``:
{``p99_at_target_rate_us`` (engine, 1,000/s), ``p99_ok``, ``sustained_at_target`` {path ->
``sustained`` at 10,000/s}}.

Modules: ``baseline`` (the ipc baseline), ``raw`` (the raw client),
``engine`` (the node, its tap, the driver's run), ``driver`` (the driver process),
``stats`` (a run's numbers), ``report`` (the result and the table); this module
runs them in order and meters their CPU (their public names are importable from here).
"""

from __future__ import annotations

import re
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import psutil
import zmq

import kernels
from actors.runtime import link_auth
from actors.runtime.node import Node
from scripts.bench.cpu import procs_cpu_s as _cpu_s
from scripts.bench.cpu import thread_cpu_s as _thread_cpu_s
from scripts.bench.orders.baseline import N_TRIPS, ipc_rtt
from scripts.bench.orders.driver import LEGS
from scripts.bench.orders.engine import ENGINE_VARIANTS, AckTap, run_engine, wait_ready
from scripts.bench.orders.raw import run_raw
from scripts.bench.orders.report import SUSTAINED_RATE, TARGET_RATE, assemble, format_table
from scripts.launch.process import SimProcess, configure_logging, new_sock_dir, ref_request
from transports.clock import LiveClock, sleep_s
from transports.config.engine import AppConfig, load_config
from transports.venues.sim.gateway import address

IDLE_S = 1.0  #: the engine's CPU is sampled this long without orders (``cpu_pct_idle``)


def bench_conf_text() -> str:
    """The demo config for this bench: no simulated venue latency, a strategy that never fires,
    the engine's order rate limit and max position out of the way, quiet logs."""
    text = resources.files("conf").joinpath("demo.toml").read_text()
    text = re.sub(r"latency_us = \d+", "latency_us = 0", text)
    text = text.replace('log_level = "INFO"', 'log_level = "WARNING"')
    text = text.replace("max_orders_per_s = 200",
                        "max_orders_per_s = 10000000\nmax_cancels_per_s = 10000000")
    text = re.sub(r"z_entry = [\d.]+", "z_entry = 1000000.0", text)
    text = re.sub(r"min_edge = [\d.]+", "min_edge = 1000000.0", text)
    text = re.sub(r"(fee_per_lot = [\d.]+[^\n]*\n)", r"\1max_position_lots = 100000000\n", text)
    # a second node for the driver: the engine node then listens on its inbound link, and the
    # driver's LegOrders arrive there as another node's combo would send them
    return text.replace(
        '[[placement.groups]]\nname = "hot"',
        '[[placement.nodes]]\nname = "driver"\naddress = "ipc://{sock}/node-driver"\n\n'
        '[[placement.groups]]\nname = "driver"\nnode = "driver"\nactors = []\n\n'
        '[[placement.groups]]\nname = "hot"', 1)


def touches(cfg: AppConfig, ctx: zmq.Context[Any], sock: str) -> dict[str, tuple[int, int]]:
    """venue -> (best bid, best ask) in ticks, from a snapshot on the venue's ref socket."""
    out = {}
    for venue, sym in LEGS:
        v = next(x for x in cfg.venues if x.name == venue)
        snap = ref_request(ctx, address(v.ref, sock), {"t": "snapshot", "sym": sym})
        out[venue] = (int(snap["b"][0][0]), int(snap["a"][0][0]))
    return out


# --- the whole bench -----------------------------------------------------------------------------


def _metered(row_fn: Any, procs: dict[str, psutil.Process], clock: LiveClock) -> dict[str, Any]:
    """Run ``row_fn()`` and add ``cpu_pct`` (process label -> % of one CPU during the run, and
    each of this process's host threads, ``host-<group>``, when a node runs here)."""
    t0 = clock.mono_ns()
    before = {k: _cpu_s([p]) for k, p in procs.items()}
    threads = _thread_cpu_s()
    row = row_fn()
    wall = max(1e-9, (clock.mono_ns() - t0) / 1e9)
    row["cpu_pct"] = {k: round(100 * (_cpu_s([p]) - before[k]) / wall, 1)
                      for k, p in procs.items()}
    row["cpu_pct"].update({k: round(100 * (v - threads.get(k, 0.0)) / wall, 1)
                           for k, v in _thread_cpu_s().items() if k in threads})
    return row


def run_orders_bench(quick: bool = False, rates: tuple[float, ...] | None = None,
                     seconds: float | None = None, progress: bool | None = None,
                     variants: tuple[tuple[str, bool], ...] = ENGINE_VARIANTS,
                     baseline_trips: int | None = None) -> dict[str, Any]:
    """The machine's ipc baseline, then both paths at each rate against one simulator gateway;
    return everything (see the module for the keys). ``progress``: a tqdm bar on stderr (None:
    only on a terminal). ``variants``: the engine runs, each with its intents durable or not.
    ``baseline_trips``: ipc round trips of the baseline (default ``N_TRIPS``, --quick a
    quarter; 0: none, ``machine.ipc_rtt_us`` is None)."""
    from tqdm import tqdm

    configure_logging(None, "WARNING", quiet=True)
    # compile (or load) the Numba kernels first: a compile in the middle of a run holds the GIL
    # for a second, which the node's freeze watch takes for a stopped process
    kernels.warm_up()
    rates = rates or (TARGET_RATE, SUSTAINED_RATE)
    seconds = seconds or (1.0 if quick else 5.0)
    clock = LiveClock()
    tmp = Path(tempfile.mkdtemp(prefix="cmcb-orders-"))
    conf = tmp / "bench-orders.toml"
    conf.write_text(bench_conf_text())
    cfg = load_config(conf)
    if baseline_trips is None:
        baseline_trips = N_TRIPS // 4 if quick else N_TRIPS
    sock = new_sock_dir()
    ctx: zmq.Context[Any] = zmq.Context()
    bar = tqdm(total=(1 + len(variants)) * len(rates) + 1, desc="bench orders", unit="run",
               file=sys.stderr, disable=None if progress is None else not progress)
    raw_rows: list[dict[str, Any]] = []
    eng_rows: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in variants}
    machine: dict[str, Any] = {"ipc_rtt_us": None}
    node: Node | None = None
    sim: SimProcess | None = None
    try:
        # the machine first, alone: no gateway publishing market data beside it
        bar.set_postfix_str("machine ipc rtt")
        if baseline_trips > 0:
            machine["ipc_rtt_us"] = ipc_rtt(ctx, sock, baseline_trips)
        bar.update()
        sim = SimProcess(str(conf), sock, tmp / "truth.json", tmp / "sim.log")
        sim.wait_ready()
        procs = {"gateway": psutil.Process(sim.proc.pid), "bench": psutil.Process()}
        touch = touches(cfg, ctx, sock)
        for k, rate in enumerate(rates):
            bar.set_postfix_str(f"raw {rate:.0f}/s")
            raw_rows.append(_metered(lambda rate=rate, k=k: run_raw(
                cfg, ctx, sock, rate, seconds, f"r{k}", touch, clock), procs, clock))
            bar.update()
        if variants:
            keys, key_path = link_auth.write_link_keys(tmp)
            link_auth.attach(ctx, keys)
            procs = {"gateway": procs["gateway"], "engine": procs["bench"]}
            base = 0
            for label, durable in variants:
                # a fresh node per variant: an overloaded run leaves orders of unknown outcome
                # and a reconciliation behind, which must not be the next run's handicap
                run_dir = tmp / f"run-{label}"
                run_dir.mkdir()
                node = Node(cfg, "engine", ctx, clock, sock, run_dir)
                assert node.intent_wal is not None
                node.intent_wal.durable = durable
                tap = AckTap("combo", clock)
                node.shells["combo"].core = tap
                node.start()
                wait_ready(node)
                # what the node costs with market data and no orders: the baseline of cpu_pct
                idle = _metered(lambda: (sleep_s(IDLE_S), {})[1], procs, clock)["cpu_pct"]
                for rate in rates:
                    wait_ready(node)
                    base += 10_000_000
                    bar.set_postfix_str(f"{label} {rate:.0f}/s")
                    row = _metered(lambda rate=rate, base=base, node=node, tap=tap: run_engine(
                        node, tap, key_path, rate, seconds, base, touch, tmp), procs, clock)
                    eng_rows[label].append({**row, "cpu_pct_idle": idle})
                    bar.update()
                node.stop()
                node = None
    finally:
        bar.close()
        if node is not None:
            node.stop()
        if sim is not None:
            sim.stop()
        link_auth.detach(ctx)
        ctx.destroy(linger=0)
    return assemble(raw_rows, eng_rows, machine)


__all__ = ["ENGINE_VARIANTS", "AckTap", "bench_conf_text", "format_table", "ipc_rtt", "run_engine",
           "run_orders_bench", "run_raw", "touches", "wait_ready"]
