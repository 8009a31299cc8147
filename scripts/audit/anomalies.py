"""``cmc audit anomalies``: what went wrong or looked odd in a run, with times.

Categories: ``rejects`` (venue rejects, pre-trade denials), ``legging`` (each repair episode:
start, end, outcome, steps), ``slippage_outliers`` (first-attempt fills far from the price the
decision assumed: beyond the pair's ``max_slippage_ticks``, or a robust z-score above
``slip_z``), ``gaps`` (books invalidated: gaps, resyncs, bad data), ``stale`` (no market data
from a venue for longer than ``stale_ms``), ``halts`` (trading state changes, session halts,
operator halt/flatten), ``alarms`` (alarm and error decisions; an executor's alarm row also
names its ``alarm`` kind and ``venue``). Order-entry frames a venue sent that the engine could
not decode (alarm ``bad_frame``) are counted per venue (``bad_frames``; the text's second line).
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from scripts.audit.extract import JournalIndex
from scripts.audit.trace import utc

CATEGORIES = ("rejects", "legging", "slippage_outliers", "gaps", "stale", "halts", "alarms")


def _row(ts: int, **kw: Any) -> dict[str, Any]:
    return {"ts_ns": ts, "time": utc(ts), **kw}


def _legging(idx: JournalIndex) -> list[dict[str, Any]]:
    out = []
    for cid, events in idx.events.items():
        start = None
        steps = 0
        for e in events:
            if e["kind"] == "state" and e["state"] == "repairing" and start is None:
                start, steps = e, 0
            elif e["kind"] == "decision_repair" and start is not None:
                steps += 1
            elif (
                e["kind"] == "state"
                and start is not None
                and e["state"] in ("repaired", "failed", "complete")
            ):
                out.append(
                    _row(
                        start["ts_ns"],
                        combo_id=cid,
                        outcome=e["state"],
                        steps=steps,
                        end_time=utc(e["ts_ns"]),
                        duration_ms=round((e["ts_ns"] - start["ts_ns"]) / 1e6, 3),
                        residual_base=e["residual_base"],
                    )
                )
                start = None
        if start is not None:
            out.append(
                _row(
                    start["ts_ns"],
                    combo_id=cid,
                    outcome="unfinished",
                    steps=steps,
                    end_time="",
                    duration_ms=None,
                    residual_base=None,
                )
            )
    return sorted(out, key=lambda r: r["ts_ns"])


def slippages(idx: JournalIndex) -> list[dict[str, Any]]:
    """Return each first-attempt fill with its slippage (ticks, + = worse than expected)."""
    expected: dict[tuple[int, int], float] = {}
    for cid, events in idx.events.items():
        for e in events:
            if e["kind"] == "intent":
                for k, leg in enumerate(e["legs"]):
                    expected[(cid, k)] = leg["expected_px_ticks"]
    out = []
    for f in idx.fills:
        exp = expected.get((f["combo_id"], f["leg"]))
        if exp is None or f["attempt"] != 0:
            continue
        sign = 1 if f["side"] == "B" else -1
        out.append({**f, "expected_px": exp, "slippage_ticks": round(sign * (f["px"] - exp), 4)})
    return out


def _slippage_outliers(
    idx: JournalIndex, cfg: dict[str, Any], slip_z: float
) -> list[dict[str, Any]]:
    rows = slippages(idx)
    if not rows:
        return []
    max_slip = {p.get("name"): p.get("max_slippage_ticks", 3) for p in cfg.get("pairs", [])}
    limit = max(max_slip.values(), default=3)
    xs = [r["slippage_ticks"] for r in rows]
    med = statistics.median(xs)
    mad = statistics.median(abs(x - med) for x in xs)
    out = []
    for r in rows:
        z = 0.6745 * (r["slippage_ticks"] - med) / mad if mad > 0 else 0.0
        if abs(r["slippage_ticks"]) > limit or abs(z) > slip_z:
            out.append(
                _row(
                    r["ts_ns"],
                    cl=r["cl"],
                    combo_id=r["combo_id"],
                    venue=r["venue"],
                    px=r["px"],
                    expected_px=r["expected_px"],
                    slippage_ticks=r["slippage_ticks"],
                    robust_z=round(z, 2),
                )
            )
    return out


def _stale(idx: JournalIndex, stale_ms: float) -> list[dict[str, Any]]:
    out = []
    lim = stale_ms * 1e6
    for venue, times in idx.md.items():
        prev = idx.first_ts
        for ts, _vts in times:
            if ts - prev > lim:
                out.append(
                    _row(prev, venue=venue, end_time=utc(ts), silent_ms=round((ts - prev) / 1e6, 1))
                )
            prev = ts
        if idx.last_ts - prev > lim:
            out.append(
                _row(
                    prev,
                    venue=venue,
                    end_time=utc(idx.last_ts),
                    silent_ms=round((idx.last_ts - prev) / 1e6, 1),
                    at_end=True,
                )
            )
    return sorted(out, key=lambda r: r["ts_ns"])


def find_anomalies(
    idx: JournalIndex, cfg: dict[str, Any], stale_ms: float = 1000.0, slip_z: float = 3.5
) -> dict[str, list[dict[str, Any]]]:
    """Return every anomaly category, each a time-ordered list of rows."""
    rejects = [
        _row(
            o["done_ts_ns"] or o["ts_ns"],
            cl=o["cl"],
            venue=o["venue"],
            combo_id=o["combo_id"],
            reason=o["reject_reason"],
            # the venue's own ("code:reason", "status:rejected") or the executor's (an
            # ``inferred`` reject after the venue's "not found" answers, a local one)
            source="venue" if ":" in o["reject_reason"] else "engine",
        )
        for o in idx.orders
        if o["state"] == "rejected"
    ]
    for cid, events in idx.events.items():
        rejects += [
            _row(
                e["ts_ns"],
                cl=e["cl"],
                venue="",
                combo_id=cid,
                reason=e["reason"],
                source="pretrade",
            )
            for e in events
            if e["kind"] == "exec_denied"
        ]
    gaps = [
        _row(b["ts_ns"], venue=b["venue"], sym=b["sym"], reason=b["reason"])
        for b in idx.book_events
    ]
    halts = [
        _row(r["ts_ns"], what="trading_state", state=r["state"], reason=r["reason"])
        for r in idx.risk_events
    ]
    halts += [
        _row(s["ts_ns"], what="session", state=s["state"], venue=s["venue"], sym=s["sym"])
        for s in idx.sessions
        if s["state"] != "open"
    ]
    halts += [
        _row(c["ts_ns"], what="operator", state=c["cmd"], reason=c["arg"], dest=c["dest"])
        for c in idx.controls
        if c["cmd"] in ("halt", "flatten", "reduce", "resume")
    ]
    halts += [  # the supervisor restarted an actor (rebuilt or fresh)
        _row(e["ts_ns"], what="restart", state=e["kind"], reason=e["reason"], dest=e["actor"])
        for e in idx.lifecycle
        if e["event"] == "restart"
    ]
    alarms = [
        _row(d["ts_ns"], actor=d["actor"], what=d["what"], detail=d["detail"],
             **_alarm_kind(d))
        for d in idx.decisions
        if d["what"] not in ("repair",)
    ]
    out = {
        "rejects": rejects,
        "legging": _legging(idx),
        "slippage_outliers": _slippage_outliers(idx, cfg, slip_z),
        "gaps": gaps,
        "stale": _stale(idx, stale_ms),
        "halts": halts,
        "alarms": alarms,
    }
    return {k: sorted(v, key=lambda r: r["ts_ns"]) for k, v in out.items()}


def _alarm_kind(d: dict[str, Any]) -> dict[str, str]:
    """An alarm decision's kind and venue (its JSON detail), or nothing."""
    if d["what"] != "alarm":
        return {}
    try:
        detail = json.loads(d["detail"])
    except (TypeError, ValueError):
        return {}
    if not isinstance(detail, dict):
        return {}
    return {"alarm": str(detail.get("alarm", "")), "venue": str(detail.get("venue", ""))}


def bad_frames(a: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Undecodable order-entry frames per venue (the ``bad_frame`` alarms)."""
    out: dict[str, int] = {}
    for r in a.get("alarms", []):
        if r.get("alarm") == "bad_frame":
            out[r["venue"]] = out.get(r["venue"], 0) + 1
    return out


def format_anomalies(a: dict[str, list[dict[str, Any]]]) -> str:
    """Return the anomalies as readable text."""
    lines = ["anomalies: " + "  ".join(f"{k} {len(v)}" for k, v in a.items())]
    bad = bad_frames(a)
    if bad:
        lines.append("undecodable order-entry frames: "
                     + "  ".join(f"{v} {n}" for v, n in sorted(bad.items())))
    for cat in CATEGORIES:
        rows = a.get(cat, [])
        if not rows:
            continue
        lines.append(f"{cat}:")
        for r in rows:
            rest = {k: v for k, v in r.items() if k not in ("ts_ns", "time")}
            lines.append(f"  {r['time']}  {rest}")
    return "\n".join(lines)


__all__ = ["CATEGORIES", "bad_frames", "find_anomalies", "format_anomalies", "slippages"]
