"""A run's summary from its journal alone: ``cmc summary RUN`` and ``summary.json`` at the end of
``cmc launch``.

The journal is the truth: the orders, fills and combos are the audit tables of one pass over it
(``scripts.audit.extract``: a venue trade counted once however often it was reported); the PnL,
fees and exposure are the report's figures from those fills (``scripts.report.data.
exposure_and_pnl``); what only the engine's cores hold (the legging counters, the feeds' health,
the risk denials, the last marks and FX rate) comes from replaying the journal through fresh
cores (``scripts.replay.core.Verifier``), which reproduces them as the run had them. Any
journal can be summarized this way: a demo's, a launch's, one copied from another machine (its
``config.json`` beside it).
"""

from __future__ import annotations

import collections
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from loguru import logger

from scripts.audit.extract import JournalIndex, build_index
from scripts.demo.summary import merge_windows
from scripts.replay.core import Verifier, load_run_config
from scripts.report.data import Series, exposure_and_pnl
from scripts.summary.text import (
    OPPORTUNITY_NOTE,
    base_units,
    earlier_states,
    risk_state_text,
)
from transports.config.engine import AppConfig
from transports.errors import CmcError
from transports.journal.writer import base_path

SUMMARY_FILE = "summary.json"
#: the reason the orderly stop (``cmc launch``, ``cmc demo``) gives its flatten and its halt
STOP_REASON = "shutdown"
#: at most this many failed combos are listed one by one
MAX_LISTED = 20


def journal_of(run: str | Path) -> Path:
    """The journal of ``run`` (a run directory, or a journal file or segment)."""
    path = base_path(run).resolve()
    if not path.exists():
        raise CmcError(f"{run}: no journal there (a run directory holds journal.cmcj)")
    return path


def replay_cores(journal: Path, cfg: AppConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every core of the run after replaying the whole journal, and the replay's result
    (``status`` identical, or diverged: the cores then stand where the replay stopped)."""
    try:
        v = Verifier(journal, cfg)
        result = v.run()
    except Exception as exc:  # noqa: BLE001 - the journal's own tables still summarize
        return {}, {"status": "failed", "error": repr(exc)}
    return {n: c for r in v.routers.values() for n, c in r.cores.items()}, result


def stop_marker(idx: JournalIndex) -> tuple[int | None, str]:
    """When the orderly stop began (its first ``shutdown`` flatten or halt) and how it stopped
    (``shutdown flatten`` or ``shutdown halt``); ``(None, "")`` for a run that never did."""
    stops = [c for c in idx.controls if c["arg"] == STOP_REASON and c["cmd"] in ("flatten", "halt")]
    if not stops:
        return None, ""
    return stops[0]["ts_ns"], f"{STOP_REASON} {stops[0]['cmd']}"


def _last_values(cores: dict[str, Any], cfg: AppConfig, t_end: int) -> Series:
    """A ``Series`` holding what ``exposure_and_pnl`` marks and converts at: the last mid of
    every contract and the last FX mid, as the risk supervisor held them at the end (so the
    PnL is its valuation); without an FX book there, the last rate a strategy priced with."""
    s = Series()
    book = getattr(cores.get("risk"), "book", None)
    marks = getattr(book, "marks", {}) or {}
    ticks = {f"{c.venue}:{c.sym}": float(Decimal(c.tick)) for c in cfg.contracts}
    for key, px in marks.items():
        if ticks.get(key):
            s.mids[key] = [(t_end, px / ticks[key])]
    rates = [r for r in (book.fx_rates() if book is not None else {}).values() if r > 0]
    if len(rates) == 1:  # exposure_and_pnl converts every foreign currency at one rate
        s.fx = [(t_end, rates[0])]
        return s
    for name, core in sorted(cores.items()):
        fx = (getattr(core, "last", None) or {}).get("fx") if name.startswith("strategy.") else 0
        if fx:
            s.fx = [(t_end, float(fx))]
    return s


def _orders(idx: JournalIndex) -> dict[str, Any]:
    denied = sum(1 for ev in idx.events.values() for e in ev if e["kind"] == "exec_denied")
    return {
        "sent": len(idx.orders),
        "by_state": dict(collections.Counter(o["state"] for o in idx.orders)),
        "by_venue": dict(collections.Counter(o["venue"] for o in idx.orders)),
        "by_purpose": dict(collections.Counter(o["purpose"] or "other" for o in idx.orders)),
        "rejects": sum(1 for o in idx.orders if o["state"] == "rejected"),
        "denied_pretrade": denied,
    }


def _fills(idx: JournalIndex) -> dict[str, Any]:
    by_venue: dict[str, dict[str, int]] = {}
    for f in idx.fills:
        v = by_venue.setdefault(f["venue"], {"count": 0, "lots": 0})
        v["count"] += 1
        v["lots"] += f["qty"]
    return {"count": len(idx.fills), "lots": sum(f["qty"] for f in idx.fills),
            "by_venue": by_venue}


def _combos(idx: JournalIndex) -> dict[str, Any]:
    by = collections.Counter(c["final_state"] or "unfinished" for c in idx.combos)
    failed = [c for c in idx.combos if c["final_state"] == "failed"]
    keys = ("combo_id", "pair", "action", "direction", "filled_a_lots", "filled_b_lots",
            "residual_final", "repair_steps")
    return {
        "total": len(idx.combos),
        "complete": by.pop("complete", 0),
        "repaired": by.pop("repaired", 0),
        "failed": by.pop("failed", 0),
        "other": dict(by),  # unfinished ones (a run cut short), any other final state
        "failed_list": [{k: c[k] for k in keys} for c in failed[:MAX_LISTED]],
    }


def _signals(idx: JournalIndex) -> dict[str, Any]:
    actions = collections.Counter(c["action"] for c in idx.combos)
    refusals = collections.Counter(d["detail"] for d in idx.decisions if d["what"] == "refuse")
    return {"entries": actions.get("open", 0), "exits": actions.get("close", 0),
            # a strategy journals a refusal when its reason changes, not on every tick
            "refusals": dict(refusals)}


def _opportunities(journal: Path, idx: JournalIndex, end_ns: int | None) -> dict[str, Any]:
    """The simulator's opportunity windows when its record (``truth.json``) lies beside the
    journal; a journal alone holds the engine's decisions, not the market's opportunities."""
    truth = journal.parent / "truth.json"
    try:
        windows = json.loads(truth.read_bytes()).get("windows", [])
    except (OSError, ValueError):
        return {"count": None, "source": "", "text": (
            "not in a journal, which holds the engine's decisions (the signals above), not the "
            "market's; `cmc demo` counts them from the simulator's record")}
    hi = end_ns if end_ns is not None else idx.last_ts
    merged = [w for w in merge_windows(windows) if idx.first_ts <= w["start_ns"] <= hi]
    return {"count": len(merged), "source": str(truth),
            "text": f"{len(merged)}: {OPPORTUNITY_NOTE} (truth.json beside the journal)"}


def _pnl(idx: JournalIndex, cfg: AppConfig, final: dict[str, Any],
         funding: dict[str, float]) -> tuple[dict[str, Any], dict[str, float]]:
    """PnL in the home currency and per currency, and the fees per currency (a fill's fee in
    the currency the venue named, else its contract's), as the report counts them."""
    fees: dict[str, float] = final.get("fees_by_ccy") or {}
    if not fees:  # a report without fees per currency: count them here
        contracts = {(c.venue, c.sym): c for c in cfg.contracts}
        for f in idx.fills:
            c = contracts.get((f["venue"], f["sym"]))
            if c is not None:
                ccy = f.get("fee_ccy") or c.ccy
                fees[ccy] = fees.get(ccy, 0.0) + float(f["fee"])
    home, fx = final["home"], final["fx"]
    cash, opened = final["cash_by_ccy"], final["open_by_ccy"]
    by_ccy = {}
    for ccy in sorted({*cash, *fees, *opened, *funding}):
        net = cash.get(ccy, 0.0) + opened.get(ccy, 0.0) + funding.get(ccy, 0.0)
        by_ccy[ccy] = {"cash_flows": round(cash.get(ccy, 0.0) + fees.get(ccy, 0.0), 2),
                       "fees": round(fees.get(ccy, 0.0), 2),
                       "open_value": round(opened.get(ccy, 0.0), 2),
                       "funding": round(funding.get(ccy, 0.0), 2), "net": round(net, 2)}
    funding_home = sum((v * (1.0 if k == home else fx) for k, v in funding.items()), 0.0)
    pnl = {"currency": home, "gross": round(final["gross"], 2), "fees": round(final["fees"], 2),
           "funding": round(funding_home, 2), "open_value": round(final["open_value"], 2),
           "net": round(final["net"] + funding_home, 2), "fx_rate": fx, "by_currency": by_ccy}
    return pnl, {k: round(v, 2) for k, v in fees.items()}


def _legging(cores: dict[str, Any]) -> dict[str, Any] | None:
    combo = cores.get("combo")
    if combo is None:
        return None
    cc = combo.snapshot().get("counters", {})
    legs = [c.snapshot().get("counters", {}) for n, c in cores.items() if n.startswith("leg.")]
    return {
        "imbalances": cc.get("imbalances", 0), "chased": cc.get("chased", 0),
        "unwound": cc.get("unwound", 0),
        "max_unhedged_ms": round(cc.get("max_unhedged_ns", 0) / 1e6, 3),
        "unknown_outcomes": sum(x.get("unknown_outcomes", 0) for x in legs),
        "unresolved_unknowns": sum(x.get("unresolved", 0) for x in legs),
        "inferred_rejects": sum(x.get("inferred_rejects", 0) for x in legs),
        "alarms": cc.get("alarms", 0),
    }


FEED_KEYS = ("state", "gaps", "resyncs", "duplicates", "rejected_frames", "stale_periods",
             "reconnects", "clock_offset_us", "one_way_us", "deltas")


def _feed(idx: JournalIndex, cores: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each feed's health at the end: the replayed feed cores, else each venue's last
    ``FeedHealth`` in the journal."""
    out = {}
    for name, core in sorted(cores.items()):
        if name.startswith("feed."):
            snap = core.snapshot()
            out[snap.get("venue", name[5:])] = {k: snap.get(k) for k in FEED_KEYS}
    if out:
        return out
    for h in idx.feed_health:
        out[h["venue"]] = {"state": h["state"], "gaps": h["gaps"], "resyncs": h["resyncs"],
                           "duplicates": h["duplicates"], "rejected_frames": h["rejects"],
                           "stale_periods": h["stale_periods"], "reconnects": h["reconnects"],
                           "clock_offset_us": round(h["clock_offset_ns"] / 1e3, 1),
                           "one_way_us": round(h["one_way_ns"] / 1e3, 1)}
    return out


def _detail(d: dict[str, Any]) -> dict[str, Any]:
    try:
        out = json.loads(d["detail"])
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def _risk(idx: JournalIndex, cores: dict[str, Any], end_ns: int | None,
          end_how: str) -> dict[str, Any]:
    changes = [(r["ts_ns"], r["state"], r["reason"]) for r in idx.risk_events]
    breaches = [_detail(d) for d in idx.decisions if d["what"] == "breach" and d["actor"] == "risk"]
    details = {str(b.get("reason", "")): str(b.get("detail", "")) for b in breaches}
    state = changes[-1][1] if changes else ("ACTIVE" if "risk" in cores else None)
    snap = cores["risk"].snapshot() if "risk" in cores else {}
    return {
        "final_state": state,
        "reason": changes[-1][2] if changes else "",
        "state_text": risk_state_text(state, changes, end_ns, end_how or "shutdown", details),
        "end_of_run_ns": end_ns,
        "earlier": earlier_states(changes[:-1]),  # before the final state
        "state_changes": [{"ts_ns": t, "state": st, "reason": why,
                           "detail": details.get(why, "")} for t, st, why in changes],
        "denials": snap.get("denials", {}),
        "slippage": snap.get("slippage", {}),
    }


def _alarms(idx: JournalIndex) -> dict[str, Any]:
    """The executors' alarms by actor and kind; the risk breaches by reason (the orderly stop's
    own halt left out: it is no alarm); actor restarts; handler errors."""
    kinds = collections.Counter(
        f"{d['actor']}:{_detail(d).get('alarm', '?')}" for d in idx.decisions
        if d["what"] == "alarm")
    breaches = collections.Counter(
        str(b.get("reason", "?")) for d in idx.decisions if d["what"] == "breach"
        and (b := _detail(d)).get("detail") != STOP_REASON)
    return {"total": sum(kinds.values()), "by_kind": dict(kinds), "breaches": dict(breaches),
            "restarts": sum(1 for e in idx.lifecycle if e["event"] == "restart"),
            "handler_errors": sum(1 for d in idx.decisions if d["what"] == "error")}


def _replay_text(r: dict[str, Any]) -> str:
    st = r.get("status")
    if st == "identical":
        return ("identical: legging, feed health, denials, marks and FX rate from the cores "
                "replaying the journal")
    if st == "diverged":
        d = r.get("divergence") or {}
        return (f"diverged at record {d.get('record')} ({d.get('reason')}; is this code the "
                "run's?): the cores' figures (legging, feed, denials, marks, FX) are as of that "
                "record; the journal's tables (orders, fills, combos, risk states) are whole")
    return f"was not possible ({r.get('error', '?')}): legging and marks left out"


def build_run_summary(run: str | Path, cfg: AppConfig | None = None) -> dict[str, Any]:
    """Return the summary of ``run`` (a run directory or its journal) from its journal.

    The config is the run's ``config.json`` beside the journal (the one replay uses, so the
    figures are the same whoever computes them); ``cfg`` is used only when that file is
    missing."""
    journal = journal_of(run)
    try:
        cfg = load_run_config(journal)
    except CmcError:
        if cfg is None:
            raise
    idx = build_index(journal)
    cores, replay = replay_cores(journal, cfg) if (journal.parent / "config.json").exists() \
        else ({}, {"status": "failed", "error": "no config.json beside the journal"})
    end_ns, end_how = stop_marker(idx)
    final: dict[str, Any] = {}
    exposure_and_pnl(idx, cfg, _last_values(cores, cfg, idx.last_ts), final)
    risk_core = cores.get("risk")
    funding = dict(getattr(getattr(risk_core, "book", None), "funding", {}) or {})
    pnl, fees = _pnl(idx, cfg, final, funding)
    units = base_units(cfg)
    return {
        "run": journal.parent.name,
        "journal": str(journal),
        "from_ns": idx.first_ts,
        "to_ns": idx.last_ts,
        "duration_s": round((idx.last_ts - idx.first_ts) / 1e9, 3),
        "events": idx.items,
        "orders": _orders(idx),
        "fills": _fills(idx),
        "combos": _combos(idx),
        "signals": _signals(idx),
        "opportunities": _opportunities(journal, idx, end_ns),
        "pnl": pnl,
        "fees": fees,
        "exposure": {u: round(v, 3) for u, v in final["exposure"].items()},
        "exposure_unit": {u: units.get(u, "") for u in final["exposure"]},
        "open_lots": final["open_lots"],
        "legging": _legging(cores),
        "feed": _feed(idx, cores),
        "risk": _risk(idx, cores, end_ns, end_how),
        "alarms": _alarms(idx),
        "replay": {"status": replay.get("status"), "items": replay.get("items"),
                   "divergence": replay.get("divergence"), "text": _replay_text(replay)},
    }


def write_run_summary(run_dir: Path, cfg: AppConfig) -> Path:
    """Write ``run_dir/summary.json`` from the run's journal (call it once the journal is
    closed: at the end of ``cmc launch``); return its path. It never raises: a journal that
    cannot be summarized gives a summary.json holding ``error`` (and a warning in the log), so
    the stop goes on."""
    out = Path(run_dir) / SUMMARY_FILE
    try:
        summary = build_run_summary(run_dir, cfg)
    except Exception as exc:  # noqa: BLE001 - the launcher's stop must finish
        logger.warning("no run summary: {}", exc)
        summary = {"error": str(exc), "journal": str(Path(run_dir) / "journal.cmcj")}
    out.write_bytes(msgspec.json.format(msgspec.json.encode(summary)))
    return out


__all__ = ["SUMMARY_FILE", "build_run_summary", "journal_of", "replay_cores", "stop_marker",
           "write_run_summary"]
