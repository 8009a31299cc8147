"""Which journaled events become alerts, deduplicated and rate-limited: pure, clock injected.

The journal sees every message delivered to an actor and every ``Decision`` (``actors.journal``),
so the events an operator must hear of are already there:

- ``halted``: a ``TradingState`` of HALTED (risk's state change, with its reason);
  ``risk_state``: REDUCING, and ACTIVE again after either.
- ``naked_exposure``: risk's own verdicts (a ``breach`` of ``max_net_exposure`` or
  ``unhedged_exposure``; a ``flatten`` of exposure left unhedged past ``unhedged_limit_ms``),
  and, with ``naked_exposure_base`` set, an underlying's net exposure in a ``RiskView`` crossing
  that limit (again only after it came back under).
- ``bad_frame``: a venue frame that did not decode (``BadFrame``, to a feed or an executor).
- ``feed_down``: a feed gone STALE (``FeedHealth``), and SYNCED again after it;
  ``session_down``: an executor's ``session_down``/``session_auth_failed``/``oe_disconnected``
  alarm, and ``session_up``/``oe_reconnected`` after it.
- ``restart``: the supervisor's restarts, host rebuilds and escalations; the launcher's
  ``node_exit``/``node_restart``/``node_hung``.
- ``failover``: a ``Decision`` of actor ``ha`` (the hot standby's ``promoted``, ``deposed``,
  ``failover``).

``select`` is what the journal's thread runs for each batch: a type test per item, nothing
else (the rest happens on the sender's thread). ``AlertRules`` turns the selected items into
``Alert``\\s: a copy of one ``TradingState`` delivered to several executors is one event; the
same alert key within ``dedupe_window_s`` is sent once and counted, and the count goes out
once when the window ends; at most ``max_per_minute`` alerts leave per minute (the rest are
dropped and counted, and the next alert that leaves says how many).
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass
from typing import Any

from transports.config.alerts import AlertsConfig
from transports.wire.messages import BadFrame, Decision, FeedHealth, RiskView, TradingState

_S = 1_000_000_000
_MINUTE_NS = 60 * _S
#: the Decisions ``select`` keeps (by ``what``); everything else a Decision says is not an alert
_DECISIONS = frozenset({"alarm", "breach", "flatten", "restart", "restart_host", "escalate",
                        "node_rebuilt", "abandoned", "node_exit", "node_restart", "node_hung",
                        "promoted", "deposed", "failover"})
_SESSION_DOWN = frozenset({"session_down", "session_auth_failed", "oe_disconnected"})
_SESSION_UP = frozenset({"session_up", "oe_reconnected"})
_EXPOSURE_BREACH = frozenset({"max_net_exposure", "unhedged_exposure"})
_RESTARTS = frozenset({"restart", "restart_host", "escalate", "node_rebuilt", "abandoned",
                       "node_exit", "node_restart", "node_hung"})


def select(items: list[tuple[str, str, Any]], exposure: bool) -> list[tuple[str, str, Any]]:
    """The items of one journal batch that may be alerts (cheap: run in the journal's
    thread); ``RiskView``\\s only when ``exposure`` (a ``naked_exposure_base`` is set)."""
    out = []
    for item in items:
        t = type(item[2])
        if t is TradingState or t is FeedHealth or t is BadFrame or (
                t is Decision and item[2].what in _DECISIONS) or (t is RiskView and exposure):
            out.append(item)
    return out


@dataclass(frozen=True)
class Alert:
    """One alert to send: ``kind`` (an ``EventKind``), ``key`` (what the dedupe counts),
    ``severity`` (critical, warning, info), a one-line ``title``, the ``text``, how many
    events it stands for (``count``: 1, or the repeats of a window), ``suppressed`` (alerts
    the rate limit dropped since the last one sent) and the event's time ``ts_ns``."""

    kind: str
    key: str
    severity: str
    title: str
    text: str
    ts_ns: int
    count: int = 1
    suppressed: int = 0
    label: str = ""

    def message(self) -> str:
        """The alert as a few lines of plain text (every format's body)."""
        head = f"[{self.severity.upper()}] {self.label + ': ' if self.label else ''}{self.title}"
        lines = [head, self.text]
        if self.count > 1:
            lines.append(f"(seen {self.count} times)")
        if self.suppressed:
            lines.append(f"({self.suppressed} other alerts dropped by the rate limit)")
        return "\n".join(x for x in lines if x)


@dataclass
class _Window:
    first_ns: int
    repeats: int = 0
    last: Alert | None = None


def _detail(d: Decision) -> dict[str, Any]:
    try:
        got = json.loads(d.detail)
    except ValueError:
        return {"text": d.detail}
    return got if isinstance(got, dict) else {"text": d.detail}


class AlertRules:
    """Events -> alerts, with the dedupe and rate state. ``now_ns`` is the caller's clock."""

    def __init__(self, cfg: AlertsConfig, label: str = "") -> None:
        self.cfg = cfg
        self.label = cfg.label or label
        self.kinds = frozenset(cfg.events)
        self.window_ns = int(cfg.dedupe_window_s * _S)
        self.state = "ACTIVE"  #: the trading state as last seen
        self._state_seen: tuple[str, int] = ("ACTIVE", 0)  #: (state, ts) of the latest copy
        self.feeds: dict[str, str] = {}  #: venue -> its feed's state
        self.sessions: dict[str, bool] = {}  #: venue -> its session is down
        self.over: set[str] = set()  #: underlyings whose net exposure is beyond the limit
        self.breaches: dict[str, str] = {}  #: risk's latest breach detail per reason
        self.windows: dict[str, _Window] = {}
        self.sent_ns: collections.deque[int] = collections.deque()  #: alerts sent, last minute
        self.counters = {"events": 0, "alerts": 0, "deduped": 0, "rate_dropped": 0}
        self._dropped_since = 0

    # --- events ----------------------------------------------------------------------------------

    def on_items(self, items: list[tuple[str, str, Any]], now_ns: int) -> list[Alert]:
        """The alerts the selected journal items (``select``) make now."""
        out: list[Alert] = []
        for src, dst, msg in items:
            for a in self.events(src, dst, msg):
                self.counters["events"] += 1
                if a.kind in self.kinds:
                    out += self._dedupe(a, now_ns)
        return out

    def events(self, src: str, dst: str, msg: Any) -> list[Alert]:
        """What one journaled message means, before dedupe (updates the edge states)."""
        t = type(msg)
        if t is TradingState:
            return self._trading_state(msg)
        if t is FeedHealth:
            return self._feed(msg)
        if t is BadFrame:
            return [self._alert("bad_frame", f"bad_frame:{dst}:{msg.key}", "warning",
                                f"undecodable frame from the venue ({dst}, {msg.key})",
                                msg.reason[:300], 0)]
        if t is RiskView:
            return self._exposure(msg)
        if t is Decision:
            return self._decision(msg)
        return []

    def _alert(self, kind: str, key: str, severity: str, title: str, text: str,
               ts_ns: int) -> Alert:
        return Alert(kind, key, severity, title, text, ts_ns, label=self.label)

    def _trading_state(self, m: TradingState) -> list[Alert]:
        if (m.state, m.ts_ns) == self._state_seen or m.state == self.state:
            return []  # another executor's copy of the same change, or no change
        prev, self.state, self._state_seen = self.state, m.state, (m.state, m.ts_ns)
        why = m.reason or "no reason given"
        detail = self.breaches.get(m.reason, "")
        if detail and detail != m.reason:
            why = f"{why} ({detail})"
        if m.state == "HALTED":
            if detail == "shutdown":  # the launcher's orderly stop halts first
                return [self._alert("halted", "state:HALTED", "info",
                                    "trading HALTED for the shutdown", f"was {prev}", m.ts_ns)]
            return [self._alert("halted", "state:HALTED", "critical", "trading HALTED",
                                f"reason: {why} (was {prev})", m.ts_ns)]
        if m.state == "REDUCING":
            return [self._alert("risk_state", "state:REDUCING", "warning", "trading REDUCING",
                                f"reason: {why} (was {prev})", m.ts_ns)]
        return [self._alert("risk_state", "state:ACTIVE", "info", "trading ACTIVE again",
                            f"was {prev}", m.ts_ns)]

    def _feed(self, h: FeedHealth) -> list[Alert]:
        prev = self.feeds.get(h.venue, "")
        self.feeds[h.venue] = h.state
        if h.state == "STALE" and prev != "STALE":
            return [self._alert("feed_down", f"feed_down:{h.venue}", "critical",
                                f"feed {h.venue} down (STALE)",
                                f"no heartbeat from {h.venue}; gaps {h.gaps}, resyncs "
                                f"{h.resyncs}, reconnects {h.reconnects}", h.ts_ns)]
        if h.state == "SYNCED" and prev == "STALE":
            return [self._alert("feed_down", f"feed_up:{h.venue}", "info",
                                f"feed {h.venue} synced again", "", h.ts_ns)]
        return []

    def _exposure(self, v: RiskView) -> list[Alert]:
        limit = self.cfg.naked_exposure_base
        out = []
        for u, x in v.exposure.items():
            if abs(x) > limit and u not in self.over:
                self.over.add(u)
                out.append(self._alert("naked_exposure", f"naked_exposure:{u}", "warning",
                                       f"naked {u} exposure {x:+.4g} (limit {limit:g})",
                                       "net exposure of the underlying beyond the alert limit",
                                       v.ts_ns))
            elif abs(x) <= limit:
                self.over.discard(u)
        return out

    def _decision(self, d: Decision) -> list[Alert]:
        det = _detail(d)
        what = d.what
        text = json.dumps(det, sort_keys=True, default=str)[:500]
        if what == "alarm":
            alarm, venue = str(det.get("alarm", "")), str(det.get("venue", ""))
            if alarm in _SESSION_DOWN and not self.sessions.get(venue):
                self.sessions[venue] = True
                return [self._alert("session_down", f"session_down:{venue}", "critical",
                                    f"{venue} order session down ({alarm})", text, d.ts_ns)]
            if alarm in _SESSION_UP and self.sessions.get(venue):
                self.sessions[venue] = False
                return [self._alert("session_down", f"session_up:{venue}", "info",
                                    f"{venue} order session up again", text, d.ts_ns)]
            return []
        if what == "breach" and d.actor == "risk":
            # the detail of the state change that follows (a TradingState says the reason)
            self.breaches[str(det.get("reason", ""))] = str(det.get("detail", ""))[:200]
        if what == "breach" and det.get("reason") in _EXPOSURE_BREACH:
            return [self._alert("naked_exposure", f"breach:{det['reason']}", "critical",
                                f"exposure limit breached ({det['reason']})", text, d.ts_ns)]
        if what == "flatten" and d.actor == "risk" and "underlying" in det:
            u = det["underlying"]
            return [self._alert("naked_exposure", f"flatten:{u}", "warning",
                                f"unhedged {u} exposure: risk flattens it", text, d.ts_ns)]
        if what in _RESTARTS and d.actor in ("supervisor", "admin"):
            subject = det.get("node") or det.get("host") or ",".join(det.get("actors") or [])
            sev = "critical" if what in ("escalate", "node_hung", "node_exit") else "warning"
            return [self._alert("restart", f"restart:{what}:{subject}", sev,
                                f"{what.replace('_', ' ')}: {subject}", text, d.ts_ns)]
        if d.actor == "ha":
            return [self._alert("failover", f"failover:{what}", "critical",
                                f"hot standby: {what}", text, d.ts_ns)]
        return []

    # --- dedupe and rate -------------------------------------------------------------------------

    def _dedupe(self, a: Alert, now_ns: int) -> list[Alert]:
        w = self.windows.get(a.key)
        if w is not None and now_ns - w.first_ns < self.window_ns:
            w.repeats += 1
            w.last = a
            self.counters["deduped"] += 1
            return []
        out = self._close(a.key, w)  # the previous window's count, if it had repeats
        self.windows[a.key] = _Window(now_ns)
        return out + self._rate([a], now_ns)

    def _close(self, key: str, w: _Window | None) -> list[Alert]:
        if w is None or not w.repeats or w.last is None:
            return []
        last = w.last
        return [Alert(last.kind, key, last.severity, f"{last.title} (repeated)",
                      last.text, last.ts_ns, count=w.repeats, label=last.label)]

    def tick(self, now_ns: int) -> list[Alert]:
        """The counts of the windows that ended by ``now_ns`` (call it now and then)."""
        out: list[Alert] = []
        for key, w in list(self.windows.items()):
            if now_ns - w.first_ns >= self.window_ns:
                out += self._close(key, w)
                del self.windows[key]
        return self._rate(out, now_ns) if out else []

    def _rate(self, alerts: list[Alert], now_ns: int) -> list[Alert]:
        sent = self.sent_ns
        while sent and now_ns - sent[0] >= _MINUTE_NS:
            sent.popleft()
        out = []
        for a in alerts:
            if len(sent) >= self.cfg.max_per_minute:
                self.counters["rate_dropped"] += 1
                self._dropped_since += 1
                continue
            sent.append(now_ns)
            if self._dropped_since:
                a = Alert(a.kind, a.key, a.severity, a.title, a.text, a.ts_ns, a.count,
                          self._dropped_since, a.label)
                self._dropped_since = 0
            self.counters["alerts"] += 1
            out.append(a)
        return out


__all__ = ["Alert", "AlertRules", "select"]
