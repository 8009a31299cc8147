"""``cmc drill crash``: kill the trade node at random instants and judge the engine from the
venue's record.

The drill a desk runs before going live: the simulator and a two-process launch
(``conf/launch-demo.toml``, made fast and without the admin socket), SIGKILL of the node that
holds the hot path ``kills`` times while it trades — the first right after a combo's first leg
left and before the second (the node's own test/drill kill hook), the others at seeded random
instants — each time restarted by the launcher, then SIGTERM (flatten, halt, stop). Every
verdict comes from the simulator's own record
(``truth.json``: every order it received, every trade it made) and, for the engine's side of
the fill set, from the run's journal:

- ``duplicate_client_ids``: no client order id reached the venue twice;
- ``fills_equal``: the engine's fill reports (journal, deduplicated by trade id) are the venue's
  trades of the engine's accounts — a fill the engine never learnt of is a lost fill;
- ``worst_exposure_g`` / ``final_exposure_g``: net exposure of the underlying from the venue's
  fills over time, and at the end, against the lot residual of the pair;
- ``max_leg_lots`` against the spread limit (``max_spread_position`` clips of each leg);
- ``time_to_flat_ms`` after each kill: from the kill until the venue's net exposure is back
  within the residual.

Exit code 1 when an oracle fails, 2 on a configuration error.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import zmq

from kernels.lots import best_lot_pair
from scripts.launch.process import ref_request
from transports.clock import LiveClock, sleep_s
from transports.config.engine import AppConfig, load_config
from transports.errors import CmcError
from transports.journal.reader import read_journal
from transports.wire.messages import ExecReport

#: edits that make the launch demo trade within seconds and run without admin keys
_FAST = {"z_window = 1500": "z_window = 200", "dislocation_every_s = 3.0":
         "dislocation_every_s = 1.5", "warmup_s = 4.0 ": "warmup_s = 2.0 ",
         'log_level = "INFO"': 'log_level = "WARNING"', "[admin]\nenabled = true":
         "[admin]\nenabled = false"}


#: how far apart our clock and the venue's may be when a kill is placed in the venue's record
CLOCKS_MARGIN_NS = 100_000_000


class DrillFailed(CmcError):
    """The drill could not run (a launch that did not start, a node that never came back)."""


def drill_config(out: Path, sock_dir: str, kills: int, seed: int) -> Path:
    """Write the drill's launch config into ``out`` and return its path."""
    text = resources.files("conf").joinpath("launch-demo.toml").read_text()
    edits = {**_FAST, "seed = 7\n": f"seed = {seed}\n",
             "[supervision.nodes]\nrestart = true\nmax_restarts = 3":
             f"[supervision.nodes]\nrestart = true\nmax_restarts = {kills + 2}"}
    for old, new in edits.items():
        if old not in text:
            raise DrillFailed(f"conf/launch-demo.toml no longer contains {old!r}")
        text = text.replace(old, new)
    text = text.replace('[launch]\n', f'[launch]\nrun_dir = "{out / "run"}"\n'
                        f'sock_dir = "{sock_dir}"\n', 1)
    path = out / "drill.toml"
    path.write_text(text)
    return path


def _hot_node(cfg: AppConfig) -> str:
    assert cfg.placement is not None
    for g in cfg.placement.groups:
        if "combo" in g.actors:
            return g.node
    raise DrillFailed("no placement group holds the combo executor")


class _Launch:
    """``cmc launch`` as a child process, and what its status file says."""

    def __init__(self, conf: Path, log: Path, env: dict[str, str]) -> None:
        self.log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", "launch", str(conf),
                                      "--quiet"], stdout=subprocess.PIPE, stderr=self.log,
                                     env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode(errors="replace").strip()
        if not line.startswith("READY"):
            self.stop()
            raise DrillFailed(f"the launch did not start (exit {self.proc.poll()}); see {log}")
        self.status_path = Path(line.split(" ", 1)[1])

    def status(self) -> dict[str, Any]:
        return json.loads(self.status_path.read_text())  # type: ignore[no-any-return]

    def node_pid(self, node: str) -> int:
        return int(self.status()["nodes"][node]["pid"])

    def stop(self, timeout_s: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        return self.proc.returncode


def _wait(pred: Any, timeout_s: float, what: str) -> Any:
    clock = LiveClock()
    end = clock.mono_ns() + int(timeout_s * 1e9)
    while clock.mono_ns() < end:
        got = pred()
        if got:
            return got
        sleep_s(0.05)
    raise DrillFailed(f"{what} within {timeout_s:g} s")


def run_drill(kills: int = 5, seed: int = 1, out_dir: str | None = None,
              progress: Any = None, bar: bool = False) -> dict[str, Any]:
    """Run the drill; return the report (``ok`` False when an oracle failed). ``progress`` is
    told each step in words; ``bar`` shows the kills done as a bar (on a terminal only)."""
    from scripts.progress import progress_bar

    say = progress or (lambda _t: None)
    out = Path(out_dir or tempfile.mkdtemp(prefix="cmc-drill-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sock_dir = tempfile.mkdtemp(prefix="cmcd-")
    conf = drill_config(out, sock_dir, kills, seed)
    cfg = load_config(str(conf))
    node = _hot_node(cfg)
    rng = random.Random(seed)
    clock = LiveClock()
    ctx: zmq.Context[Any] = zmq.Context()
    ref = cfg.venues[0].ref.replace("{sock}", sock_dir)
    kill_ns: list[int] = []
    # the first kill lands between the legs of a combo: the node kills itself right after the
    # first leg's frame left (the test/drill hook of
    # ``actors.runtime.shells.kill_hook.KillHook``),
    # at a seeded combo, once (the restarted node, same environment, runs on)
    between = out / "kill-between-legs"
    env = {**os.environ, "CMC_TEST_KILL_AT": "after_first_send",
           "CMC_TEST_KILL_SKIP": str(rng.randint(0, 2)), "CMC_TEST_KILL_ONCE": str(between)}
    launch = _Launch(conf, out / "launch.log", env)
    with progress_bar(kills, "kills", "kill", enabled=bar) as shown:
        try:
            def orders() -> int:
                return len(ref_request(ctx, ref, {"t": "sim.truth"})["truth"]["orders"])

            def restarted(pid: int) -> bool:
                st = launch.status()["nodes"][node]
                return st.get("pid") not in (pid, None, 0) and st.get("state") == "running"

            say(f"{kills} kills of node {node!r}, the first between the legs of a combo")
            pid = launch.node_pid(node)
            _wait(between.exists, 90, "the node never reached the kill between two legs")
            kill_ns.append(between.stat().st_mtime_ns)  # written just before its SIGKILL
            say(f"kill 1/{kills}: pid {pid}, after a first leg left")
            _wait(lambda: restarted(pid), 60, f"node {node} was not restarted")
            shown.advance()
            for k in range(1, kills):
                # each kill lands while the node trades: after its (re)start sent a new order,
                # at a random instant of the next seconds (mid-combo as often as not)
                seen = orders()
                _wait(lambda n=seen: orders() > n, 60, "no new order reached the venue")
                sleep_s(rng.uniform(0.0, 1.5))
                pid = launch.node_pid(node)
                os.kill(pid, signal.SIGKILL)
                kill_ns.append(clock.now_ns())
                say(f"kill {k + 1}/{kills}: pid {pid}")
                _wait(lambda p=pid: restarted(p), 60, f"node {node} was not restarted")
                shown.advance()
            shown.note("the last restart trades")
            sleep_s(3.0)  # let the last restart trade
        finally:
            code = launch.stop()
            ctx.destroy(linger=0)
    say(f"launch stopped (exit {code})")
    return judge(cfg, out / "run", kill_ns, {"kills": kills, "seed": seed, "exit": code,
                                             "run_dir": str(out / "run")})


def journal_fills(run: Path) -> set[tuple[str, str]]:
    """(client id, trade id) of every fill the engine reported to ``risk`` (the journal's
    record of it, deduplicated by trade id)."""
    fills: set[tuple[str, str]] = set()
    for _ts, _group, dest, msg in read_journal(run):
        if dest == "risk" and isinstance(msg, list) and msg and msg[0] == "ExecReport":
            rep = msgspec.convert(msg, ExecReport)
            if rep.kind == "fill":
                fills.add((rep.cl, rep.trade_id))
    return fills


def judge(cfg: AppConfig, run: Path, kill_ns: list[int], meta: dict[str, Any]) -> dict[str, Any]:
    """The oracles, from ``run``'s ``truth.json`` (the venue) and journal (the engine)."""
    truth = json.loads((run / "truth.json").read_text())
    accounts = {v.account for v in cfg.venues if v.trading}
    base = {c.sym: c.base_per_lot for c in cfg.contracts}
    venue_fills = [f for f in truth["fills"] if f["account"] in accounts]
    cls = [o["cl"] for o in truth["orders"] if o["account"] in accounts]
    dup = sorted({c for c in cls if cls.count(c) > 1})
    engine = journal_fills(run)
    venue = {(f["cl"], f["tid"]) for f in venue_fills}
    lots = [b for b in base.values() if b > 0]
    pair = cfg.pairs[0]
    # what a perfect hedge still leaves (the pair's lot ratio), or half the smallest lot
    _, _, clip_residual = best_lot_pair(base[pair.leg_a.split(":")[1]],
                                        base[pair.leg_b.split(":")[1]],
                                        pair.max_clip_lots_a, pair.max_clip_lots_b)
    tol = max(min(lots) / 2, abs(float(clip_residual))) + 1e-6
    net, worst, pos, max_lots = 0.0, 0.0, {}, 0
    timeline: list[tuple[int, float]] = []
    for f in sorted(venue_fills, key=lambda f: f["ts"]):
        sign = 1 if f["side"] == "B" else -1
        net += sign * f["qty"] * base.get(f["sym"], 0.0)
        key = f["sym"]
        pos[key] = pos.get(key, 0) + sign * f["qty"]
        max_lots = max(max_lots, abs(pos[key]))
        worst = max(worst, abs(net))
        timeline.append((f["ts"], net))
    limit_lots = pair.max_spread_position * max(pair.max_clip_lots_a, pair.max_clip_lots_b)
    # after each kill: how long until the venue's net exposure was back within the residual
    # once everything the killed process had sent had traded (0 when nothing it sent traded
    # after the kill and it was flat then; None when it never came back)
    # The kill times are our clock, the record's the venue's (a few ms apart here); a restarted
    # node sends nothing for far longer than CLOCKS_MARGIN_NS, so an order within it of the
    # kill was the killed process's.
    orders_ts = [(o["ts"], o["cl"]) for o in truth["orders"] if o["account"] in accounts]
    flat_after: list[float | None] = []
    for k in kill_ns:
        before = {cl for ts, cl in orders_ts if ts <= k + CLOCKS_MARGIN_NS}
        late = [f["ts"] for f in venue_fills if f["cl"] in before
                and f["ts"] > k - CLOCKS_MARGIN_NS]
        level = next((n for ts, n in reversed(timeline) if ts <= k), 0.0)
        if not late and abs(level) <= tol:
            flat_after.append(0.0)
            continue
        since = max([k, *late])
        # flat already once the last of them traded (its fills all landed within the clocks'
        # margin before the kill): back at ``since``; else the first fill that brings it back
        at_since = next((n for ts, n in reversed(timeline) if ts <= since), 0.0)
        back = since if abs(at_since) <= tol else next(
            (ts for ts, n in timeline if ts >= since and abs(n) <= tol), None)
        flat_after.append(None if back is None else round((back - k) / 1e6, 1))
    report = {**meta, "kill_ns": list(kill_ns), "orders": len(cls), "fills": len(venue_fills),
              "duplicate_client_ids": dup, "fills_equal": engine == venue,
              "engine_only_fills": sorted(engine - venue)[:5],
              "venue_only_fills": sorted(venue - engine)[:5],
              "worst_exposure_g": round(worst, 2), "final_exposure_g": round(net, 2),
              "residual_g": round(tol, 2), "max_leg_lots": max_lots, "limit_leg_lots": limit_lots,
              "time_to_flat_ms": flat_after}
    failures = []
    if dup:
        failures.append("a client order id reached the venue twice")
    if engine != venue:
        failures.append("the engine's fills differ from the venue's trades")
    if abs(net) > tol:
        failures.append(f"final exposure {net:+.1f} g beyond the residual {tol:.1f} g")
    if max_lots > limit_lots:
        failures.append(f"a leg held {max_lots} lots, beyond the spread limit {limit_lots}")
    if any(t is None for t in flat_after):
        failures.append("exposure never came back within the residual after a kill")
    report["failures"] = failures
    report["ok"] = not failures
    return report


__all__ = ["DrillFailed", "journal_fills", "judge", "run_drill"]
