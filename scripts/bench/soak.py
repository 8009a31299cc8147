"""``cmc bench soak``: the demo market for N minutes at a steady tick rate; does memory grow?

It runs ``cmc demo`` (the simulator gateway process and the engine in the default placement, as
a user runs it: ``scripts.demo.demo.run_demo``) as a child process, with the demo config's
market-data interval set so the simulated venues publish ``--rate`` book updates per second in
total (``soak_conf_text``; by default the demo's own ~120/s), and samples with psutil every few
seconds the resident memory (RSS) of the engine process (the ``cmc demo`` process: the engine's
hosts run in it) and of its whole process tree (the engine plus the simulator).

The trading window starts when the simulator child appears (the kernels are warm and the venues
up: the node starts right after) and lasts the demo's ``--duration``; samples after it (the
demo's shutdown and summary) are kept but not judged. The verdict (``verdict``) is on the
engine's RSS in the trading window: the first third is warm-up; over the last two thirds the
least-squares slope (MB/min) and the last sample minus the one at the end of warm-up (MB).
``growing`` when both exceed their limits (``SLOPE_LIMIT_MB_PER_MIN``, ``DELTA_LIMIT_MB``): one
alone is noise on a short run.

JSON keys (``run_soak``): ``minutes``, ``rate`` (book updates/s configured, all venues),
``interval_s``, ``samples`` [{``t_s`` (from the start of the run), ``phase`` (``startup`` |
``trading`` | ``shutdown``), ``engine_mb``, ``tree_mb``, ``procs``}], ``engine`` and ``tree``
(each the ``verdict`` of that series: ``warmup_end_s``, ``start_mb``, ``warmup_mb``,
``last_mb``, ``max_mb``, ``slope_mb_per_min``, ``last_minus_warmup_mb``, ``growing``),
``demo`` {``exit_code``, ``md_events``, ``combos``, ``failure``}, ``limits``
{``slope_mb_per_min``, ``delta_mb``}.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from transports.clock import LiveClock, sleep_s

SLOPE_LIMIT_MB_PER_MIN = 1.0  #: more than this after warm-up (and ``DELTA_LIMIT_MB``) is growth
DELTA_LIMIT_MB = 2.0
_MB = 1024 * 1024


def soak_conf_text(rate: float | None) -> tuple[str, float]:
    """The demo config with every simulated venue's ``md_interval_ms`` set so the venues publish
    ``rate`` book updates per second together (None: the demo's own); return it and the rate."""
    text = resources.files("conf").joinpath("demo.toml").read_text()
    intervals = [int(x) for x in re.findall(r"md_interval_ms = (\d+)", text)]
    if rate is None:
        return text, round(sum(1000.0 / i for i in intervals), 1)
    ms = max(1, round(len(intervals) * 1000.0 / rate))
    text = re.sub(r"md_interval_ms = \d+", f"md_interval_ms = {ms}", text)
    return text, round(len(intervals) * 1000.0 / ms, 1)


def _rss(p: psutil.Process) -> tuple[int, int, int]:
    """(the process's RSS, its tree's RSS, processes in the tree); 0s once it is gone."""
    try:
        own = p.memory_info().rss
        kids = p.children(recursive=True)
    except psutil.Error:
        return 0, 0, 0
    tree = own
    n = 1
    for k in kids:
        try:
            tree += k.memory_info().rss
            n += 1
        except psutil.Error:
            continue
    return own, tree, n


def verdict(t_s: np.ndarray, mb: np.ndarray, start_s: float, end_s: float) -> dict[str, Any]:
    """Judge one RSS series (MB at times in s) over the window ``[start_s, end_s]``: the first
    third is warm-up, the slope (MB/min, least squares) and last-minus-warm-up are over the
    rest. Pure: a unit test feeds it made-up samples."""
    m = (t_s >= start_s) & (t_s <= end_s)
    t, y = t_s[m], mb[m]
    out: dict[str, Any] = {"warmup_end_s": None, "start_mb": None, "warmup_mb": None,
                           "last_mb": None, "max_mb": None, "slope_mb_per_min": None,
                           "last_minus_warmup_mb": None, "growing": None}
    if len(t) < 3:
        return out
    warm = start_s + (end_s - start_s) / 3
    after = t >= warm
    if after.sum() < 2:
        return out
    ta, ya = t[after], y[after]
    slope = float(np.polyfit(ta / 60.0, ya, 1)[0]) if np.ptp(ta) > 0 else 0.0
    delta = float(ya[-1] - ya[0])
    out.update(warmup_end_s=round(warm, 1), start_mb=round(float(y[0]), 2),
               warmup_mb=round(float(ya[0]), 2), last_mb=round(float(ya[-1]), 2),
               max_mb=round(float(y.max()), 2), slope_mb_per_min=round(slope, 3),
               last_minus_warmup_mb=round(delta, 2),
               growing=bool(slope > SLOPE_LIMIT_MB_PER_MIN and delta > DELTA_LIMIT_MB))
    return out


def phase_of(t_s: float, trade0_s: float | None, duration_s: float, procs: int) -> str:
    """A sample's phase: ``startup`` until the demo's children (the gateway) are up (first seen
    at ``trade0_s``), ``trading`` while they are and the duration lasts, then ``shutdown``. The
    children gone means the demo is stopping (its clock started before ours saw them), and its
    stop-time work (summary, journal reads) must not count as the trading RSS."""
    if trade0_s is None:
        return "startup"
    return "trading" if t_s <= trade0_s + duration_s and procs > 1 else "shutdown"


def run_soak(minutes: float, rate: float | None = None, interval_s: float | None = None,
             progress: bool | None = None) -> dict[str, Any]:
    """Run the demo for ``minutes`` at ``rate`` book updates/s, sampling RSS every
    ``interval_s`` (default: 2 s up to 5 minutes, else 5 s); return the samples and verdicts
    (see the module for the keys). ``progress``: a tqdm bar on stderr (None: on a terminal)."""
    from tqdm import tqdm

    duration_s = minutes * 60.0
    interval = interval_s or (2.0 if minutes <= 5 else 5.0)
    text, actual_rate = soak_conf_text(rate)
    clock = LiveClock()
    samples: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cmcb-soak-") as d:
        tmp = Path(d)
        conf = tmp / "soak.toml"
        conf.write_text(text)
        cmd = [sys.executable, "-m", "scripts.cli", "demo", "--conf", str(conf), "--duration",
               str(duration_s), "--json", "--out", str(tmp / "runs")]
        with open(tmp / "demo.err", "wb") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                    stdin=subprocess.DEVNULL)
            ps = psutil.Process(proc.pid)
            t0 = clock.mono_ns()
            trade0: float | None = None
            bar = tqdm(total=round(duration_s), desc="bench soak", unit="s", file=sys.stderr,
                       disable=None if progress is None else not progress)
            try:
                while proc.poll() is None:
                    t = (clock.mono_ns() - t0) / 1e9
                    own, tree, n = _rss(ps)
                    if trade0 is None and n > 1:
                        trade0 = t
                    phase = phase_of(t, trade0, duration_s, n)
                    if own:
                        samples.append({"t_s": round(t, 2), "phase": phase,
                                        "engine_mb": round(own / _MB, 2),
                                        "tree_mb": round(tree / _MB, 2), "procs": n})
                    if trade0 is not None:
                        bar.n = min(round(duration_s), round(t - trade0))
                        bar.set_postfix_str(f"engine {own / _MB:.1f} MB")
                        bar.refresh()
                    _sleep_or_exit(proc, interval, clock)
                out, _ = proc.communicate(timeout=60)
            finally:
                bar.close()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
        summary: dict[str, Any] = {}
        try:
            summary = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
        except (ValueError, IndexError):
            summary = {}
        failure = "" if proc.returncode == 0 else (tmp / "demo.err").read_text()[-400:]
    start = trade0 if trade0 is not None else 0.0
    t = np.array([s["t_s"] for s in samples], dtype=np.float64)
    res = {
        "minutes": minutes,
        "rate": actual_rate,
        "interval_s": interval,
        "samples": samples,
        "limits": {"slope_mb_per_min": SLOPE_LIMIT_MB_PER_MIN, "delta_mb": DELTA_LIMIT_MB},
        "demo": {"exit_code": proc.returncode, "md_events": summary.get("md_events"),
                 "combos": summary.get("combos"), "failure": failure.strip()},
    }
    # only the trading samples are judged: a sample from the demo's stop (its children gone,
    # its summary being written) inside the window would read as growth
    trading = np.array([s["phase"] == "trading" for s in samples], dtype=bool)
    for key, field in (("engine", "engine_mb"), ("tree", "tree_mb")):
        y = np.array([s[field] for s in samples], dtype=np.float64)
        res[key] = verdict(t[trading], y[trading], start, start + duration_s)
    return res


def _sleep_or_exit(proc: subprocess.Popen[bytes], seconds: float, clock: LiveClock) -> None:
    """Sleep ``seconds`` in short steps, returning early once ``proc`` exits."""
    end = clock.mono_ns() + int(seconds * 1e9)
    while proc.poll() is None and clock.mono_ns() < end:
        sleep_s(min(0.1, max(0.0, (end - clock.mono_ns()) / 1e9)))


def format_table(r: dict[str, Any]) -> str:
    """The soak as text: an aligned table of the samples (one a minute, or each on a short run),
    then the verdict of the engine process and of the process tree."""
    samples = r["samples"]
    step = max(1, round(60.0 / r["interval_s"])) if r["minutes"] > 5 else 1
    shown = [s for i, s in enumerate(samples) if i % step == 0 or i == len(samples) - 1]
    head = ["t s", "phase", "engine MB", "tree MB", "procs"]
    rows = [[f"{s['t_s']:.0f}", s["phase"], f"{s['engine_mb']:.1f}", f"{s['tree_mb']:.1f}",
             str(s["procs"])] for s in shown]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    align = ["<" if i == 1 else ">" for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths, strict=True))

    out = [f"cmc bench soak: {r['minutes']:g} min at {r['rate']:g} book updates/s, RSS every "
           f"{r['interval_s']:g} s", "", line(head), *[line(x) for x in rows], ""]
    for key in ("engine", "tree"):
        v = r[key]
        word = {True: "GROWING", False: "no growth", None: "? (too few samples)"}[v["growing"]]
        out.append(f"{key:<6}  warm-up until {v['warmup_end_s']} s  slope "
                   f"{v['slope_mb_per_min']} MB/min  last - warm-up {v['last_minus_warmup_mb']} "
                   f"MB  max {v['max_mb']} MB  -> {word}")
    d = r["demo"]
    out.append(f"demo: exit {d['exit_code']}  md events {d['md_events']}  combos {d['combos']}"
               + (f"  ({d['failure'][-200:]})" if d["failure"] else ""))
    return "\n".join(out) + "\n"


__all__ = ["format_table", "run_soak", "soak_conf_text", "verdict"]
