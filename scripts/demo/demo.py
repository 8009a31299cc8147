"""``cmc demo``: the venue side in its own processes (the simulator, or local fakes of real
exchanges behind ccxt gateways, or paper gateways: ``scripts.demo.venues``), the engine in this
one, a summary at the end.

Everything the summary says about the market and the venue comes from the venues' own records
(the ground-truth opportunity windows, the orders they received and the fills they made), never
from the engine's view of itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec
import zmq
from loguru import logger

import kernels
from actors.runtime.instruments import check_instruments
from actors.runtime.node import Node
from scripts.demo.md_audit import decisions_on_unusable_book
from scripts.demo.summary import build_summary, check_summary
from scripts.demo.venues import VenueSide
from scripts.launch.process import configure_logging, new_run_dir, new_sock_dir
from transports.clock import LiveClock, sleep_s
from transports.config.engine import AppConfig, load_config
from transports.errors import DemoFailed
from transports.wire.messages import Flatten, Halt


def _wait(pred: Any, timeout_s: float, step_s: float = 0.05) -> bool:
    """Poll ``pred`` until true or the deadline passes (process-level orchestration only)."""
    clock = LiveClock()
    deadline = clock.mono_ns() + int(timeout_s * 1e9)
    while clock.mono_ns() < deadline:
        if pred():
            return True
        sleep_s(step_s)
    return bool(pred())


def run_demo(conf: str | None, duration_s: float | None, seed: int | None, out_dir: str | None,
             quiet: bool = False, faults: str | None = None) -> tuple[dict[str, Any], str]:
    """Run the demo; return the summary and a failure reason ('' when the run is clean).

    On a terminal (and not ``quiet``) a bar shows the seconds traded; the engine's info lines
    then go to the run's log file only, so they do not cut through it."""
    from scripts.progress import on_terminal, progress_bar

    cfg: AppConfig = load_config(conf)
    if faults:
        from transports.venues.sim.faults import load_preset

        load_preset(faults)  # a bad preset name fails here, naming it, before anything starts
    if seed is not None:
        cfg = msgspec.structs.replace(cfg, sim=msgspec.structs.replace(cfg.sim, seed=seed))
    duration = duration_s if duration_s is not None else cfg.run.duration_s
    clock = LiveClock()
    run_dir = new_run_dir(out_dir or cfg.run.out_dir, clock)
    configure_logging(run_dir, cfg.run.log_level, quiet or on_terminal(not quiet))
    sock_dir = new_sock_dir()
    logger.info("run directory {}", run_dir)
    # compile (or load) the Numba kernels before the market starts: on a fresh machine this
    # takes seconds, and the simulator's clock must not run while the engine cannot trade
    n_kernels = kernels.warm_up()
    venues = VenueSide(cfg, conf, sock_dir, run_dir, clock, faults=faults)
    ctx: zmq.Context[Any] = zmq.Context()
    node: Node | None = None
    try:
        venues.start()
        logger.info("instruments of {} checked against the venues",
                    check_instruments(cfg, ctx, sock_dir))
        logger.info("warmed {} kernels", n_kernels)
        pl = cfg.placement
        assert pl is not None
        node = Node(cfg, pl.nodes[0].name, ctx, clock, sock_dir, run_dir)
        if len(pl.nodes) > 1:
            raise DemoFailed("cmc demo runs one engine node; use `cmc launch` for several")
        node.start()
        trade_start_ns = clock.now_ns()
        t0 = clock.mono_ns()
        end = t0 + int(duration * 1e9)
        next_report = t0 + 5_000_000_000
        with progress_bar(duration, "demo", "s", enabled=not quiet) as bar:
            while clock.mono_ns() < end:
                sleep_s(0.05)
                bar.to((clock.mono_ns() - t0) / 1e9)
                if clock.mono_ns() >= next_report:
                    next_report += 5_000_000_000
                    c = node.query("combo")
                    combos = c.get("counters", {}).get("combos", 0)
                    logger.info("t+{:.0f}s combos {}", (clock.mono_ns() - t0) / 1e9, combos)
                    bar.note(f"combos {combos}")
        elapsed = (clock.mono_ns() - t0) / 1e9
        trade_end_ns = clock.now_ns()
        # stop opening, close what is open, then halt (which cancels anything still working)
        strategies = [f"strategy.{p.name}" for p in cfg.pairs]
        for s in strategies:
            node.tell(s, Flatten("shutdown"))
        node.tell("risk", Flatten("shutdown"))  # and what no strategy holds (an orphan)

        def flat() -> bool:
            assert node is not None
            snaps = [node.query(s) for s in strategies]
            return all(x["pending"] is None and x["pos_dir"] == 0 for x in snaps)

        if not _wait(flat, 15.0):
            logger.warning("strategies not flat 15 s after flatten")
        node.tell("risk", Halt("shutdown"))
        snaps = {a: node.query(a) for a in node.shells}
        host_counters = node.host_counters()
        latency = node.latency.summary_us()
    finally:
        if node is not None:
            node.stop()
        codes = venues.stop()
        ctx.destroy(linger=0)
    # each venue-side process writes its whole record when it exits: windows still open at the
    # end of the run are closed there, so this is the complete truth (a mid-run query is not)
    truth = venues.truth()
    summary = build_summary(cfg, elapsed, snaps, truth, latency,
                            str(node.journal_path) if node and node.journal_path else "",
                            (trade_start_ns, trade_end_ns))
    summary["actor_errors"] = {k[7:]: v for k, v in host_counters.items()
                               if k.startswith("errors.")}
    # inputs a host found only when its longest wait ran out (``actors.runtime.host.waiter``)
    summary["lost_wakeups"] = host_counters.get("io.lost_wakeups", 0)
    if node is not None and node.journal_path is not None:
        audit = decisions_on_unusable_book(node.journal_path, cfg)
        summary["decisions_on_unusable_book"] = audit["on_unusable_book"]
        if audit["examples"]:
            summary["unusable_book_examples"] = audit["examples"]
    summary["run_dir"] = str(run_dir)
    # every actor's final state, for a reader asking why something did (not) trade
    (run_dir / "actors.json").write_bytes(msgspec.json.format(msgspec.json.encode(snaps)))
    summary["sim_exit_code"] = max(codes.values(), key=abs) if codes else 0
    summary["venue_exit_codes"] = codes
    (run_dir / "summary.json").write_bytes(msgspec.json.format(msgspec.json.encode(summary)))
    return summary, check_summary(cfg, summary)


def print_human(summary: dict[str, Any]) -> None:
    """Print a readable summary on stdout."""
    from scripts.summary.text import OPPORTUNITY_NOTE, exposure_line, money, risk_state_text

    s = summary
    lat = s["latency_us"].get("tick_to_order", {})
    p = s["pnl"]
    ccy = p["currency"]
    units = s.get("exposure_units") or dict.fromkeys(s["final_exposure"], s["exposure_unit"])
    by_ccy = p.get("by_currency") or {}
    risk = s.get("risk", {})
    state = s.get("risk_state_text") or risk_state_text(
        risk.get("final_state"),
        [(c["ts_ns"], c["state"], c["reason"]) for c in risk.get("state_changes", [])], None)
    denials = risk.get("denials") or {}
    lines = [
        f"cmc demo — {s['duration_s']:.1f}s (run {s['run_dir']})",
        f"  market data events  {s['md_events']}",
        f"  opportunities       {s['opportunities']} ({s['opportunities_traded']} traded; raw "
        f"windows {s.get('opportunity_windows_raw', s['opportunities'])})",
        f"    what they are     {s.get('opportunities_note', OPPORTUNITY_NOTE)}",
        f"  combos              {s['combos']}  complete {s['combos_complete']}  "
        f"repaired {s['combos_repaired']}  failed {s.get('combos_failed', 0)}",
        f"  capture rate        {s['capture_rate']:.3f} of all windows, "
        f"{s['capture_rate_eligible']:.3f} of the {s['opportunities_eligible']} longer than "
        f"{s['eligible_min_window_ms']:.1f} ms (twice the order round trip)",
        f"  avg slippage        {s['avg_slippage_ticks']:.3f} ticks",
        f"  PnL                 {money(p['net'], ccy)} net = gross {money(p['gross'], ccy)} "
        f"− fees {p['fees']:,.2f} {ccy} + funding {money(p.get('funding', 0.0), ccy)}"
        + (f"; foreign currency at the strategy's last FX rate, {p['fx_rate']:g} {ccy} per "
           "unit" if p.get("fx_rate", 1.0) != 1.0 else ""),
        "  PnL by currency     " + ("; ".join(
            f"{k}: cash flows {v['cash_flows']:+,.2f}, fees {v['fees']:,.2f}"
            for k, v in sorted(by_ccy.items())) or "none"),
        "  targets             " + "  ".join(f"{k} {'ok' if v else 'MISSED'}"
                                              for k, v in s.get("targets", {}).items()),
        f"  final exposure      {exposure_line(s['final_exposure'], units)}",
        f"  risk                {state}; denials "
        + (", ".join(f"{k} {n}" for k, n in sorted(denials.items())) or "none"),
        f"  venue               orders {s['venue']['orders']}  fills {s['venue']['fills']}  "
        f"duplicate client ids {s['venue']['duplicate_client_ids']}",
        f"  tick→order µs       p50 {lat.get('p50')}  p99 {lat.get('p99')}  max {lat.get('max')}",
        f"  bad oe frames       {s.get('bad_frames') or {}}",
        f"  journal             {s['journal']}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


__all__ = ["Path", "print_human", "run_demo"]
