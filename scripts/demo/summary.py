"""The demo summary, computed from the simulator's record of the venue (its truth), plus the
engine's own counters and latency; and the checks that decide the exit code."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from actors.journal import read_journal
from scripts.demo.risk_audit import audit_venue_limits
from scripts.summary.text import OPPORTUNITY_NOTE, base_units, risk_state_text
from transports.config.engine import AppConfig
from transports.wire.messages import ComboIntent


def _cl_parts(cl: str) -> tuple[int, int, int] | None:
    """Split ``epoch.combo.leg.attempt`` into (combo, leg, attempt)."""
    parts = cl.split(".")
    if len(parts) != 4:
        return None
    try:
        return int(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        return None


def expected_prices(journal: str, epoch: int) -> dict[str, float]:
    """Return cl -> the executable price (ticks) each first-attempt order was decided at."""
    out: dict[str, float] = {}
    for _ts, _group, dest, msg in read_journal(journal):
        if dest.startswith("combo") and isinstance(msg, list) and msg and \
                msg[0] == "ComboIntent":
            intent = msgspec.convert(msg, ComboIntent)
            for i, leg in enumerate(intent.legs):
                out[f"{epoch}.{intent.combo_id}.{i}.0"] = leg.expected_px_ticks
    return out


#: Windows of one direction closer than this are one opportunity: our own fill takes the
#: liquidity that made the edge, so the simulator's window closes until the market maker
#: requotes (one refresh later) and reopens — the same dislocation, not a new one.
MERGE_GAP_NS = 250_000_000


def merge_windows(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge windows of one pair, direction and wanted orders separated by less than
    ``MERGE_GAP_NS``."""
    out: list[dict[str, Any]] = []
    last_of: dict[Any, dict[str, Any]] = {}
    for w in sorted(windows, key=lambda x: (x["start_ns"], x["end_ns"])):
        key = (w.get("pair"), w["dir"], repr(w.get("want")))
        last = last_of.get(key)
        if last is not None and w["start_ns"] - last["end_ns"] <= MERGE_GAP_NS:
            last["end_ns"] = max(last["end_ns"], w["end_ns"])
            last["peak_edge"] = max(last.get("peak_edge", 0.0), w.get("peak_edge", 0.0))
        else:
            last_of[key] = dict(w)
            out.append(last_of[key])
    return out


def _wanted(w: dict[str, Any], pairs: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The (venue, sym, side) entry orders that trade window ``w``: its own ``want``, else
    (a parity window) leg A of its pair, sold when the spread is too high, bought when low."""
    if w.get("want"):
        return [(str(v), str(s), str(side)) for v, s, side in w["want"]]
    p = pairs.get(w.get("pair")) or next(iter(pairs.values()), None)
    if p is None:
        return []
    venue, sym = p.leg_a.split(":", 1)
    return [(venue, sym, "S" if w["dir"] < 0 else "B")]


def _position_at(fills: list[dict[str, Any]], account: str, sym: str, ts: int) -> int:
    """The account's signed lots in ``sym`` from the venue's fills before ``ts``."""
    return sum((f["qty"] if f["side"] == "B" else -f["qty"]) for f in fills
               if f["account"] == account and f["sym"] == sym and f["ts"] < ts)


def capture(windows: list[dict[str, Any]], orders: list[dict[str, Any]],
            fills: list[dict[str, Any]], cfg: AppConfig) -> list[bool]:
    """For each window, whether the engine traded it (the venue's record): an attempt-0 order
    of a combo on one of the window's wanted (venue, sym, side) reached the venue inside it, or
    (a window with ``held``) the position it wants was already held at its start."""
    pairs = {p.name: p for p in cfg.pairs}
    venue_of = {v.account: v.name for v in cfg.venues}
    account_of = {v.name: v.account for v in cfg.venues}
    entries: dict[tuple[str, str, str], list[int]] = {}
    for o in orders:
        parts = _cl_parts(o["cl"])
        if parts is None or parts[2] != 0:
            continue
        venue = o.get("venue") or venue_of.get(o.get("account", ""), "")
        entries.setdefault((venue, o["sym"], o["side"]), []).append(o["ts"])
    out = []
    for w in windows:
        hit = any(w["start_ns"] <= t <= w["end_ns"]
                  for key in _wanted(w, pairs) for t in entries.get(key, ()))
        held = w.get("held")
        if not hit and held:
            venue, sym, sign = held
            pos = _position_at(fills, account_of.get(venue, ""), sym, w["start_ns"])
            hit = pos != 0 and (pos > 0) == (sign > 0)
        out.append(hit)
    return out


def _leg_a(cfg: AppConfig) -> Any:
    """The first pair's leg A contract (its underlying and unit name the exposure)."""
    key = cfg.pairs[0].leg_a if cfg.pairs else ""
    for c in cfg.contracts:
        if f"{c.venue}:{c.sym}" == key:
            return c
    return cfg.contracts[0]


def build_summary(cfg: AppConfig, elapsed_s: float, snaps: dict[str, dict[str, Any]],
                  truth: dict[str, Any], latency: dict[str, Any],
                  journal: str, trading_span_ns: tuple[int, int] | None = None) -> dict[str, Any]:
    """Return the JSON summary of a demo run.

    Opportunities are the simulator's windows that opened while the engine was trading
    (``trading_span_ns``: from the engine's start to the flatten at the end of the run)."""
    acct_venue = {v.account: v.name for v in cfg.venues}
    contracts = {(c.venue, c.sym): c for c in cfg.contracts}
    fills = truth.get("fills", [])
    orders = truth.get("orders", [])
    windows = truth.get("windows", [])
    counts = truth.get("counts", {})

    # exposure per underlying from the venue's fills, in base units
    exposure: dict[str, float] = {}
    cash: dict[str, float] = {}
    fees: dict[str, float] = {}
    for f in fills:
        c = contracts.get((acct_venue.get(f["account"], ""), f["sym"]))
        if c is None:
            continue
        sign = 1 if f["side"] == "B" else -1
        if c.underlying:
            exposure[c.underlying] = exposure.get(c.underlying, 0.0) + sign * f["qty"] * \
                c.base_per_lot
        px = f["px"] * float(Decimal(c.tick))
        cash[c.ccy] = cash.get(c.ccy, 0.0) - sign * f["qty"] * px * c.multiplier
        fees[c.ccy] = fees.get(c.ccy, 0.0) + float(f.get("fee", 0.0))

    # money in leg A's currency, converting with the last FX rate the strategy saw
    home = cfg.contracts[0].ccy
    fx_rate = 1.0
    for name, snap in snaps.items():
        if name.startswith("strategy.") and snap.get("last", {}).get("fx"):
            fx_rate = float(snap["last"]["fx"])
    fx_ccy = {c.ccy for c in cfg.contracts if c.ccy != home and c.underlying}

    def to_home(m: dict[str, float]) -> float:
        return sum(v * (fx_rate if k in fx_ccy else 1.0) for k, v in m.items())

    gross, fee_total = to_home(cash), to_home(fees)

    # capture: a window is traded when an entry order reached the venue inside it, on the side
    # that window pays for (``capture``: each kind's truth names the orders it wants)
    windows = merge_windows(windows)
    if trading_span_ns is not None:
        lo, hi = trading_span_ns
        windows = [w for w in windows if lo <= w["start_ns"] <= hi]
    hits = capture(windows, orders, fills, cfg)
    traded = sum(hits)
    capture_rate = traded / len(windows) if windows else 0.0
    # the yardstick: windows that lasted longer than twice the engine's order round
    # trip (send -> ack, median of this run) are the ones an engine can be asked to catch
    rtt_us = latency.get("send_to_ack", {}).get("p50") or 0.0
    min_len_ns = int(2 * rtt_us * 1000)
    eligible = [h for w, h in zip(windows, hits, strict=True)
                if w["end_ns"] - w["start_ns"] > min_len_ns]
    capture_eligible = sum(eligible) / len(eligible) if eligible else 0.0
    # funding settled on the engine's accounts, from the venue's record (perpetuals)
    funding: dict[str, float] = {}
    for f in truth.get("funding", []):
        if f.get("account") in acct_venue:
            ccy = f.get("ccy") or home
            funding[ccy] = funding.get(ccy, 0.0) + float(f.get("paid", 0.0))

    # slippage: each first-attempt fill against the executable price the decision assumed
    expected = expected_prices(journal, cfg.run.epoch) if journal else {}
    slip_sum, slip_qty = 0.0, 0
    for f in fills:
        exp = expected.get(f["cl"])
        if exp is None:
            continue
        sign = 1 if f["side"] == "B" else -1
        slip_sum += sign * (f["px"] - exp) * f["qty"]
        slip_qty += f["qty"]

    # every limit the venue's record can judge, judged the way the pre-trade check does
    audit = audit_venue_limits(truth, cfg, {c: fx_rate for c in fx_ccy})

    combo = snaps.get("combo", {}).get("counters", {})
    legs = [s for n, s in snaps.items() if n.startswith("leg.")]
    feeds = {s["venue"]: s for n, s in snaps.items() if n.startswith("feed.")}
    hop_keys = ("recv_to_signal", "signal_to_send", "send_to_ack", "send_to_fill")
    summary = {
        "duration_s": round(elapsed_s, 3),
        "md_events": sum(f.get("deltas", 0) for f in feeds.values()),
        "opportunities": len(windows),
        "opportunity_windows_raw": len(truth.get("windows", [])),
        "opportunities_note": OPPORTUNITY_NOTE,
        "opportunities_traded": traded,
        "combos": combo.get("combos", 0),
        "combos_complete": combo.get("complete", 0),
        "combos_repaired": combo.get("repaired", 0),
        "combos_failed": combo.get("failed", 0),
        "capture_rate": round(capture_rate, 4),
        "opportunities_eligible": len(eligible),
        "capture_rate_eligible": round(capture_eligible, 4),
        "eligible_min_window_ms": round(min_len_ns / 1e6, 3),
        "avg_slippage_ticks": round(slip_sum / slip_qty, 4) if slip_qty else 0.0,
        "pnl": {"currency": home, "gross": round(gross, 2), "fees": round(fee_total, 2),
                "funding": round(to_home(funding), 2),
                "net": round(gross - fee_total + to_home(funding), 2), "fx_rate": fx_rate,
                # each currency's own figures (fills' cash flows and fees, in that currency)
                "by_currency": {k: {"cash_flows": round(cash.get(k, 0.0), 2),
                                    "fees": round(fees.get(k, 0.0), 2)}
                                for k in sorted({*cash, *fees})}},
        "final_exposure": {k: round(v, 3) for k, v in exposure.items()}
        or {_leg_a(cfg).underlying or "none": 0.0},
        "exposure_unit": _leg_a(cfg).unit,
        # each underlying's base unit: what final_exposure counts in (grams for gold)
        "exposure_units": base_units(cfg),
        "venue": {"orders": counts.get("orders", len(orders)),
                  "fills": counts.get("fills", len(fills)),
                  "duplicate_client_ids": counts.get("duplicate_client_ids", 0)},
        "latency_us": {
            "tick_to_order": {k: latency.get("tick_to_order", {}).get(k)
                              for k in ("p50", "p99", "max")},
            "hops": {h: {k: latency.get(h, {}).get(k) for k in ("p50", "p99")}
                     for h in hop_keys},
            "samples": latency.get("tick_to_order", {}).get("count", 0),
        },
        "orders_sent": sum(s.get("counters", {}).get("sent", 0) for s in legs),
        "rejects": sum(s.get("counters", {}).get("rejects", 0) for s in legs),
        "risk_state": snaps.get("risk", {}).get("state"),
        # the state and why: the halt of the end of the run (after the trading span) said so
        "risk_state_text": risk_state_text(
            snaps.get("risk", {}).get("state"), snaps.get("risk", {}).get("state_changes", []),
            trading_span_ns[1] if trading_span_ns is not None else None),
        "legging": {
            "imbalances": combo.get("imbalances", 0),
            "chased": combo.get("chased", 0),
            "unwound": combo.get("unwound", 0),
            "max_unhedged_ms": round(combo.get("max_unhedged_ns", 0) / 1e6, 3),
            "unknown_outcomes": sum(s.get("counters", {}).get("unknown_outcomes", 0)
                                    for s in legs),
            "unresolved_unknowns": sum(s.get("counters", {}).get("unresolved", 0)
                                       for s in legs),
            "inferred_rejects": sum(s.get("counters", {}).get("inferred_rejects", 0)
                                    for s in legs),
        },
        # order-entry frames each venue sent that the engine could not decode (never silent)
        "bad_frames": {s.get("venue", n[4:]): s.get("counters", {}).get("bad_frames", 0)
                       for n, s in snaps.items() if n.startswith("leg.")},
        "risk": {
            "denials": snaps.get("risk", {}).get("denials", {}),
            "state_changes": [{"ts_ns": t, "state": st, "reason": why} for t, st, why in
                              snaps.get("risk", {}).get("state_changes", [])],
            "final_state": snaps.get("risk", {}).get("state"),
            "slippage": snaps.get("risk", {}).get("slippage", {}),
            "limits_exceeded_at_venue": audit["exceeded"],
            "venue_limits": {**audit["limits"], "unchecked": audit["unchecked"]},
        },
        "feed": {v: {k: s.get(k) for k in ("gaps", "resyncs", "duplicates", "rejected_frames",
                                           "stale_periods", "reconnects", "clock_offset_us",
                                           "one_way_us")}
                 for v, s in feeds.items()},
        "lot_residual_base": sum(abs(snaps.get(f"strategy.{p.name}", {})
                                     .get("residual_base", 0.0)) for p in cfg.pairs),
        "journal": journal,
    }
    if any(c.offsets for c in cfg.contracts):
        summary["orders_by_offset"] = orders_by_offset(orders)
    summary["targets"] = targets(summary)
    return summary


#: issue 15's targets for every scenario (the documents claim 98% and 0.8 ticks)
TARGET_CAPTURE = 0.98
TARGET_SLIPPAGE_TICKS = 0.8


def targets(s: dict[str, Any]) -> dict[str, bool]:
    """Whether the run met the targets: capture of the windows longer than twice the order
    round trip, average slippage, final exposure within the lot residual, no duplicate ids."""
    tol = abs(s.get("lot_residual_base", 0.0)) + 1e-3
    return {
        "capture": s["capture_rate_eligible"] >= TARGET_CAPTURE,
        "slippage": s["avg_slippage_ticks"] <= TARGET_SLIPPAGE_TICKS,
        "exposure": all(abs(v) <= tol for v in s["final_exposure"].values()),
        "duplicate_ids": s["venue"]["duplicate_client_ids"] == 0,
    }


def orders_by_offset(orders: list[dict[str, Any]]) -> dict[str, int]:
    """The venue's orders (its record) per offset, for contracts traded with offsets."""
    out = dict.fromkeys(("open", "close", "close_today", "close_yesterday"), 0)
    for o in orders:
        k = o.get("offset")
        if k:
            out[k] = out.get(k, 0) + 1
    return out


def check_summary(cfg: AppConfig, s: dict[str, Any]) -> str:
    """Return '' for a clean run, else a one-line reason."""
    if s["venue"]["duplicate_client_ids"]:
        return f"venue saw {s['venue']['duplicate_client_ids']} duplicate client order ids"
    tol = abs(s.get("lot_residual_base", 0.0)) + 1e-3  # final_exposure is rounded to 1e-3
    for u, v in s["final_exposure"].items():
        if abs(v) > tol:
            return f"final exposure {u} {v:+.2f} exceeds the lot residual {tol:.2f}"
    if s.get("decisions_on_unusable_book"):
        return f"{s['decisions_on_unusable_book']} decisions used an unusable book"
    if s["legging"]["unresolved_unknowns"]:
        return f"{s['legging']['unresolved_unknowns']} order outcomes still unknown at the end"
    if s.get("actor_errors"):
        return f"actors raised in their handlers: {s['actor_errors']}"
    if s["combos"] == 0:
        return "no combo traded"
    breaches = s.get("risk", {}).get("limits_exceeded_at_venue", 0)
    if breaches and cfg.risk.fail_on_venue_breach:
        which = sorted(lim for lim, rows in s["risk"]["venue_limits"].items()
                       if lim != "unchecked" and any(not r["ok"] for r in rows.values()))
        return f"{breaches} limit violations at the venue: {', '.join(which)}"
    if s.get("sim_exit_code") not in (0, None):
        return f"simulator exited with {s['sim_exit_code']}"
    return ""
