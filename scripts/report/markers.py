"""What the report draws on its timelines: operator actions and alarms, from the journal.

- operator actions: the admin commands that change the engine, as the launcher journals them
  (``Decision("admin", cmd, ...)``), and the typed controls they (or the launcher's own
  shutdown) delivered (``Halt``, ``Reduce``, ``Resume``, ``Flatten``, ``SetParams`` arriving
  ``@group``: the ``controls`` table). One command reaches several actors (a flatten goes to
  ``risk`` and to every strategy): the deliveries of one command are one marker;
- alarms: the ``alarm`` and ``breach`` Decisions (an unknown outcome, a disconnect, a failed
  combo, a risk limit) and the risk supervisor's state changes (``TradingState``: HALTED,
  REDUCING, and ACTIVE again), and the supervisor's restarts of an actor.

Markers of one kind and label close together in time are one marker (an alarm every venue
raised in the same cycle: ``alarm oe_disconnected (comex, shfe)``).
"""

from __future__ import annotations

import json
from typing import Any

from scripts.audit.extract import JournalIndex

#: admin commands that change the engine (the others only read it: status, get, orders, ...)
ADMIN_CHANGES = frozenset({"halt", "reduce", "resume", "flatten", "set", "restart",
                           "rotate-journal", "shutdown"})
#: the controls' names as the admin protocol spells the command
_CONTROL_CMD = {"setparams": "set_params", "halt": "halt", "reduce": "reduce",
                "resume": "resume", "flatten": "flatten"}
#: deliveries of one command within this of each other are one marker
SAME_COMMAND_NS = 1_000_000_000


def _json(text: str) -> dict[str, Any]:
    try:
        d = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def _operator(idx: JournalIndex) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for d in idx.decisions:
        if d["actor"] != "admin" or d["what"] not in ADMIN_CHANGES:
            continue
        det = _json(d["detail"])
        args = det.get("args") or {}
        why = (f"{args.get('key')}={args.get('value')}" if d["what"] == "set"
               else str(args.get("reason") or args.get("actor") or ""))
        ok = "" if det.get("ok", True) else " (refused)"
        cmd = "set_params" if d["what"] == "set" else d["what"]
        short = f"{cmd} {why}" if cmd == "set_params" else cmd
        out.append({"ts_ns": d["ts_ns"], "kind": "operator", "cmd": cmd,
                    "label": f"admin {cmd}{ok}" + (f": {why}" if why else ""),
                    "short": short + ok, "detail": ""})
    admin = [(m["ts_ns"], m["cmd"]) for m in out]
    for c in idx.controls:
        cmd = _CONTROL_CMD.get(c["cmd"], c["cmd"])
        # the typed control an admin command delivered: the admin's marker already says it
        if any(cmd == a and abs(c["ts_ns"] - t) <= SAME_COMMAND_NS for t, a in admin):
            continue
        label = f"operator {cmd}" + (f": {c['arg']}" if c["arg"] else "")
        short = f"{cmd} {c['arg']}" if cmd == "set_params" else cmd
        out.append({"ts_ns": c["ts_ns"], "kind": "operator", "cmd": cmd, "label": label,
                    "short": short, "detail": c["dest"]})
    return out


def _alarms(idx: JournalIndex) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    risk = {(r["ts_ns"], r["state"]) for r in idx.risk_events}
    prev = "ACTIVE"
    for r in idx.risk_events:
        if r["state"] == prev:
            continue
        kind = "recovered" if r["state"] == "ACTIVE" else "alarm"
        out.append({"ts_ns": r["ts_ns"], "kind": kind, "cmd": "risk",
                    "label": f"risk {r['state']}" + (f": {r['reason']}" if r["reason"] else ""),
                    "short": f"risk {r['state']}", "detail": ""})
        prev = r["state"]
    for d in idx.decisions:
        det = _json(d["detail"])
        if d["what"] == "alarm":
            short = str(det.get("alarm") or det.get("error") or "?")
            label = f"alarm {short}"
            who = str(det.get("venue") or d["actor"])
        elif d["what"] == "breach":
            if (d["ts_ns"], det.get("state")) in risk:
                continue  # the risk state change it caused is the marker
            short = f"{det.get('reason', '?')} → {det.get('state', '?')}"
            label = f"breach {short}"
            who = d["actor"]
        else:
            continue
        out.append({"ts_ns": d["ts_ns"], "kind": "alarm", "cmd": d["what"], "label": label,
                    "short": short, "detail": who})
    out += [  # the supervisor restarted an actor (rebuilt or fresh)
        {"ts_ns": e["ts_ns"], "kind": "alarm", "cmd": "restart", "label": f"restart ({e['kind']})",
         "short": f"restart {e['actor']}", "detail": e["actor"]}
        for e in idx.lifecycle
        if e["event"] == "restart"
    ]
    return out


def timeline_markers(idx: JournalIndex, merge_ns: int = SAME_COMMAND_NS) -> list[dict[str, Any]]:
    """Operator actions and alarms in time order: ``ts_ns``, ``kind`` (``operator``,
    ``alarm``, ``recovered``), ``label`` (what and why, for the table), ``short`` (what, for a
    plot: ``halt``, ``oe_disconnected``, ``risk HALTED``) and ``count`` (the events merged
    into it)."""
    raw = sorted(_operator(idx) + _alarms(idx), key=lambda m: m["ts_ns"])
    out: list[dict[str, Any]] = []
    for m in raw:
        same = next((o for o in reversed(out) if o["kind"] == m["kind"]
                     and o["base"] == m["label"] and m["ts_ns"] - o["ts_ns"] <= merge_ns), None)
        if same is not None:
            # one operator command reaches several actors (risk passes a flatten on to every
            # strategy): its deliveries are one action; an alarm every venue raised counts each
            if m["kind"] != "operator":
                same["count"] += 1
            if m["detail"] and m["detail"] not in same["who"]:
                same["who"].append(m["detail"])
            continue
        out.append({"ts_ns": m["ts_ns"], "kind": m["kind"], "base": m["label"], "count": 1,
                    "short": m["short"], "who": [m["detail"]] if m["detail"] else []})
    for o in out:
        who = sorted(o.pop("who"))
        o["label"] = o.pop("base") + (f" ({', '.join(who)})" if who and o["kind"] == "alarm"
                                      else "")
    return out


__all__ = ["ADMIN_CHANGES", "timeline_markers"]
