"""The words and units of a run summary, shared by ``cmc summary`` and ``cmc demo``'s text.

Every amount is printed with its currency and every exposure with its base unit; the risk
state with the reason that put it there, the orderly halt of the end of a run named as such.
"""

from __future__ import annotations

import sys
from typing import Any

#: what ``cmc demo`` counts as an opportunity (``scripts.demo.summary``), said in its text
OPPORTUNITY_NOTE = (
    "the simulator's own record (ground truth) of the windows in which the spread stood beyond "
    "the pair's threshold, opened while the engine traded; windows of one direction less than "
    "250 ms apart are one opportunity"
)
#: the reasons an operator (or the end of a run) gives a halt or a reduce
OPERATOR_REASONS = frozenset({"operator_halt", "operator_reduce"})


def money(value: float, ccy: str) -> str:
    """A signed amount with its currency: ``+1,234.50 CNY``."""
    return f"{value:+,.2f} {ccy}".rstrip()


def amounts(by_ccy: dict[str, float], signed: bool = True) -> str:
    """Amounts per currency: ``CNY +1.00, USD -2.00`` (``none`` when empty)."""
    if not by_ccy:
        return "none"
    fmt = "{:+,.2f}" if signed else "{:,.2f}"
    return ", ".join(f"{ccy} {fmt.format(v)}" for ccy, v in sorted(by_ccy.items()))


def exposure_line(exposure: dict[str, float], units: dict[str, str]) -> str:
    """Net exposure per underlying in its base unit: ``gold +0.000 g``."""
    if not exposure:
        return "none (no fills)"
    return ", ".join(f"{u} {v:+,.3f} {units.get(u, '')}".rstrip()
                     for u, v in sorted(exposure.items()))


def base_units(cfg: Any) -> dict[str, str]:
    """Each underlying's base unit, the one its exposure is counted in (grams for gold): the
    report's ``base_unit``; without it, the unit of the underlying's first contract."""
    try:
        from scripts.report.units import base_unit
    except ImportError:
        return {c.underlying: c.unit for c in reversed(cfg.contracts) if c.underlying}
    return {c.underlying: base_unit(cfg, c.underlying) for c in cfg.contracts if c.underlying}


def risk_state_text(state: str | None, changes: list[Any], end_ns: int | None,
                    end_how: str = "shutdown flatten",
                    details: dict[str, str] | None = None) -> str:
    """The final trading state and why: ``HALTED (end of run: shutdown flatten)`` when the
    last change was the operator halt the orderly stop sends (at or after ``end_ns``, the stop's
    first command), else the reason (and its detail) that set it: ``HALTED (max_net_exposure:
    41000.0)``. ``changes`` are ``(ts_ns, state, reason)``, oldest first."""
    if not state:
        return "unknown (no trading state in the record)"
    last = next((c for c in reversed(changes) if c[1] == state), None)
    if state == "ACTIVE" or last is None:
        return state
    ts, _st, why = int(last[0]), last[1], str(last[2])
    if why in OPERATOR_REASONS and end_ns is not None and ts >= end_ns:
        return f"{state} (end of run: {end_how})"
    detail = (details or {}).get(why, "")
    return f"{state} ({why}: {detail})" if detail and detail != why else f"{state} ({why})"


def earlier_states(changes: list[Any]) -> str:
    """State changes as ``REDUCING (reject_rate), ACTIVE`` (the first eight), or ``none``."""
    if not changes:
        return "none"
    return ", ".join(f"{st} ({why})" if why else st for _ts, st, why in changes[:8]) + (
        f", … {len(changes) - 8} more" if len(changes) > 8 else "")


def format_summary(s: dict[str, Any]) -> str:
    """Return ``cmc summary``'s text for a summary of ``scripts.summary.build``."""
    o, f, c, p = s["orders"], s["fills"], s["combos"], s["pnl"]
    ccy = p["currency"]
    lines = [
        f"cmc summary — run {s['run']} ({s['duration_s']:.1f} s of journal: {s['journal']})",
        *([f"  NOTE                the replay {s['replay']['text']}"]
          if s["replay"]["status"] != "identical" else []),
        "  orders              {} sent{}: {}".format(
            o["sent"],
            f" ({', '.join(f'{k} {n}' for k, n in sorted(o['by_purpose'].items()))})"
            if o["by_purpose"] else "",
            ", ".join(f"{k} {n}" for k, n in sorted(o["by_state"].items())) or "none"),
        f"  fills               {f['count']} ({f['lots']} lots): " + (", ".join(
            f"{v} {x['count']} ({x['lots']} lots)" for v, x in sorted(f["by_venue"].items()))
            or "none"),
        f"  combos              {c['total']} ({c['complete']} complete, {c['repaired']} "
        f"repaired, {c['failed']} failed"
        + "".join(f", {n} {k}" for k, n in sorted(c["other"].items())) + ")",
        "  failed combos       " + (", ".join(
            f"{x['combo_id']} {x['pair']} {x['action']} (filled {x['filled_a_lots']}/"
            f"{x['filled_b_lots']} lots)" for x in c["failed_list"]) or "none"),
        f"  signals             {s['signals']['entries']} entries, {s['signals']['exits']} "
        "exits (combos the strategies sent); refusals " + (", ".join(
            f"{k} {n}" for k, n in sorted(s["signals"]["refusals"].items())) or "none"),
        f"  opportunities       {s['opportunities']['text']}",
        f"  PnL                 {money(p['net'], ccy)} = fills' cash flows "
        f"{money(p['gross'], ccy)} − fees {p['fees']:,.2f} {ccy} + open positions at the last "
        f"mid {money(p['open_value'], ccy)}"
        + (f" + funding {money(p['funding'], ccy)}" if p.get("funding") else "")
        + (f"; foreign currency at the last FX mid, {p['fx_rate']:g} {ccy} per unit"
           if p["fx_rate"] != 1.0 else ""),
        "  PnL by currency     " + "; ".join(
            f"{k}: cash flows {v['cash_flows']:+,.2f}, fees {v['fees']:,.2f}, open "
            f"{v['open_value']:+,.2f}, net {v['net']:+,.2f}"
            for k, v in sorted(p["by_currency"].items())),
        f"  fees                {amounts(s['fees'], signed=False)}",
        f"  final exposure      {exposure_line(s['exposure'], s['exposure_unit'])}"
        + (f" (open lots {s['open_lots']})" if s["open_lots"] else ""),
    ]
    lg = s.get("legging")
    if lg is not None:
        lines.append(
            f"  legging             imbalances {lg['imbalances']}, chased {lg['chased']}, "
            f"unwound {lg['unwound']}, longest unhedged {lg['max_unhedged_ms']:.1f} ms, "
            f"unknown outcomes {lg['unknown_outcomes']} (unresolved "
            f"{lg['unresolved_unknowns']})")
    feed = s.get("feed") or {}
    lines.append("  feed                " + ("; ".join(
        f"{v}: gaps {x.get('gaps', 0)}, resyncs {x.get('resyncs', 0)}, duplicates "
        f"{x.get('duplicates', 0)}, stale {x.get('stale_periods', 0)}, reconnects "
        f"{x.get('reconnects', 0)}" for v, x in sorted(feed.items())) or "none"))
    r = s["risk"]
    lines += [
        f"  risk                {r['state_text']}; earlier: {r['earlier']}; denials "
        + (", ".join(f"{k} {n}" for k, n in sorted(r["denials"].items())) or "none"),
        "  alarms              " + (", ".join(
            f"{k} {n}" for k, n in sorted(s["alarms"]["by_kind"].items())) or "none")
        + "; risk breaches " + (", ".join(
            f"{k} {n}" for k, n in sorted(s["alarms"]["breaches"].items())) or "none")
        + f"; restarts {s['alarms']['restarts']}; handler errors "
        f"{s['alarms']['handler_errors']}",
        f"  replay              {s['replay']['text']}",
    ]
    return "\n".join(lines) + "\n"


def print_summary(s: dict[str, Any]) -> None:
    """Print ``format_summary(s)`` on stdout."""
    sys.stdout.write(format_summary(s))


__all__ = ["OPPORTUNITY_NOTE", "amounts", "base_units", "earlier_states", "exposure_line",
           "format_summary", "money", "print_summary", "risk_state_text"]
