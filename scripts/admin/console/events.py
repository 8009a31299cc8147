"""What one poll is and what changed since the last (pure): the replies of a poll, the alarms
two polls show, replication (``ha``) as the status carries it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    """One poll's replies: ``pairs`` (required), ``combos`` and ``actors`` (None when missing)."""

    pairs: dict[str, Any]
    combos: dict[str, Any] | None = None
    actors: dict[str, Any] | None = None


@dataclass(frozen=True)
class Alarm:
    """Something the operator must see, as it happened (``ts_ns`` = the poll that saw it)."""

    ts_ns: int
    severity: str  #: "critical" | "warning" | "info"
    kind: str  #: halted, risk_state, feed_down, feed_up, bad_frame, restart, failover, ...
    text: str


@dataclass(frozen=True)
class HaView:
    """Replication: this launch's role, the lease holder, the epoch, the standby's lag."""

    role: str
    holder: str
    epoch: int | None
    lag_records: int | None
    lag_ms: float | None


def num(x: Any) -> float | None:
    """``x`` as a finite float, else None."""
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) \
        and math.isfinite(x) else None


def ha_of(status: dict[str, Any]) -> HaView | None:
    """The status' ``ha`` object as a view, or None when the launch has no replication."""
    ha = status.get("ha")
    if not isinstance(ha, dict) or not ha:
        return None
    epoch, lag_r = ha.get("epoch"), ha.get("lag_records")
    return HaView(str(ha.get("role") or "?"), str(ha.get("holder") or ""),
                  epoch if isinstance(epoch, int) else None,
                  lag_r if isinstance(lag_r, int) else None, num(ha.get("lag_ms")))


def changes(prev: Snapshot | None, cur: Snapshot, now_ns: int) -> list[Alarm]:
    """The alarms two successive polls show: risk state, feeds, order entry, nodes, actors,
    HA role, combos (on the first poll only a risk state that is not ACTIVE)."""
    out: list[Alarm] = []

    def add(sev: str, kind: str, text: str) -> None:
        out.append(Alarm(now_ns, sev, kind, text))

    risk = cur.pairs.get("risk") or {}
    status = cur.pairs.get("status") or {}
    if prev is None:
        state = str(risk.get("state") or "?")
        if state != "ACTIVE":
            add("critical" if state == "HALTED" else "warning", "risk_state",
                f"risk is {state}: {', '.join(risk.get('reasons') or {}) or 'no reason'}")
        return out
    prisk = prev.pairs.get("risk") or {}
    pstatus = prev.pairs.get("status") or {}
    if risk.get("state") != prisk.get("state"):
        state = str(risk.get("state") or "?")
        why = ", ".join(risk.get("reasons") or {}) or "no reason"
        add("critical" if state == "HALTED" else "warning" if state != "ACTIVE" else "info",
            "halted" if state == "HALTED" else "risk_state",
            f"risk {prisk.get('state')} -> {state} ({why})")
    pfeeds = prisk.get("feeds") or {}
    for v, f in (risk.get("feeds") or {}).items():
        was = (pfeeds.get(v) or {}).get("state")
        now = f.get("state")
        if was is not None and now != was:
            if now == "SYNCED":
                add("info", "feed_up", f"feed {v} {was} -> SYNCED")
            else:
                add("warning", "feed_down", f"feed {v} {was} -> {now}")
        gaps, pgaps = f.get("gaps", 0), (pfeeds.get(v) or {}).get("gaps", 0)
        if isinstance(gaps, int) and isinstance(pgaps, int) and gaps > pgaps:
            add("warning", "feed_gap", f"feed {v}: {gaps - pgaps} new gap(s)")
    plegs = prev.pairs.get("legs") or {}
    for v, o in (cur.pairs.get("legs") or {}).items():
        bad, pbad = o.get("bad_frames", 0), (plegs.get(v) or {}).get("bad_frames", 0)
        if isinstance(bad, int) and isinstance(pbad, int) and bad > pbad:
            add("warning", "bad_frame", f"order entry {v}: {bad - pbad} bad frame(s)")
        if o.get("gate") and o.get("gate") != (plegs.get(v) or {}).get("gate"):
            add("warning", "session_down", f"order entry {v}: {o.get('gate')}")
    pnodes = pstatus.get("nodes") or {}
    for n, v in (status.get("nodes") or {}).items():
        r, pr = v.get("restarts", 0), (pnodes.get(n) or {}).get("restarts", 0)
        if isinstance(r, int) and isinstance(pr, int) and r > pr:
            add("critical", "restart", f"node {n} restarted ({r} so far)")
        if v.get("state") != (pnodes.get(n) or {}).get("state") and n in pnodes:
            sev = "critical" if v.get("state") in ("hung", "failed") else "info"
            add(sev, "node", f"node {n} {pnodes[n].get('state')} -> {v.get('state')}")
    if cur.actors is not None and prev.actors is not None:
        for a, s in cur.actors.items():
            r, pr = s.get("restarts", 0), (prev.actors.get(a) or {}).get("restarts", 0)
            if isinstance(r, int) and isinstance(pr, int) and r > pr:
                add("critical", "restart", f"actor {a} restarted ({r} so far)")
    ha, pha = ha_of(status), ha_of(pstatus)
    if ha is not None and pha is not None and (ha.role, ha.holder) != (pha.role, pha.holder):
        add("critical", "failover", f"HA {pha.role} -> {ha.role} (holder {ha.holder}, "
                                    f"epoch {ha.epoch})")
    if cur.combos is not None and prev.combos is not None:
        cc = cur.combos.get("counters") or {}
        pc = prev.combos.get("counters") or {}
        for k in ("failed", "alarms", "imbalances", "unwound"):
            n, pn = cc.get(k, 0), pc.get(k, 0)
            if isinstance(n, int) and isinstance(pn, int) and n > pn:
                add("warning", f"combo_{k}", f"combos {k}: +{n - pn} (total {n})")
    return out



__all__ = ["Alarm", "HaView", "Snapshot", "changes", "ha_of", "num"]
