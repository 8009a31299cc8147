"""The whole engine against the simulator, in virtual time: no threads, no sockets, exact.

``SimEngine`` builds every actor's core from a config with ``build_shells`` (as a node does),
and a ``SimCore`` with the same config's venues and fault switches. A ``TestClock`` jumps from
one due event to the next: the simulator's refreshes, heartbeats and replies, the cores'
timers, and snapshot answers. Every frame crosses the real wire format: the cores' ``@oe``
requests are MessagePack-encoded and decoded by the gateway's own request codec; the
simulator's replies and market data are encoded and decoded by the shells' ``decode``. Core
outputs are routed by the host's own ``actors.runtime.dispatch.Dispatcher`` for one group (FIFO,
run to completion, an actor's ``@`` outputs at once), which also keeps the timers.

What the venue saw is the simulator's own record (``truth``), what the engine did is what the
host would have journaled (``log``, a journal without the file: every delivery but derived book
data made inside, every venue frame) and the ``Decision``\\s sent to the journal.
``check_invariants`` holds the properties every order-entry fault test asserts.
"""

from __future__ import annotations

import collections
import heapq
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from actors.leg.executor import LegExecutorCore
from actors.leg.orders import TERMINAL, TRANSITIONS, OrderState
from actors.runtime.dispatch import Dispatcher, Sink
from actors.runtime.node import actor_names, build_shells
from transports.clock import TestClock
from transports.config.engine import AppConfig
from transports.journal.format import T_BATCH, decode_batch_raw, decode_item
from transports.journal.reader import JournalReader
from transports.latency import LatencyRecorder
from transports.venues.sim.core import SimCore
from transports.wire.codec import Codec, encode
from transports.wire.messages import Decision, ExecReport, Halt
from transports.wire.venue_msgs import OeRequest

T0 = 1_700_000_000_000_000_000
MS = 1_000_000
_REQ: Codec[Any] = Codec(OeRequest)


class _Wire(Sink):
    """The engine's effects: frames to the simulator, decisions and errors kept."""

    def __init__(self, eng: SimEngine) -> None:
        self.eng = eng

    def send(self, actor: str, key: str, msg: Any) -> None:
        self.eng._frame(actor, key, msg)

    def host(self, actor: str, msg: Any) -> None:
        pass  # socket reopen requests: the simulated wire never breaks

    def forward(self, dest: str, msg: Any) -> None:
        if dest == "journal" and isinstance(msg, Decision):
            self.eng.decisions.append(msg)

    def failed(self, actor: str, exc: BaseException, now_ns: int) -> None:
        self.eng.errors.append((actor, repr(exc)))  # as the host: record it and go on


class SimEngine:
    """Every core of ``cfg`` (the journal excepted) trading against a ``SimCore``."""

    def __init__(self, cfg: AppConfig, leftover: Sequence[tuple[str, Any]] = ()) -> None:
        """``leftover``: (venue, NewOrder) the engine's account sent before this run started
        (a previous run's position): they trade at the venue 100 ms before the cores start."""
        self.cfg = cfg
        self.clock = TestClock(T0)
        self.sim = SimCore(cfg, T0)
        if leftover:
            accounts = {v.name: v.account for v in cfg.venues}
            for venue, req in leftover:
                self.sim.request(T0, venue, accounts[venue], req)
            self.sim.advance(T0 + 100 * MS)  # its replies went to a process that is gone
            self.clock.set_ns(T0 + 100 * MS)
        names = [a for a in actor_names(cfg) if a != "journal"]
        self.shells = build_shells(cfg, "/sim", self.clock, LatencyRecorder(capacity=64),
                                   None, set(names))
        self.cores: dict[str, Any] = {n: s.core for n, s in self.shells.items()}
        self.order = [n for n in names if n in self.cores]
        #: venue name -> (executor account, feed account)
        self.accounts = {v.name: v.account for v in cfg.venues}
        self._by_account: dict[str, str] = {}
        for v in cfg.venues:
            self._by_account[v.account] = f"leg.{v.name}"
            self._by_account[f"{v.account}.feed"] = f"feed.{v.name}"
        self.log: list[tuple[int, str, str, Any]] = []  #: (ts, sender, dest, msg) every delivery
        self.decisions: list[Decision] = []
        self.errors: list[tuple[str, str]] = []
        self.frames_out: list[tuple[int, str, Any]] = []  #: (ts, actor, request) to a venue
        self.ref_out: list[tuple[int, str, Any]] = []  #: (ts, actor, request) on a venue's ref
        self.wire_out: list[tuple[int, str, bytes]] = []  #: (ts, actor, bytes) as they left
        self._inbound: list[tuple[int, int, str, str, bytes]] = []  # ts, n, actor, key, frame
        self._n = 0
        self.dispatch = Dispatcher(self.cores, _Wire(self))
        for name in self.order:
            self.dispatch.start(name, self.cores[name], self.now)
        self._logged()

    @property
    def now(self) -> int:
        return self.clock.now_ns()

    # --- routing (the host's Dispatcher) --------------------------------------------------------

    def route(self, src: str, out: list[tuple[str, Any]]) -> None:
        """Deliver ``out`` from ``src`` and everything it causes (``Dispatcher.route``)."""
        self.dispatch.route(src, out or [], self.now)
        self._logged()

    def _logged(self) -> None:
        j = self.dispatch.journaled
        if j:
            now = self.now
            self.log.extend((now, s, d, m) for s, d, m in j)
            j.clear()

    def _frame(self, sender: str, key: str, msg: Any) -> None:
        now = self.now
        venue = sender.split(".", 1)[1]
        if key == "ref":
            self.ref_out.append((now, sender, msg))
            ans = self.sim.ref(now, venue, msg)
            if ans is not None:
                rtt = 2 * self.sim.latency_ns(venue)
                self._push(now + rtt, sender, "ref", encode(ans))
            return
        if key == "oe":
            raw = encode(msg)
            req = _REQ.decode(raw)  # the gateway's own decoder sees our bytes
            self.frames_out.append((now, sender, req))
            self.wire_out.append((now, sender, raw))
            account = self.accounts[venue]
            if sender.startswith("feed."):
                account += ".feed"
            self.sim.request(now, venue, account, req)
            return
        raise AssertionError(f"{sender}: unexpected destination @{key}")

    def _push(self, ts: int, actor: str, key: str, frame: bytes) -> None:
        self._n += 1
        heapq.heappush(self._inbound, (ts, self._n, actor, key, frame))

    def _deliver(self, actor: str, key: str, frames: list[bytes]) -> None:
        shell = self.shells.get(actor)
        if shell is None:
            return
        msg = shell.decode(key, frames, self.now)
        self.route(f"@{key}", [(actor, msg)])

    # --- time -----------------------------------------------------------------------------------

    def _due(self) -> int:
        t = self.sim.next_due()
        timer = self.dispatch.next_due()
        if timer is not None:
            t = min(t, timer)
        if self._inbound:
            t = min(t, self._inbound[0][0])
        return t

    def run_to(self, t_ms: float) -> None:
        """Run until ``t_ms`` after the start."""
        end = T0 + round(t_ms * MS)
        while (t := self._due()) <= end:
            self.clock.set_ns(max(t, self.now))
            if self.sim.next_due() <= self.now:
                md, oe = self.sim.advance(self.now)
                for venue, topic, m in md:
                    self._deliver(f"feed.{venue}", "md", [topic.encode(), encode(m)])
                for _venue, account, m in oe:
                    actor = self._by_account.get(account)
                    if actor is not None:
                        self._deliver(actor, "oe", [encode(m)])
            self.dispatch.fire_due(self.now)
            self._logged()
            while self._inbound and self._inbound[0][0] <= self.now:
                _, _, actor, key, frame = heapq.heappop(self._inbound)
                self._deliver(actor, key, [frame])
        self.clock.set_ns(max(end, self.now))

    def stop_strategies(self) -> None:
        """No new opens from here on: each strategy gets ``Halt`` as from an
        operator; it still closes what it holds, and repairs, risk and reconciliation go on."""
        for n in self.order:
            if n.startswith("strategy."):
                self.send(n, Halt("test"))

    def restart(self, names: list[str], epoch: int) -> None:
        """Replace these actors' cores by fresh ones built with ``run.epoch = epoch``, as the
        supervisor does (the old core is stopped first, its output routed)."""
        cfg = msgspec.structs.replace(self.cfg, run=msgspec.structs.replace(self.cfg.run,
                                                                           epoch=epoch))
        fresh = build_shells(cfg, "/sim", self.clock, LatencyRecorder(capacity=64), None,
                             set(names))
        d = self.dispatch
        for name in names:
            d.stop(name, self.cores[name], self.now)
            self.shells[name] = fresh[name]
            self.cores[name] = fresh[name].core
            d.drop_timers(name)  # the old core's timers die with it
        for name in names:
            d.start(name, self.cores[name], self.now, epoch)
        self._logged()

    def inject(self, actor: str, key: str, msg: Any) -> None:
        """A frame on ``actor``'s socket ``key`` now, as a gateway would send it (a test hook
        for what the simulator never sends, e.g. a version 2 ``funding``): encoded, then
        decoded by the actor's shell like every frame."""
        self._push(self.now, actor, key, encode(msg))

    def send(self, dest: str, msg: Any) -> None:
        """Deliver ``msg`` to ``dest`` now, as an operator command would arrive."""
        self.route("@test", [(dest, msg)])

    # --- what happened --------------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        return self.sim.truth.to_dict()

    def reports(self) -> list[ExecReport]:
        """Every ExecReport the executors sent (to the ComboExecutor)."""
        return [m for _, s, d, m in self.log if d == "combo" and type(m) is ExecReport]

    def alarms(self) -> list[dict[str, Any]]:
        return [json.loads(d.detail) for d in self.decisions if d.what == "alarm"]

    def residual_base(self) -> float:
        """The pair's lot-ratio residual in base units (what a perfect hedge still leaves)."""
        return max(abs(c.residual_base) for n, c in self.cores.items()
                   if n.startswith("strategy."))

    def leg_cores(self) -> list[LegExecutorCore]:
        return [c for n, c in self.cores.items() if n.startswith("leg.")]


@dataclass
class Invariants:
    """What ``check_invariants`` found (empty lists = every invariant holds)."""

    orders: int = 0
    fills: int = 0
    combos: int = 0
    max_excursion_ms: float = 0.0
    final_exposure_base: float = 0.0
    violations: list[str] = field(default_factory=list)


def _base_per_lot(cfg: AppConfig) -> dict[str, float]:
    return {f"{c.venue}:{c.sym}": c.base_per_lot for c in cfg.contracts}


def check_invariants(eng: SimEngine, deadline_ms: float) -> Invariants:
    """Check the order-entry invariants against the simulator's own record.

    1. each (combo, leg, attempt) reached the venue at most once; no client order id twice;
    2. the engine's fills (its ``fill`` reports) equal the venue's trades for its accounts;
    3. net exposure from the venue's fills never stays beyond the lot residual (the clip's, or
       half the smallest lot, whichever is larger) longer than ``deadline_ms``, and ends
       within it;
    4. every order's states in the reports follow the transition table, and no executor raised
       an ``illegal_transition`` or ``overfill`` alarm;
    5. no leg's next attempt was sent while its earlier attempt's outcome was still unknown to
       the engine (the blind resend of V04: two orders for one leg at once).
    """
    inv = Invariants()
    truth = eng.truth()
    accounts = set(eng.accounts.values())
    orders = [o for o in truth["orders"] if o["account"] in accounts]
    fills = [f for f in truth["fills"] if f["account"] in accounts]
    inv.orders, inv.fills = len(orders), len(fills)
    seen: collections.Counter[str] = collections.Counter(o["cl"] for o in orders)
    twice = sorted(cl for cl, n in seen.items() if n > 1)
    if twice or truth["counts"]["duplicate_client_ids"]:
        inv.violations.append(f"client ids sent twice: {twice[:5]} "
                              f"(venue count {truth['counts']['duplicate_client_ids']})")
    keys = collections.Counter(cl.split(".", 1)[1] for cl in seen)  # combo.leg.attempt
    again = sorted(k for k, n in keys.items() if n > 1)
    if again:
        inv.violations.append(f"(combo, leg, attempt) sent more than once: {again[:5]}")
    inv.combos = len({k.split(".")[0] for k in keys})
    # 2. fills: the engine's deduplicated fill reports against the venue's trades
    mine = collections.Counter((r.cl, r.trade_id, r.qty_lots, r.px_ticks)
                               for r in eng.reports() if r.kind == "fill")
    # with ``[sim] ids = "int"`` the gateway wrote trade ids as integers (``shfe-t5`` -> 5): the
    # engine holds them as text, "5"
    as_sent = ((lambda t: t.rsplit("-t", 1)[1]) if eng.cfg.sim.ids == "int" else (lambda t: t))
    venue = collections.Counter((f["cl"], as_sent(f["tid"]), f["qty"], f["px"]) for f in fills)
    if mine != venue:
        inv.violations.append(f"engine fills != venue trades: engine only "
                              f"{sorted((mine - venue).elements())[:5]}, venue only "
                              f"{sorted((venue - mine).elements())[:5]}")
    # 3. exposure from the venue's fills, over time
    bpl = _base_per_lot(eng.cfg)
    # flat as the engine can make it: the clip's own residual, or less than half the smallest
    # lot (after partial fills no whole-lot order on either leg reduces what is left)
    tol = max(eng.residual_base(), min(b for b in bpl.values() if b > 0) / 2) + 1e-6
    net = 0.0
    out_since: int | None = None
    for f in sorted(fills, key=lambda f: f["ts"]):
        net += (1 if f["side"] == "B" else -1) * f["qty"] * bpl[f"{f['venue']}:{f['sym']}"]
        if abs(net) > tol and out_since is None:
            out_since = f["ts"]
        elif abs(net) <= tol and out_since is not None:
            inv.max_excursion_ms = max(inv.max_excursion_ms, (f["ts"] - out_since) / MS)
            out_since = None
    if out_since is not None:
        inv.max_excursion_ms = max(inv.max_excursion_ms, (eng.now - out_since) / MS)
        inv.violations.append(f"final exposure {net:+.2f} beyond the lot residual {tol:.2f}")
    inv.final_exposure_base = net
    if inv.max_excursion_ms > deadline_ms:
        inv.violations.append(f"exposure beyond the residual for {inv.max_excursion_ms:.0f} ms "
                              f"(deadline {deadline_ms:.0f} ms)")
    # 4. legal transitions only
    inv.violations += illegal_transitions(eng.reports())
    inv.violations += blind_resends(eng.log)
    bad = [a for a in eng.alarms() if a["alarm"] in ("illegal_transition", "overfill")]
    if bad:
        inv.violations.append(f"alarms: {bad[:3]}")
    if eng.errors:
        inv.violations.append(f"actor errors: {eng.errors[:3]}")
    return inv


#: the order states after which an order's outcome is known and final
_FINAL_STATES = frozenset(s.value for s in TERMINAL)


def journal_log(path: str | Path) -> list[tuple[int, str, str, Any]]:
    """A run's journal as ``SimEngine.log`` holds its deliveries: ``(ts, sender, dest,
    message)``, each message typed (``read_journal`` gives plain lists and the group, not the
    sender), so the log's oracles (``blind_resends``) read a live run's journal too."""
    out: list[tuple[int, str, str, Any]] = []
    for frame in JournalReader(path):
        if frame.rtype == T_BATCH:
            ts, _group, items = decode_batch_raw(frame.body)
            out.extend((ts, src, dest, decode_item(src, dest, raw)) for src, dest, raw in items)
    return out


def blind_resends(log: list[tuple[int, str, str, Any]]) -> list[str]:
    """Every repair order of a combo's leg (a chase, an unwind: its ``sent`` report) sent before
    the engine knew how each earlier order of that leg ended (a report that left it in a
    terminal state: filled, canceled, expired, rejected, denied): whatever the earlier one does
    at the venue then adds to the new one. Entry orders of one leg may work together (``lead``
    hedges each fill of the lead leg with its own order); a repair waits for all of them."""
    sent: dict[tuple[int, int, int], int] = {}  # where in the log, not when: one cycle's
    final: dict[tuple[int, int, int], int] = {}  # deliveries share a time but keep an order
    repairs: set[tuple[int, int, int]] = set()
    for i, (_ts, _s, d, m) in enumerate(log):
        if d != "combo" or type(m) is not ExecReport:
            continue
        key = (m.combo_id, m.leg, m.attempt)
        if m.kind == "sent":
            sent.setdefault(key, i)
            if m.reason != "entry":  # the sent report's reason is the order's purpose
                repairs.add(key)
        elif m.state in _FINAL_STATES:
            final.setdefault(key, i)
    return [f"combo {combo} leg {leg}: attempt {attempt} sent while attempt {k[2]}'s outcome "
            f"was unknown"
            for (combo, leg, attempt) in sorted(repairs)
            for k in sent
            if k[:2] == (combo, leg) and k[2] < attempt
            and final.get(k, len(log)) > sent[(combo, leg, attempt)]]


_LEGAL: dict[OrderState, set[OrderState]] = collections.defaultdict(set)
for (_s, _e), _t in TRANSITIONS.items():
    if _t is not None:
        _LEGAL[_s].add(_t)


def illegal_transitions(reports: list[ExecReport]) -> list[str]:
    """Every consecutive pair of states of one order that no transition of the table allows.

    A state repeated (a second partial fill) is allowed; ``PENDING_*`` -> previous state is the
    table's ``None`` (a cancel rejected), allowed back to any non-terminal state."""
    last: dict[str, OrderState] = {}
    bad: list[str] = []
    for r in reports:
        st = OrderState(r.state)
        prev = last.get(r.cl)
        last[r.cl] = st
        if prev is None or prev is st:
            continue
        if st in _LEGAL[prev]:
            continue
        if prev.name.startswith("PENDING_") and st.name in ("ACCEPTED", "PARTIALLY_FILLED",
                                                             "SUBMITTED"):
            continue
        bad.append(f"{r.cl}: {prev.value} -> {st.value} ({r.kind})")
    return bad
