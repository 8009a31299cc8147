"""``cmc audit trace``: the full story of one combo from the journal.

Hops per leg, each a timestamp the journal holds: venue event (the book change's venue time) ->
receive (our receive) -> book -> signal (the ComboIntent's stamps) -> risk (the LegOrder reached
the leg executor's pre-trade check) -> send (the NewOrder left: the intent WAL's stamp when there
is one, else its dispatch cycle) -> ack -> fill (the cycles that received them; the venue's own
stamps are shown beside). Stamps of one dispatch cycle share the cycle's clock reading, so hops
inside one cycle show 0. Steps are listed by time: groups write to the journal concurrently, so
file order is causal within a group only.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from scripts.audit.extract import JournalIndex, cl_parts
from transports.errors import CmcError
from transports.journal.intent_wal import read_intents
from transports.journal.writer import base_path

HOPS = ("venue_event", "receive", "book", "signal", "risk", "send", "ack", "fill")


def utc(ts_ns: int) -> str:
    """Return an ISO UTC time with microseconds (empty for 0)."""
    if not ts_ns:
        return ""
    return _dt.datetime.fromtimestamp(ts_ns / 1e9, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def intent_send_times(journal: str | Path) -> dict[str, int]:
    """Return cl -> the intent WAL stamp (taken just before the order was written)."""
    out: dict[str, int] = {}
    for p in sorted(base_path(journal).parent.glob("intents-*.cmcw")):
        for ts, _acct, order in read_intents(p):
            out.setdefault(str(order.get("cl", "")), ts)
    return out


def _leg_hops(
    intent: dict[str, Any], events: list[dict[str, Any]], leg: int, wal: dict[str, int]
) -> dict[str, Any]:
    lo = next(
        (e for e in events if e["kind"] == "leg_order" and e["leg"] == leg and e["attempt"] == 0),
        None,
    )
    send = next(
        (e for e in events if e["kind"] == "send" and e["leg"] == leg and e["attempt"] == 0), None
    )
    cl = send["cl"] if send else ""
    ack = next((e for e in events if e["kind"] == "venue_ack" and e["cl"] == cl), None)
    fill = next((e for e in events if e["kind"] == "venue_fill" and e["cl"] == cl), None)
    stamps = {
        "venue_event": intent["ts_event_ns"],
        "receive": intent["ts_recv_ns"],
        "book": intent["ts_book_ns"],
        "signal": intent["ts_signal_ns"],
        "risk": lo["ts_ns"] if lo else 0,
        "send": wal.get(cl) or (send["ts_ns"] if send else 0),
        "ack": ack["ts_ns"] if ack else 0,
        "fill": fill["ts_ns"] if fill else 0,
    }
    lat: dict[str, float | None] = {}
    prev_name, prev_ts = "", 0
    for name in HOPS:
        ts = stamps[name]
        if prev_name:
            lat[f"{prev_name}->{name}"] = round((ts - prev_ts) / 1e3, 1) if ts and prev_ts else None
        if ts:
            prev_name, prev_ts = name, ts
        elif not prev_name:
            prev_name = name
    return {
        "leg": leg,
        "cl": cl,
        "venue": send["venue"] if send else (lo or {}).get("venue"),
        "stamps_ns": stamps,
        "latency_us": lat,
        "send_source": "intent_wal" if cl in wal else "dispatch_cycle",
        "venue_ack_ts_ns": ack.get("venue_ts_ns", 0) if ack else 0,
        "venue_fill_ts_ns": fill.get("venue_ts_ns", 0) if fill else 0,
    }


def trace_combo(
    idx: JournalIndex, combo_id: int, cfg: dict[str, Any], wal: dict[str, int] | None = None
) -> dict[str, Any]:
    """Return the combo's decision inputs, per-leg hops, every step and every repair step."""
    events = idx.events.get(combo_id)
    intent = next((c for c in idx.combos if c["combo_id"] == combo_id), None)
    if not events or intent is None:
        known = [c["combo_id"] for c in idx.combos]
        raise CmcError(
            f"combo {combo_id} is not in the journal (combos: "
            f"{', '.join(map(str, known[:20])) or 'none'}"
            f"{' ...' if len(known) > 20 else ''})"
        )
    wal = wal or {}
    pair = next((p for p in cfg.get("pairs", []) if p.get("name") == intent["pair"]), {})
    keys = (
        "z_entry",
        "z_exit",
        "min_edge",
        "safety_factor",
        "slippage_ticks",
        "max_slippage_ticks",
        "max_clip_lots_a",
        "max_clip_lots_b",
        "legging_mode",
        "chase_ticks",
        "chase_tries",
        "leg_timeout_ms",
        "hedge_budget_ms",
        "fair_basis",
    )
    thresholds = {k: pair.get(k) for k in keys}
    need = intent["cost"] * float(pair.get("safety_factor", 1.0)) + float(pair.get("min_edge", 0.0))
    first = next(e for e in events if e["kind"] == "intent")
    legs = sorted({e["leg"] for e in events if e["kind"] in ("leg_order", "send")})
    ordered = sorted(events, key=lambda e: (e["ts_ns"], e["record"]))
    steps = [{**e, "time": utc(e["ts_ns"])} for e in ordered]
    repairs = [e for e in steps if e["kind"] == "decision_repair"]
    final = {
        k: intent[k]
        for k in ("final_state", "filled_a_lots", "filled_b_lots", "residual_final", "end_ts_ns")
    }
    return {
        "combo_id": combo_id,
        "pair": intent["pair"],
        "action": intent["action"],
        "direction": intent["direction"],
        "time": utc(intent["ts_ns"]),
        "decision": {k: intent[k] for k in ("spread", "mean", "z", "edge", "cost", "residual_base")}
        | {"required_edge": round(need, 6), "legs": first["legs"]},
        "thresholds": thresholds,
        "limits": cfg.get("risk", {}),
        "legs": [_leg_hops(intent, events, leg, wal) for leg in legs],
        "steps": steps,
        "repairs": repairs,
        "final": final,
        "orders": [o for o in idx.orders if o["combo_id"] == combo_id],
    }


def format_trace(t: dict[str, Any]) -> str:
    """Return the trace as readable text."""
    d = t["decision"]
    th = t["thresholds"]
    out = [
        f"combo {t['combo_id']}  pair {t['pair']}  {t['action']} direction "
        f"{t['direction']:+d}  at {t['time']}",
        f"  decision: spread {d['spread']:.4f}  mean {d['mean']:.4f}  z {d['z']:.3f}  "
        f"edge {d['edge']:.4f}  cost {d['cost']:.4f}  required edge {d['required_edge']:.4f}"
        f"  residual {d['residual_base']:.3f}",
        f"  thresholds: z_entry {th['z_entry']}  z_exit {th['z_exit']}  min_edge "
        f"{th['min_edge']}  safety {th['safety_factor']}  slippage {th['slippage_ticks']} "
        f"max slip {th['max_slippage_ticks']}  legging {th['legging_mode']}",
        f"  limits: {t['limits']}",
    ]
    for i, leg in enumerate(d["legs"]):
        out.append(
            f"  leg {i}: {leg['venue']}:{leg['sym']} {leg['side']} {leg['qty_lots']} "
            f"limit {leg['limit_px_ticks']} expected {leg['expected_px_ticks']:.2f}"
        )
    for leg in t["legs"]:
        out.append(
            f"  leg {leg['leg']} ({leg['venue']}, {leg['cl']}) hops, µs "
            f"(send from {leg['send_source']}):"
        )
        for hop, us in leg["latency_us"].items():
            out.append(f"    {hop:<22} {'-' if us is None else us}")
    out.append("  steps:")
    for s in t["steps"]:
        extra = {k: v for k, v in s.items() if k not in ("record", "ts_ns", "kind", "time", "legs")}
        out.append(f"    #{s['record']:<7} {s['time']}  {s['kind']:<18} {extra}")
    out.append(f"  repair steps: {len(t['repairs'])}")
    f = t["final"]
    out.append(
        f"  final: {f['final_state'] or '?'}  held {f['filled_a_lots']}/"
        f"{f['filled_b_lots']}  residual {f['residual_final']}  at {utc(f['end_ts_ns'])}"
    )
    return "\n".join(out)


__all__ = ["HOPS", "cl_parts", "format_trace", "intent_send_times", "trace_combo", "utc"]
