"""The console's view model: admin replies + what earlier polls saw -> rows to draw (pure).

Nothing here reads a clock, a socket or a file: ``History.observe`` and ``build_view`` take the
poll's time (``now_ns``) as an argument, so tests drive them with made-up replies and times.

What one ``pairs`` reply cannot say, ``History`` remembers:

- the last minutes of each pair's spread (the sparkline), bounded by ``window_ns``;
- since when each feed, order-entry session and node has been in its state (its age);
- alarms as they happen, derived from the change between two polls (risk state, a feed leaving
  SYNCED, bad frames, restarts, an HA role change, a failed combo) plus any the status carries;
- warm-up: a pair whose ``WARMUP`` refusals grew since the last poll is still filling its
  statistics window (after a start or a restart), unless the status says so itself.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scripts.admin.console.events import Alarm, HaView, Snapshot, changes, ha_of
from scripts.admin.console.events import num as _f
from scripts.admin.top import pair_state

_S = 1_000_000_000
#: the sparkline's span: "the last minutes" of spread samples
SPARK_WINDOW_NS = 5 * 60 * _S
#: the most alarms kept (oldest dropped first)
MAX_ALARMS = 200
#: refusals that come before any statistics are judged (no book yet, or still warming up)
_NOT_JUDGED = frozenset({"WARMUP", "EMPTY_A", "EMPTY_B", "INVALID_A", "INVALID_B", "STALE_A",
                         "STALE_B", "SKEW"})


@dataclass(frozen=True)
class Units:
    """What the numbers are in: PnL currency, each pair's spread unit, each underlying's base
    unit for exposure. Empty strings when unknown (the console then says ``?``)."""

    home_ccy: str = ""
    spread: dict[str, str] = field(default_factory=dict)  #: pair -> "CNY/g"
    base: dict[str, str] = field(default_factory=dict)  #: underlying -> "g"

    @classmethod
    def from_config(cls, cfg: Any) -> Units:
        """Units of an ``AppConfig``: the home currency, leg A's ``ccy/unit`` per pair, and per
        underlying the unit of a contract whose lot is counted in base units one for one."""
        by_key = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
        spread = {}
        for p in cfg.pairs:
            a = by_key.get(getattr(p, "leg_a", ""))
            if a is not None:
                spread[p.name] = f"{a.ccy}/{a.unit}"
        base: dict[str, str] = {}
        for c in cfg.contracts:
            if c.underlying and c.underlying not in base and c.base_per_lot == c.multiplier:
                base[c.underlying] = c.unit
        return cls(str(cfg.risk.home_ccy), spread, base)

    @classmethod
    def from_reply(cls, view: dict[str, Any]) -> Units | None:
        """Units the ``pairs`` reply carries itself (``"units"``), if it does."""
        u = view.get("units")
        if not isinstance(u, dict):
            return None
        return cls(str(u.get("home_ccy") or ""), dict(u.get("spread") or {}),
                   dict(u.get("base") or {}))


@dataclass(frozen=True)
class PairRow:
    """One pair: the spread against its thresholds, position, state, sparkline samples."""

    name: str
    spread: float | None
    mean: float | None
    std: float | None
    z: float | None
    z_entry: float
    z_exit: float
    min_edge: float
    unit: str  #: the spread's unit (leg A's price unit)
    entry_band: tuple[float, float] | None  #: spread at -z_entry / +z_entry (mean ± z·std)
    pos_lots: tuple[int | None, int | None]
    pending: str
    state: str  #: ``pair_state``: risk's HALTED/REDUCING wins over the strategy's own
    blocked: bool  #: True when the state is not plain "trading"
    warming: bool
    spark: tuple[float, ...]


@dataclass(frozen=True)
class HealthRow:
    """A feed, an order-entry session or a node: its state, whether healthy, for how long."""

    name: str
    state: str
    healthy: bool
    age_s: float | None  #: since the last data (``age_ms``/``silent_ms`` in the reply), else
    #: how long the polls have seen it in this state
    detail: str
    observed: bool = False  #: True when ``age_s`` is the time in this state, as polled


@dataclass(frozen=True)
class ComboRow:
    """One recent combo."""

    cid: str
    pair: str
    action: str
    state: str
    held: str
    residual_base: float | None


@dataclass(frozen=True)
class ConsoleView:
    """Everything one frame of the console shows."""

    now: str
    trading: str  #: risk state: ACTIVE / REDUCING / HALTED / ?
    reasons: tuple[str, ...]
    launch: str  #: launcher state (running, stopping, ...)
    warmup: tuple[str, ...]  #: pairs still warming up ("au-gc")
    restarted: bool  #: some node or actor restarted in this launch
    pairs: tuple[PairRow, ...]
    feeds: tuple[HealthRow, ...]
    legs: tuple[HealthRow, ...]
    nodes: tuple[HealthRow, ...]
    positions: tuple[tuple[str, int, str], ...]  #: (instrument, lots, "lots")
    exposure: tuple[tuple[str, float, str], ...]  #: (underlying, amount, base unit)
    pnl: tuple[tuple[str, float | str, str], ...]  #: (component, amount, currency)
    combos: tuple[ComboRow, ...]
    combo_counters: dict[str, Any]
    ha: HaView | None
    alarms: tuple[Alarm, ...]



def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / _S, UTC).strftime("%H:%M:%S")


class History:
    """What the console remembers between polls (pure: the poll time is passed in)."""

    def __init__(self, window_ns: int = SPARK_WINDOW_NS, max_alarms: int = MAX_ALARMS) -> None:
        self.window_ns = window_ns
        self.spreads: dict[str, collections.deque[tuple[int, float]]] = {}
        self.since_ns: dict[str, tuple[str, int]] = {}  #: "feed:shfe" -> (state, first seen)
        self.alarms: collections.deque[Alarm] = collections.deque(maxlen=max_alarms)
        self.warming: set[str] = set()
        self._warmup_refusals: dict[str, int] = {}
        self._prev: Snapshot | None = None
        self._status_alarms = 0

    def note(self, now_ns: int, severity: str, kind: str, text: str) -> Alarm:
        """Record an alarm the console itself raises (a command's outcome, a lost link)."""
        a = Alarm(now_ns, severity, kind, text)
        self.alarms.append(a)
        return a

    def since(self, key: str, state: str, now_ns: int) -> int:
        """When ``key`` entered ``state`` as far as the polls saw (now if it just changed)."""
        old = self.since_ns.get(key)
        if old is None or old[0] != state:
            self.since_ns[key] = (state, now_ns)
            return now_ns
        return old[1]

    def observe(self, snap: Snapshot, now_ns: int) -> list[Alarm]:
        """Take one poll in: extend the spread series, the ages, warm-up; return new alarms."""
        view = snap.pairs
        for name, p in (view.get("pairs") or {}).items():
            s = _f((p.get("last") or {}).get("mid_spread"))
            series = self.spreads.setdefault(name, collections.deque())
            if s is not None:
                series.append((now_ns, s))
            while series and series[0][0] < now_ns - self.window_ns:
                series.popleft()
            refusals = p.get("refusals") or {}
            warm = refusals.get("WARMUP", 0)
            if isinstance(warm, int):
                before = self._warmup_refusals.get(name)
                if before is None:  # first sight: warming if nothing was ever judged yet
                    judged = any(k not in _NOT_JUDGED for k in refusals) or p.get("intents")
                    warming = warm > 0 and not judged
                else:  # still refusing for warm-up, or a fresh core (its counters reset)
                    warming = warm != before
                self._warmup_refusals[name] = warm
                (self.warming.add if warming else self.warming.discard)(name)
        for kind, items, _ in _health_items(view):  # ages count from the poll that saw it
            for name, f in items.items():
                self.since(f"{kind}:{name}", _state(f if isinstance(f, dict) else {}), now_ns)
        new: list[Alarm] = []
        # alarms the status carries itself (a list of strings or maps), each shown once
        listed = (view.get("status") or {}).get("alarms")
        if isinstance(listed, list):
            if len(listed) < self._status_alarms:  # a new launch: its list starts again
                self._status_alarms = 0
            for a in listed[self._status_alarms:]:
                text = (a.get("text") or a.get("error") or str(a)) if isinstance(a, dict) else a
                new.append(Alarm(now_ns, "warning", "status", str(text)))
            self._status_alarms = len(listed)
        new += changes(self._prev, snap, now_ns)
        self._prev = snap
        self.alarms.extend(new)
        return new


def _state(f: dict[str, Any]) -> str:
    return str(f.get("state") or f.get("gate") or "?")


def _health_items(view: dict[str, Any]) -> list[tuple[str, dict[str, Any], frozenset[str]]]:
    """(kind, {name: its map with a ``state``}, healthy states) for feeds, order entry, nodes."""
    legs = {v: {**o, "state": "unreachable" if not o.get("reachable", True)
                else o.get("gate") or "open"}
            for v, o in (view.get("legs") or {}).items() if isinstance(o, dict)}
    return [("feed", (view.get("risk") or {}).get("feeds") or {}, frozenset({"SYNCED"})),
            ("leg", legs, frozenset({"open"})),
            ("node", (view.get("status") or {}).get("nodes") or {},
             frozenset({"running", "started"}))]


def _ages(hist: History, prefix: str, items: dict[str, Any], now_ns: int,
          healthy_states: frozenset[str]) -> tuple[HealthRow, ...]:
    rows = []
    for name, f in items.items():
        f = f if isinstance(f, dict) else {}
        state = _state(f)
        # the reply's own age (since the last data; a node's silence), if it has one
        given = _f(f.get("age_ms", f.get("silent_ms")))
        since = hist.since(f"{prefix}:{name}", state, now_ns)
        age = given / 1e3 if given is not None else (now_ns - since) / _S
        detail = ", ".join(f"{k} {f[k]}" for k in ("gaps", "resyncs", "restarts", "pid")
                           if k in f)
        rows.append(HealthRow(name, state, state in healthy_states, age, detail,
                              observed=given is None))
    return tuple(rows)


def _pending(p: Any) -> str:
    if not p:
        return "-"
    if isinstance(p, dict):
        return str(p.get("action") or p.get("state") or p.get("cid") or "pending")
    return str(p)


def build_view(snap: Snapshot, hist: History, units: Units | None, now_ns: int) -> ConsoleView:
    """The frame for one poll (call ``hist.observe`` with the same poll first)."""
    view = snap.pairs
    units = Units.from_reply(view) or units or Units()
    risk = view.get("risk") or {}
    status = view.get("status") or {}
    state = str(risk.get("state") or "?")
    pairs = []
    for name, p in (view.get("pairs") or {}).items():
        last = p.get("last") or {}
        mean, std, ze = _f(last.get("mean")), _f(last.get("std")), _f(p.get("z_entry")) or 0.0
        band = (mean - ze * std, mean + ze * std) if mean is not None and std is not None else None
        st = pair_state(p, state)
        pos = [*(p.get("pos_lots") or ()), None, None]
        pairs.append(PairRow(
            name, _f(last.get("mid_spread")), mean, std, _f(last.get("z")), ze,
            _f(p.get("z_exit")) or 0.0, _f(p.get("min_edge")) or 0.0,
            units.spread.get(name, ""), band, (pos[0], pos[1]), _pending(p.get("pending")), st,
            st != "trading", name in hist.warming or _status_warm(status, name),
            tuple(s for _, s in hist.spreads.get(name, ()))))
    feeds, legs, nodes = (_ages(hist, kind, items, now_ns, ok)
                          for kind, items, ok in _health_items(view))
    restarted = any((v or {}).get("restarts") for v in (status.get("nodes") or {}).values()) \
        or any((a or {}).get("restarts") or (a or {}).get("state") == "restarting"
               for a in (snap.actors or {}).values())
    positions = tuple((k, int(v), "lots") for k, v in (risk.get("positions") or {}).items()
                      if isinstance(v, int | float))
    exposure = tuple((k, float(v), units.base.get(k, "base units"))
                     for k, v in (risk.get("exposure") or {}).items()
                     if isinstance(v, int | float))
    raw_pnl = risk.get("pnl") or {}
    # a PnL that names its own currency wins over the config's home currency
    ccy = str(raw_pnl.get("ccy") or units.home_ccy or "?")
    pnl = tuple((k, v if isinstance(v, str) else float(v), ccy) for k, v in raw_pnl.items()
                if k != "ccy" and isinstance(v, int | float | str))
    combos_reply = snap.combos or {}
    combos = tuple(
        ComboRow(str(cid), str(c.get("pair", "")), str(c.get("action", "")),
                 str(c.get("state", "")), "/".join(str(x) for x in c.get("held") or []),
                 _f(c.get("residual_base")))
        for cid, c in reversed(list((combos_reply.get("combos") or {}).items())))
    warm = tuple(r.name for r in pairs if r.warming)
    return ConsoleView(
        _clock(now_ns), state, tuple(risk.get("reasons") or {}), str(status.get("state") or "?"),
        warm, bool(restarted), tuple(pairs), feeds, legs, nodes, positions, exposure, pnl,
        combos, dict(combos_reply.get("counters") or {}), ha_of(status),
        tuple(reversed(hist.alarms)))


def _status_warm(status: dict[str, Any], pair: str) -> bool:
    """The status' own warm-up flag: ``warmup`` true, a list of pairs, or a map pair -> bool."""
    w = status.get("warmup")
    if isinstance(w, bool):
        return w
    if isinstance(w, list | tuple | set):
        return pair in w
    if isinstance(w, dict):
        return bool(w.get(pair))
    return False


__all__ = ["MAX_ALARMS", "SPARK_WINDOW_NS", "Alarm", "ComboRow", "ConsoleView", "HaView",
           "HealthRow", "History", "PairRow", "Snapshot", "Units", "build_view", "ha_of"]
