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
``ticks_seen``, ``sent``, ``orders_at_venue``, ``sustained``, ``ratio_p50``, ``ratio_p99``,
``ratio_p50_idle``, ``cpu_us_per_tick`` {group: CPU µs of that host thread per tick read, over
the measured part, for the groups hosted in the bench's process (in the multi-process placement
the hot group runs in another process and is not listed)}, ``pacing`` ("precise": each tick
at its due time; "burst": above ``PRECISE_MAX_RATE``, every tick due after a short sleep: see
``scripts.bench.gateway``), ``generator_cpu_us_per_tick`` (the load generator's own CPU µs per
tick sent: what it took of the machine)}], ``max_sustained_rate``}};
``floor_idle`` {the ``floor`` keys and ``idle_us``}: the floor again with the thread asleep
``IDLE_GAP_S`` after every tick (the gap of a 1,000 ticks/s pipeline), so each tick runs on a
CPU that went idle as a pipeline's does; ``floor_checkpointed`` {the ``floor`` keys}: the floor
with the cores checkpointed first as a host does every ``checkpoint_interval_s`` (it must equal
the floor: a checkpoint once left every later tick ~12 % slower, docs/performance.md step 31);
``ratio_p50_idle`` is a row's p50 over the idle floor's (what the placement adds beyond waking
up); ``cpus``. docs/performance.md describes them and the method.

The human table (``format_table``) lists the placements in a fixed order (``PLACEMENT_ORDER``:
default, multiprocess, default-nosync), each one's rows by rate, lowest first, in columns sized to
their widest value; ``--json`` prints the result as measured (rows in the order they ran).
"""

from __future__ import annotations

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
from actors.runtime.node import Node
from scripts.bench.cpu import thread_cpu_s
from scripts.bench.floor import (
    FLOOR_DECISIONS,
    FLOOR_STEP_NS,
    FLOOR_T0_NS,
    BenchError,
    check_decisions,
    orders_digest,
    pcts,
    run_floor,
)
from scripts.bench.gateway import PRECISE_MAX_RATE

# the floor lives in ``scripts.bench.floor``; its names are re-exported here (tests and tools
# import them from the bench)
__all__ = ["FLOOR_DECISIONS", "FLOOR_STEP_NS", "FLOOR_T0_NS", "BenchError", "bench_config",
           "check_decisions", "format_table", "orders_digest", "run_floor", "run_tick_to_trade"]
from scripts.launch.process import configure_logging
from transports.clock import LiveClock, sleep_s
from transports.config.engine import AppConfig, load_config_bytes
from transports.hdr import LatencyHist
from transports.latency import LatencyRecorder

BENCH_CONF = "bench.toml"
#: the idle floor's sleep after each tick (a 1,000 ticks/s pipeline's gap) and its lengths
#: (full, ``--quick``): references in ``FLOOR_DECISIONS``, so its decisions are checked too
IDLE_GAP_S = 0.001
IDLE_TICKS, IDLE_TICKS_QUICK = 5_000, 300


def bench_config() -> AppConfig:
    """Load the embedded bench config."""
    raw = resources.files("conf").joinpath(BENCH_CONF).read_bytes()
    return load_config_bytes(raw, f"conf/{BENCH_CONF}")


BENCH_MP_CONF = "bench-multiproc.toml"


def conf_path(name: str) -> Path:
    """Return the path of an embedded config file."""
    return Path(str(resources.files("conf").joinpath(name)))


def _median_us(samples_ns: np.ndarray) -> float:
    """The median (µs) of a run of samples, nan if there is none."""
    if not len(samples_ns):
        return float("nan")
    return LatencyHist.of(samples_ns).percentiles_ns([50])[0] / 1e3


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
    cpu_per_tick: dict[str, float] = {}
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
        cpu0 = thread_cpu_s()
        if exec_proc is not None:
            exec_proc.p.send_signal(signal.SIGUSR1)  # reset its recorder too
        # md_wire of the run's first quarter: a copy of the histogram a quarter in
        sleep_s(seconds / 4)
        first_wire.merge(node.latency.hist("md_wire"))
        gw.expect("DONE", timeout_s=seconds + 60)
        cpu1 = thread_cpu_s()
        n_md = node.latency.count("md_wire")
        # CPU per tick of each host thread here (the hot group's, in the default placement): what
        # a tick costs the engine however busy the machine is (the wall-clock rows measure the
        # scheduler too); ordering ticks included
        cpu_per_tick = {name.removeprefix("host-"): round((t - cpu0.get(name, 0.0)) * 1e6
                                                          / max(1, n_md), 2)
                        for name, t in sorted(cpu1.items())}
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
    return {"rate": rate, "achieved_rate": round(achieved), **pcts(rec.hist("tick_to_order")),
            "md_wire_p50_first_us": round(wire_first, 1),
            "md_wire_p50_last_us": round(wire_last, 1), "ticks_seen": n_wire,
            "sent": stats.get("sent", 0), "orders_at_venue": stats.get("orders", 0),
            "sustained": sustained, "cpu_us_per_tick": cpu_per_tick,
            "pacing": "precise" if rate <= PRECISE_MAX_RATE else "burst",
            "generator_cpu_us_per_tick": round(stats.get("cpu_s", 0.0) * 1e6
                                               / max(1, stats.get("sent", 0)), 2)}


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
    n_idle = IDLE_TICKS_QUICK if quick else IDLE_TICKS
    say(f"idle floor: the same, asleep {IDLE_GAP_S * 1e6:.0f} µs after each tick ...")
    idle = run_floor(cfg, n_idle, IDLE_GAP_S)
    check_decisions(idle, n_idle)
    idle["idle_us"] = round(IDLE_GAP_S * 1e6)
    say(f"  p50 {idle['p50']} µs  p99 {idle['p99']} µs")
    say("checkpointed floor: the same after a checkpoint of the cores ...")
    ckpt = run_floor(cfg, n_floor, checkpoint=True)
    check_decisions(ckpt, n_floor)
    say(f"  p50 {ckpt['p50']} µs  p99 {ckpt['p99']} µs")
    result: dict[str, Any] = {"floor": floor, "floor_idle": idle, "floor_checkpointed": ckpt,
                              "placements": {}, "cpus": len(os.sched_getaffinity(0))}
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
            r["ratio_p50_idle"] = round(r["p50"] / idle["p50"], 2) if idle["p50"] else None
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
            ("p99 µs", ">"), ("p99.9 µs", ">"), ("×p50", ">"), ("×p99", ">"), ("×idle", ">"),
            ("hot cpu µs/tick", ">"), ("sustained", "<"))


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
                                r.get("ratio_p50_idle"),
                                r.get("cpu_us_per_tick", {}).get("hot"), r["sustained"])]
            for name in names for r in sorted(places[name]["rows"], key=lambda r: r["rate"])]
    head = [c for c, _ in _COLUMNS]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            f"{c:{al}{w}}" for c, (_, al), w in zip(cells, _COLUMNS, widths, strict=True)
        ).rstrip()

    out = [f"floor (direct calls, one thread): p50 {f['p50']} µs  p99 {f['p99']} µs  "
           f"p99.9 {f['p999']} µs  (n={f['n']})"]
    fc = result.get("floor_checkpointed")
    if fc:
        out.append(f"checkpointed floor (after a checkpoint of the cores): p50 {fc['p50']} µs  "
                   f"p99 {fc['p99']} µs  p99.9 {fc['p999']} µs  (n={fc['n']})")
    fi = result.get("floor_idle")
    if fi:
        out.append(f"idle floor (asleep {fi['idle_us']} µs after each tick): p50 {fi['p50']} µs  "
                   f"p99 {fi['p99']} µs  p99.9 {fi['p999']} µs  (n={fi['n']})")
    out += ["", line(head)]
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
