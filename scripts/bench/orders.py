"""``cmc bench orders``: the order path, new -> ack, paced open loop, raw and through the engine.

One simulator gateway process (``cmc gateway sim``) serves the demo's venues with their simulated
latency set to 0 (``bench_conf_text``), so what is measured is the gateway, the transports and
the engine, not a made-up venue delay. Against it, at each offered rate (default 1,000 and
10,000 orders/s, alternating the ``shfe`` and ``comex`` accounts and buy/sell):

- **raw**: this process as a bare ZeroMQ/MessagePack client speaking the venue protocol (one
  DEALER per venue, identity ``bench-raw-<venue>``): ``new`` -> ``ack``. Replies are waited for
  with ``select`` on the sockets' descriptors (µs timeouts, no spin).
- **engine** (intents fdatasync'ed before each order leaves, the default) and
  **engine_nosync** (intents written, not synced): the engine node of the demo placement, in
  this process (``Node``, as ``cmc bench tick-to-trade`` runs it), a fresh one per variant, its
  ``combo`` core replaced by a tap (``AckTap``) that stamps every ``ExecReport`` in the hot
  thread, where the real ComboExecutor reads it. The LegOrders come from a driver process
  (``order_driver``) over the node's inbound link, as another node's combo sends them (the bench
  config adds an empty ``driver`` node to the placement so the engine node listens): they reach
  the hot host through a socket it polls with the venue sockets, not through its inbox (which
  it serves before any socket) and not through the GIL of this process. The LegExecutor core,
  its venue shell (intent WAL, the DEALER) and the same gateway do the rest.

Orders are IOC, 1 lot, priced ``AWAY_TICKS`` away from the touch on the passive side: they never
fill, never rest (the venue answers ``ack`` then ``done``), so no position and no working order
builds up; the bench config raises the engine's order rate limit and max position (never
``conf/`` defaults). The strategy is configured never to fire.

Latency is from each order's *scheduled* time (``order_stats``: coordinated omission is not
hidden), HdrHistogram (``transports.hdr``). The engine path's stamps come from two processes,
both on CLOCK_MONOTONIC (``LiveClock.mono_ns``, system-wide; ``now_ns`` is anchored to the wall
clock once per process, an anchor that can be milliseconds off on a loaded machine). The tap
reads that clock when it handles each report: the ``now_ns`` a core is given is the time its
host woke, and a host that drains many frames in one wake would stamp the last ones early
(even before the driver sent them). The gateway's part is the raw
round trip (the gateway and one ipc round trip); ``engine_added`` = engine path − raw path at
p50 and p99.

JSON keys (``run_orders_bench``, assembled by ``order_report.assemble``): ``cpus``; ``target``
{``p99_us``, ``rate``, ``sustained_rate``}; ``raw``, ``engine`` and ``engine_nosync``: lists of
rows, one per rate (``order_stats.summarize``: ``rate``, ``seconds``, ``scheduled``, ``sent``,
``acked``, ``done``, ``failed``, ``achieved_rate``, ``latency``/``send_lag``/``service``
{``n``, ``p50_us``, ``p99_us``, ``p999_us``, ``max_us``}, ``backlog_first_s``,
``backlog_last_s``, ``backlog_max``, ``per_second`` [{``second``, ``offered``, ``acked``,
``backlog_max``, ``p50_us``, ``p99_us``}], ``sustained``; plus ``cpu_pct`` {``gateway``, and
``bench`` or ``engine``: % of one CPU during the run; engine rows also ``host-hot``,
``host-risk``, ``host-journal``: the node's threads}); engine rows add ``cpu_pct_idle`` (the
same, measured for 1 s on the same node with market data and no orders), ``hops`` (the node's own
``send_to_ack`` and ``intent_fsync``: {``n``, ``p50_us``, ``p99_us``}), ``denied``
(``kind:reason`` -> orders denied or rejected instead of acked), ``split`` (``order_stats.split``:
each order's service cut where the executor took it, ``to_executor`` and ``executor_to_ack``,
each {``n``, ``p50_us``, ``p99_us``, ``p999_us``, ``max_us``}) and ``driver`` (the driver
process: ``frames`` sent, one per order, and ``cpu_pct`` of its sending loop: near 100 it is
itself the limit); ``engine_added``: [{``path``, ``rate``, ``p50_us``, ``p99_us``: engine path
− raw path; ``gateway_p50_us``: the raw path's ``service`` p50 at that rate, the gateway and
one ipc round trip; ``to_executor_p50_us`` and ``executor_to_ack_p50_us``: the engine row's
``split`` p50s}]; ``verdict``: {``p99_at_target_rate_us`` (engine, 1,000/s), ``p99_ok``,
``sustained_at_target`` {path -> ``sustained`` at 10,000/s}}.
"""

from __future__ import annotations

import re
import select
import subprocess
import sys
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import psutil
import zmq

import kernels
from actors.core import Core, Out
from actors.runtime import link_auth
from actors.runtime.node import Node
from scripts.bench.order_driver import LEGS, order_fields
from scripts.bench.order_report import SUSTAINED_RATE, TARGET_RATE, assemble, format_table
from scripts.bench.order_stats import schedule_ns, split, summarize
from scripts.launch.process import SimProcess, configure_logging, new_sock_dir, ref_request
from transports.clock import Clock, LiveClock, sleep_s
from transports.config.engine import AppConfig, load_config
from transports.venues.sim.gateway import address
from transports.wire.messages import ExecReport
from transports.wire.venue_msgs import Ack, Done, NewOrder, OeReply, Reject

IDLE_S = 1.0  #: the engine's CPU is sampled this long without orders (``cpu_pct_idle``)
DRAIN_S = 3.0  #: how long after the last scheduled order the replies are waited for


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


# --- raw: a bare protocol client -----------------------------------------------------------------


def run_raw(cfg: AppConfig, ctx: zmq.Context[Any], sock: str, rate: float, seconds: float,
            tag: str, touch: dict[str, tuple[int, int]], clock: LiveClock) -> dict[str, Any]:
    """Send ``rate`` x ``seconds`` IOC orders on the schedule from a bare DEALER per venue;
    return the run's row (``order_stats.summarize``)."""
    socks: dict[str, zmq.Socket[bytes]] = {}
    try:
        for venue, _ in LEGS:
            v = next(x for x in cfg.venues if x.name == venue)
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.IDENTITY, f"bench-raw-{venue}".encode())
            s.connect(address(v.oe, sock))
            socks[venue] = s
        return _raw_loop(socks, rate, seconds, tag, touch, clock)
    finally:
        for s in socks.values():
            s.close(linger=0)


def _raw_loop(socks: dict[str, zmq.Socket[bytes]], rate: float, seconds: float, tag: str,
              touch: dict[str, tuple[int, int]], clock: LiveClock) -> dict[str, Any]:
    enc = msgspec.msgpack.Encoder()
    dec = msgspec.msgpack.Decoder(OeReply)
    n = max(2, int(rate * seconds))
    sched = schedule_ns(clock.now_ns() + 50_000_000, rate, n)
    sent, ack, done = (np.full(n, -1, np.int64) for _ in range(3))
    failed = resolved = 0
    prefix = f"{tag}."
    end_ns = int(sched[-1]) + int(DRAIN_S * 1e9)
    i = 0
    all_socks = list(socks.values())
    fds = [s.getsockopt(zmq.FD) for s in all_socks]
    while resolved < n and clock.now_ns() < end_ns:
        now = clock.now_ns()
        while i < n and sched[i] <= now:
            venue, sym, side, px = order_fields(i, touch)
            socks[venue].send(enc.encode(NewOrder(cl=f"{prefix}{i}", sym=sym, side=side, px=px,
                                                  qty=1, tif="IOC", ts=now)))
            sent[i] = clock.now_ns()
            i += 1
        got = False
        for s in all_socks:
            # the descriptor is edge-triggered: read until EVENTS says nothing is left
            while s.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                payload = s.recv(zmq.NOBLOCK)
                rx = clock.now_ns()
                got = True
                m = dec.decode(payload)
                cl = getattr(m, "cl", "")
                if not cl.startswith(prefix):
                    continue
                k = int(cl[len(prefix):])
                if isinstance(m, Ack) and ack[k] < 0:
                    ack[k] = rx
                elif isinstance(m, Done) and done[k] < 0:
                    done[k] = rx
                    resolved += 1
                elif isinstance(m, Reject):
                    failed += 1
                    resolved += 1
        if got:
            continue
        wait_ns = (int(sched[i]) if i < n else end_ns) - clock.now_ns()
        if wait_ns > 0:
            # select() takes a timeval (µs); epoll and zmq_poll round up to whole ms
            select.select(fds, [], [], min(wait_ns, 50_000_000) / 1e9)
    return summarize(rate, sched, sent, ack, done, failed)


# --- engine: the LegExecutor path of a running node -----------------------------------------------


class AckTap(Core):
    """Stands in for the ComboExecutor of the bench node: it only stamps each ``ExecReport``
    (combo id, kind, CLOCK_MONOTONIC when it handled it, reason).

    A probe, not a trading core: it reads ``clock`` itself (``mono_ns``), because the
    ``now_ns`` it is handed is its host's wake time, not when the report reached it (see the
    module); it decides nothing and sends nothing."""

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
    (``order_driver``) on the schedule; return the row, with the node's own hops and what was
    not acked (``denied``: ``kind:reason`` -> count)."""
    n = max(2, int(rate * seconds))
    node.latency.reset()
    tap.events.clear()
    out = tmp / f"driver-{base_id}.npz"
    cmd = [sys.executable, "-m", "scripts.bench.order_driver", "--address",
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


# --- the whole bench -----------------------------------------------------------------------------


def _cpu_s(procs: list[psutil.Process]) -> float:
    """User + system CPU seconds of these processes so far (0 for one that is gone)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def _thread_cpu_s() -> dict[str, float]:
    """CPU seconds so far of this process's named threads (the node's hosts: ``host-hot``...)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for t in psutil.Process().threads():
        name = names.get(t.id)
        if name is not None and name.startswith("host-"):
            out[name] = out.get(name, 0.0) + t.user_time + t.system_time
    return out


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


#: the engine path's variants: (label, intents fdatasync'ed before the order leaves)
ENGINE_VARIANTS = (("engine", True), ("engine_nosync", False))


def run_orders_bench(quick: bool = False, rates: tuple[float, ...] | None = None,
                     seconds: float | None = None, progress: bool | None = None,
                     variants: tuple[tuple[str, bool], ...] = ENGINE_VARIANTS
                     ) -> dict[str, Any]:
    """Both paths at each rate against one simulator gateway; return everything (see the
    module for the keys). ``progress``: a tqdm bar on stderr (None: only on a terminal).
    ``variants``: the engine runs, each with its intents durable or not."""
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
    sock = new_sock_dir()
    ctx: zmq.Context[Any] = zmq.Context()
    sim = SimProcess(str(conf), sock, tmp / "truth.json", tmp / "sim.log")
    bar = tqdm(total=(1 + len(variants)) * len(rates), desc="bench orders", unit="run",
               file=sys.stderr, disable=None if progress is None else not progress)
    raw_rows: list[dict[str, Any]] = []
    eng_rows: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in variants}
    node: Node | None = None
    try:
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
        sim.stop()
        link_auth.detach(ctx)
        ctx.destroy(linger=0)
    return assemble(raw_rows, eng_rows)


__all__ = ["AckTap", "bench_conf_text", "format_table", "run_orders_bench", "touches"]
