"""``cmc bench tick-to-trade``: the floor against the actor pipeline, measured in one run.

- **floor**: decode the venue frame → Feed → Book → Strategy → ComboExecutor → LegExecutor →
  encode the order, as direct calls in one thread (the same cores and the host's own
  ``Dispatcher`` and collector policy, no host, no threads, no journal), in virtual time
  (``FLOOR_STEP_NS`` per tick), so its decisions are the same in every run: the orders it sent
  and a digest of their prices are checked against ``FLOOR_DECISIONS`` (``check_decisions``;
  a faster hot path must not decide differently).
- **pipeline**: the real engine node(s) fed by a load generator process over ZeroMQ (ipc), in
  the default placement (one process; the hot path shares one dispatcher thread) and in a
  multi-process placement (Feed+Book in one process, Strategy+executors in another, joined by
  ZeroMQ ipc). Latency is ``tick_to_order``: from the moment the engine read the tick's frame
  to the moment it handed the order frame to the venue socket — the same span as the floor, plus
  whatever the placement adds (dispatch, thread or process hops). ``md_wire`` (generator stamp →
  engine read) shows queueing in front of the engine and decides whether a rate is sustained.

JSON keys (stable): ``floor`` {``n``, ``p50``, ``p99``, ``p999`` (µs), ``orders_per_tick``,
``orders``, ``orders_digest``}; ``placements`` {name: {``rows``: [{``rate``, ``achieved_rate``,
``n``, ``p50``, ``p99``, ``p999``, ``md_wire_p50_first_us``, ``md_wire_p50_last_us``,
``ticks_seen``, ``sent``, ``orders_at_venue``, ``sustained``, ``ratio_p50``, ``ratio_p99``}],
``max_sustained_rate``}}; ``cpus``. docs/performance.md describes them and the method.

The human table (``format_table``) lists the placements in a fixed order (``PLACEMENT_ORDER``:
default, multiprocess, default-nosync), each one's rows by rate, lowest first, in columns sized to
their widest value; ``--json`` prints the result as measured (rows in the order they ran).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import zmq
from loguru import logger

import kernels
from actors.runtime import link_auth
from actors.runtime.dispatch import Dispatcher, Sink
from actors.runtime.host import GcPolicy
from actors.runtime.node import Node, build_shells
from scripts.launch.process import configure_logging
from transports.clock import LiveClock, perf_ns, sleep_s
from transports.config.engine import AppConfig, load_config_bytes
from transports.errors import CmcError
from transports.hdr import LatencyHist
from transports.latency import LatencyRecorder
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import Delta, MdMessage, NewOrder, Reject, Snapshot

BENCH_CONF = "bench.toml"


def bench_config() -> AppConfig:
    """Load the embedded bench config."""
    raw = resources.files("conf").joinpath(BENCH_CONF).read_bytes()
    return load_config_bytes(raw, f"conf/{BENCH_CONF}")


BENCH_MP_CONF = "bench-multiproc.toml"


def conf_path(name: str) -> Path:
    """Return the path of an embedded config file."""
    return Path(str(resources.files("conf").joinpath(name)))


def _pcts(hist: LatencyHist) -> dict[str, float]:
    """A row's ``n``, ``p50``, ``p99`` and ``p999`` (µs) from the HDR histogram."""
    if not hist.count:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "p999": float("nan")}
    s = hist.summary_us((50, 99, 99.9), 2)
    return {"n": s["count"], "p50": s["p50"], "p99": s["p99"], "p999": s["p999"]}


def _median_us(samples_ns: np.ndarray) -> float:
    """The median (µs) of a run of samples, nan if there is none."""
    if not len(samples_ns):
        return float("nan")
    return LatencyHist.of(samples_ns).percentiles_ns([50])[0] / 1e3


# --- the floor -----------------------------------------------------------------------------------


class _FloorSink(Sink):
    """The floor's venue: each ``@oe`` message is encoded; a NewOrder's send time is taken."""

    def __init__(self) -> None:
        self.orders: list[NewOrder] = []
        self.sent_ns: list[int] = []

    def send(self, actor: str, key: str, msg: Any) -> None:
        if key == "oe":
            encode(msg)
            if isinstance(msg, NewOrder):
                self.sent_ns.append(perf_ns())  # same instant the pipeline stamps
                self.orders.append(msg)


#: the floor's virtual time: a fixed start (2026-01-05 00:00 UTC) and one tick per 100 µs (10k
#: ticks/s). The cores see this time, never the wall clock, so the decisions of a floor run are
#: the same in every run and on every machine however long a tick takes (with the wall clock,
#: a slow run aged the quotes past ``max_quote_age_ms`` and decided less)
FLOOR_T0_NS = 1_767_571_200_000_000_000
FLOOR_STEP_NS = 100_000
#: the decisions of a floor run, per ``n_ticks``: (orders sent, sha256 of their "sym side px qty"
#: lines in order). A change of the hot path must not change them (``check_decisions``); a
#: deliberate change of the strategy's decisions updates them here
FLOOR_DECISIONS: dict[int, tuple[int, str]] = {
    300: (1000, "b70dc5695375d2f255095c8c21f578f3c210faecd74a2855c04e1117f90e582b"),
    5_000: (10400, "f8224d36ba50ba0113a4f225d1ccc30d4b7d27f65d230b95f40cbc3fe175b7c6"),
    30_000: (60400, "d67fb8acd5c45b1018408f8626956a686d8f39e8408bbc09a06c737b7c3e17b3"),
}


class BenchError(CmcError):
    """The bench's floor decided differently from its reference (``FLOOR_DECISIONS``)."""


def orders_digest(orders: list[NewOrder]) -> str:
    """sha256 (hex) of the orders' ``sym side px qty`` lines, in order."""
    h = hashlib.sha256()
    for o in orders:
        h.update(f"{o.sym} {o.side} {o.px} {o.qty}\n".encode())
    return h.hexdigest()


def check_decisions(floor: dict[str, Any], n_ticks: int) -> None:
    """Raise ``BenchError`` if a floor run of ``n_ticks`` sent other orders than its reference
    (no reference for that length: nothing to check)."""
    ref = FLOOR_DECISIONS.get(n_ticks)
    got = (floor["orders"], floor["orders_digest"])
    if ref is not None and got != ref:
        raise BenchError(f"the floor's decisions changed: {got} != reference {ref} "
                         f"({n_ticks} ticks)")


def run_floor(cfg: AppConfig, n_ticks: int) -> dict[str, Any]:
    """Run the same cores by direct calls in this thread, in virtual time (``FLOOR_STEP_NS`` per
    tick); return latency percentiles (µs, wall clock), the orders sent and their digest."""
    clock = LiveClock()
    names = {a for g in cfg.placement.groups for a in g.actors} - {"journal"}  # type: ignore[union-attr]
    shells = build_shells(cfg, "/nonexistent", clock, LatencyRecorder(), None, names)
    cores = {n: s.core for n, s in shells.items()}
    md = Codec[Any](MdMessage)
    now = FLOOR_T0_NS
    sink = _FloorSink()
    orders, sent_ns = sink.orders, sink.sent_ns
    # the host's routing without the host: no journal, timers armed but never due here
    disp = Dispatcher(cores, sink, journaling=False, fire=False)

    def run(dest: str, msg: Any, now_ns: int) -> None:
        disp.route("@md", [(dest, msg)], now_ns)

    for name, core in cores.items():
        disp.start(name, core, now)
    syms = {"bench-a": ("au2606", 30_700), "bench-b": ("GCZ6", 26_500),
            "bench-fx": ("USDCNH", 72_000)}
    for venue, (sym, mid) in syms.items():
        snap = Snapshot(sym=sym, seq=0, ts=now, b=[(mid - 1 - i, 100) for i in range(5)],
                        a=[(mid + 1 + i, 100) for i in range(5)])
        run(f"feed.{venue}", snap, now)
    frames = []
    seqs = {"bench-a": 0, "bench-b": 0}
    for i in range(n_ticks + 400):
        venue = "bench-a" if i % 2 == 0 else "bench-b"
        sym, mid = syms[venue]
        seqs[venue] += 1
        frames.append((venue, encode(Delta(sym=sym, seq=seqs[venue],
                                           ts=now + (i + 1) * FLOOR_STEP_NS,
                                           b=[(mid - 1, 100 + i % 7)], a=[]))))
    lat = LatencyHist()
    ticks_with_orders = 0
    # the collector as a host keeps it (``actors.runtime.host.GcPolicy``), between two ticks as
    # a host does between two dispatch cycles: the floor is the hosted cores' cost
    gcp = GcPolicy()
    for i, (venue, frame) in enumerate(frames):
        now_ns = now + (i + 1) * FLOOR_STEP_NS
        gcp.due(perf_ns())
        n_before = len(orders)
        t0 = perf_ns()
        msg = md.decode(frame)
        run(f"feed.{venue}", msg, now_ns)
        if len(orders) > n_before:
            if i >= 400:
                ticks_with_orders += 1
                for t in sent_ns[n_before:]:
                    lat.record(t - t0)
            # the venue rejects at once (not timed), so the strategy is flat for the next tick
            for o in orders[n_before:]:
                leg = "leg.bench-a" if o.sym == "au2606" else "leg.bench-b"
                run(leg, Reject(cl=o.cl, code="bench", reason="bench", ts=0), now_ns)
    return {**_pcts(lat),
            "orders_per_tick": round(ticks_with_orders / max(1, len(frames) - 400), 3),
            "orders": len(orders), "orders_digest": orders_digest(orders)}


# --- the pipeline --------------------------------------------------------------------------------


class _Proc:
    def __init__(self, cmd: list[str]) -> None:
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  stdin=subprocess.DEVNULL)

    def expect(self, word: str, timeout_s: float = 60.0) -> None:
        import selectors

        assert self.p.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.p.stdout, selectors.EVENT_READ)
        while True:
            if not sel.select(timeout_s):
                raise RuntimeError(f"timed out waiting for {word!r}")
            line = self.p.stdout.readline().decode().strip()
            if not line:
                raise RuntimeError(f"process ended before {word!r} (exit {self.p.poll()})")
            if line.startswith(word):
                return

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


def run_pipeline(cfg: AppConfig, multiprocess: bool, rate: float, seconds: float,
                 conf_path: Path) -> dict[str, Any]:
    """Run the engine against the load generator at ``rate`` ticks/s; return percentiles."""
    sock = tempfile.mkdtemp(prefix="cmcb-")
    run_dir = Path(tempfile.mkdtemp(prefix="cmcb-run-"))
    clock = LiveClock()
    ctx: zmq.Context[Any] = zmq.Context()
    out = run_dir / "gateway.json"
    gw = _Proc([sys.executable, "-m", "scripts.bench.gateway", "--sock", sock, "--rate",
                str(rate), "--seconds", str(seconds), "--out", str(out)])
    exec_proc = None
    node = None
    first_wire = LatencyHist()
    try:
        node = Node(cfg, "md" if multiprocess else "engine", ctx, clock, sock, run_dir)
        if multiprocess:
            # the node link is CURVE-authenticated as in a launch; `cmc node` loads the pair
            link_auth.attach(ctx, link_auth.write_link_keys(run_dir)[0])
            exec_proc = _Proc([sys.executable, "-m", "scripts.cli", "node", "--conf",
                               str(conf_path), "--node", "exec", "--sock", sock, "--run-dir",
                               str(run_dir)])
            exec_proc.expect("READY")
        node.start()
        gw.expect("SYNCED")
        gw.expect("MEASURE")
        node.latency.reset()
        if exec_proc is not None:
            exec_proc.p.send_signal(signal.SIGUSR1)  # reset its recorder too
        # md_wire of the run's first quarter: a copy of the histogram a quarter in
        sleep_s(seconds / 4)
        first_wire.merge(node.latency.hist("md_wire"))
        gw.expect("DONE", timeout_s=seconds + 60)
    finally:
        if node is not None:
            node.stop()
        if exec_proc is not None:
            exec_proc.stop()
        gw.stop()
        if node is not None:
            node.close_send_sockets()
        link_auth.detach(ctx)
        ctx.destroy(linger=0)
    stats = msgspec.json.decode(out.read_bytes()) if out.exists() else {}
    # the whole run's histograms (the exec node's, in its own process, merged in) and the last
    # samples of each hop in order (for "still growing at the end")
    rec = node.latency if node is not None else LatencyRecorder()
    recent = rec.dump()
    if multiprocess:
        hdr = run_dir / "latency-exec.hdr.json"
        if hdr.exists():
            rec.merge_encoded({k: v for k, v in msgspec.json.decode(hdr.read_bytes()).items()
                               if k != "md_wire"})
        npz = run_dir / "latency-exec.npz"
        if npz.exists():
            with np.load(npz) as z:
                recent.update({k: z[k] for k in z.files if k != "md_wire"})
    t2o = recent.get("tick_to_order", np.zeros(0, np.int64))
    wire = recent.get("md_wire", np.zeros(0, np.int64))
    n_wire = rec.count("md_wire")
    # the last quarter of the run (of the retained samples, the last ones, once there are more)
    q = max(1, min(len(wire) // 2, n_wire // 4))
    wire_first = first_wire.percentiles_ns([50])[0] / 1e3 if first_wire.count else float("nan")
    wire_last = _median_us(wire[-q:])
    achieved = stats.get("sent", 0) / stats["send_s"] if stats.get("send_s") else 0.0
    q2 = max(1, min(len(t2o) // 2, rec.count("tick_to_order") // 4))
    t2o_last = _median_us(t2o[-q2:])
    # sustained: every tick seen, the generator kept its rate, and in the last quarter of the
    # run neither the queue in front of the engine (md_wire) nor the decision path
    # (tick_to_order, which includes any inter-node hop) had grown past 5 ms
    sustained = bool(n_wire >= 0.99 * stats.get("sent", 1) and achieved >= 0.95 * rate
                     and wire_last <= 5000.0 and t2o_last <= 5000.0)
    return {"rate": rate, "achieved_rate": round(achieved), **_pcts(rec.hist("tick_to_order")),
            "md_wire_p50_first_us": round(wire_first, 1),
            "md_wire_p50_last_us": round(wire_last, 1), "ticks_seen": n_wire,
            "sent": stats.get("sent", 0), "orders_at_venue": stats.get("orders", 0),
            "sustained": sustained}


def run_tick_to_trade(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Measure the floor and the pipeline in both placements; return everything."""
    configure_logging(None, "WARNING", quiet=True)
    kernels.warm_up()
    cfg = bench_config()
    seconds = 1.0 if quick else 3.0
    n_floor = 5_000 if quick else 30_000

    def say(text: str) -> None:
        if progress:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    say("floor: direct calls in one thread ...")
    floor = run_floor(cfg, n_floor)
    check_decisions(floor, n_floor)  # a faster hot path must decide exactly as before
    say(f"  p50 {floor['p50']} µs  p99 {floor['p99']} µs")
    result: dict[str, Any] = {"floor": floor, "placements": {},
                              "cpus": len(os.sched_getaffinity(0))}
    for label, mp, durable in (("default", False, True), ("multiprocess", True, True),
                               ("default-nosync", False, False)):
        path = conf_path(BENCH_MP_CONF if mp else BENCH_CONF)
        pcfg = load_config_bytes(path.read_bytes(), str(path))
        if not durable:
            # the same placement with order intents written but not fdatasync'ed: what the
            # disk's sync latency costs per tick (the default keeps intents durable)
            path = Path(tempfile.mkdtemp(prefix="cmcb-conf-")) / "bench-nosync.toml"
            path.write_bytes(conf_path(BENCH_CONF).read_bytes().replace(
                b"[run]\n", b"[run]\ndurable_intents = false\n", 1))
            pcfg = load_config_bytes(path.read_bytes(), str(path))
        rows = []
        rates = [1_000.0, 10_000.0]
        for rate in rates:
            say(f"{label}: {rate:.0f} ticks/s for {seconds:.0f}s ...")
            rows.append(run_pipeline(pcfg, mp, rate, seconds, path))
            say(f"  p50 {rows[-1]['p50']} µs  p99 {rows[-1]['p99']} µs  "
                f"sustained {rows[-1]['sustained']}")
        best = None
        rate = 20_000.0
        while rate <= (40_000.0 if quick else 160_000.0):
            say(f"{label}: {rate:.0f} ticks/s (searching the maximum) ...")
            row = run_pipeline(pcfg, mp, rate, seconds, path)
            say(f"  achieved {row['achieved_rate']}  p50 {row['p50']} µs  p99 {row['p99']} µs "
                f" sustained {row['sustained']}")
            if not row["sustained"]:
                rows.append(row)
                break
            best = row
            rate *= 2
        if best is not None:
            rows.append(best)
        for r in rows:
            r["ratio_p50"] = round(r["p50"] / floor["p50"], 2) if floor["p50"] else None
            r["ratio_p99"] = round(r["p99"] / floor["p99"], 2) if floor["p99"] else None
        result["placements"][label] = {
            "rows": rows,
            "max_sustained_rate": best["rate"] if best else max(
                (r["rate"] for r in rows if r["sustained"]), default=0),
        }
    return result


#: the human table's placements, in this order (any other placement follows, by name); within a
#: placement the rows go by rate, lowest first (the JSON keeps the order they were measured in)
PLACEMENT_ORDER = ("default", "multiprocess", "default-nosync")
_COLUMNS = (("placement", "<"), ("rate", ">"), ("achieved", ">"), ("p50 µs", ">"),
            ("p99 µs", ">"), ("p99.9 µs", ">"), ("×p50", ">"), ("×p99", ">"), ("sustained", "<"))


def _cell(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.0f}" if x.is_integer() and abs(x) >= 100 else f"{x:.2f}"
    return str(x)


def format_table(result: dict[str, Any]) -> str:
    """The benchmark as an aligned table: columns sized to their widest cell and kept apart by
    two spaces; placements in ``PLACEMENT_ORDER``, each one's rows by rate (lowest first),
    then each placement's maximum sustained rate."""
    f = result["floor"]
    places = result["placements"]
    names = [n for n in PLACEMENT_ORDER if n in places] + sorted(
        n for n in places if n not in PLACEMENT_ORDER)
    rows = [[_cell(c) for c in (name, r["rate"], r["achieved_rate"], r["p50"], r["p99"],
                                r["p999"], r.get("ratio_p50"), r.get("ratio_p99"),
                                r["sustained"])]
            for name in names for r in sorted(places[name]["rows"], key=lambda r: r["rate"])]
    head = [c for c, _ in _COLUMNS]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            f"{c:{al}{w}}" for c, (_, al), w in zip(cells, _COLUMNS, widths, strict=True)
        ).rstrip()

    out = [f"floor (direct calls, one thread): p50 {f['p50']} µs  p99 {f['p99']} µs  "
           f"p99.9 {f['p999']} µs  (n={f['n']})", "", line(head)]
    out += [line(r) for r in rows]
    out.append("")
    w = max((len(n) for n in names), default=0)
    out += [f"{n:<{w}}  max sustained rate: {places[n]['max_sustained_rate']:.0f} ticks/s"
            for n in names]
    return "\n".join(out) + "\n"


def print_table(result: dict[str, Any]) -> None:
    """Print the benchmark as a table (``format_table``)."""
    sys.stdout.write(format_table(result))
    logger.debug("bench done")
