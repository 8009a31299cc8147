"""ComboExecutor actor: the combo lifecycle and the legging SOP (DESIGN §7).

In: ``ComboIntent`` from the strategies, ``ExecReport`` from the LegExecutors, ``BookUpdate`` of
the pairs' instruments (the host routes them here; an FX book is used when routed too), and its
own ``Timer``\\s. Out: ``LegOrder``/``CancelLeg`` to ``leg.<venue>``, ``ComboState`` to every
name in ``notify``, ``Decision`` (every repair step, alarms) to the journal, ``SetTimer``.

Lifecycle: ``working`` -> ``complete`` (balanced without repair) | ``failed`` (nothing filled) |
``repairing`` -> ``repaired`` | ``failed`` (budget spent; alarm). Legs go out at once as IOCs
(``concurrent``), or leg A first with each of its fills hedged on B by the lot ratio (``lead``).
When every order of the combo is closed, the held lots (known from fills, or the venue's final
quantity when a fill is still in flight -- never guessed) decide: flat -> done; otherwise chase
the short leg or unwind the over leg, whichever the live books price cheaper (``legging``), up to
``chase_tries`` chases, one IOC at a time, each bounded by ``leg_timeout_ms`` (then cancelled), the
whole repair by ``hedge_budget_ms`` (and ``max_steps`` orders). A leg with a rejected or denied
order is never chased again, only unwound against (and a leg whose unwind our own checks denied
is unwound again only when no chase is possible); an unwind that traded nothing is retried on
the step timer, not at once. A fill that arrives after the combo finished (late fill) re-opens it,
at most ``max_rounds`` times. Records and valuation: ``actors.combo.record``; the
repair planner: ``actors.combo.legging``. ``filled_*_lots`` in ``ComboState`` are the net lots
the combo holds on each leg in the intent's direction; ``residual_base`` its signed exposure.
"""

from __future__ import annotations

import json
from typing import Any

from actors.combo.legging import Top, round_lots
from actors.combo.record import ComboRecord, LegTable, OrderRecord
from actors.combo.repair import FINAL_STATES, ComboRepair
from actors.core import Core, Out
from transports.config.engine import ContractConfig, PairConfig
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ComboState,
    Decision,
    ExecReport,
    LegOrder,
    SetTimer,
)

_NS = 1_000_000
#: a finished combo is kept this long for late fills (which re-open it), then forgotten: a day
#: of combos would otherwise stay in memory and in every checkpoint of the hot group. A fill
#: for a forgotten combo is an orphan report; risk still books it and flattens what it leaves.
FINISHED_RETAIN_NS = 600 * 1_000_000_000
_CLOSED_STATES = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED", "DENIED"})
_COUNTERS = ("combos", "complete", "repaired", "failed", "chased", "unwound", "imbalances",
             "max_unhedged_ns", "duplicate_intents", "refused_intents", "duplicate_fills",
             "orphan_reports", "alarms", "session_pauses")


class ComboExecutorCore(ComboRepair, Core):
    """Pure combo lifecycle and legging logic."""

    def __init__(self, name: str, pairs: dict[str, PairConfig],
                 contracts: dict[str, ContractConfig], notify: list[str], *,
                 journal: str = "journal", max_rounds: int = 3, max_steps: int = 20) -> None:
        super().__init__(name)
        self.pairs = pairs
        self.contracts = contracts  #: keyed "venue:sym"
        self.notify = list(notify)
        self.journal = journal
        self.max_rounds = max_rounds
        self.max_steps = max_steps  #: repair orders per round, a backstop to the budget
        #: "venue:sym" -> the latest valid BookUpdate (its level lists are what the planner reads,
        #: as a ``legging.Top`` would hold them)
        self.books: dict[str, Top | BookUpdate] = {}
        self.combos: dict[int, ComboRecord] = {}
        self._finished: dict[int, int] = {}  #: combo id -> when it finished, oldest first
        self._waiting: dict[int, ComboRecord] = {}  #: combos whose next step waits for a book
        #: "venue:sym" -> the gateway's session state (a leg not "open" cannot be traded)
        self.sessions: dict[str, str] = {}
        #: combos whose repair waits for a session to reopen -> the hedge budget they had left
        self._session_wait: dict[int, tuple[ComboRecord, int]] = {}
        self._budget_due: dict[int, int] = {}  #: combo id -> when its hedge budget runs out
        self.counters: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self._legs = LegTable(pairs, contracts)  #: builds an intent's legs (cached lookups)

    def handle(self, msg: Any, now_ns: int) -> Out:
        """``Core.handle`` with the per-tick messages dispatched first, without a name lookup."""
        t = type(msg)
        if t is ExecReport:
            return self.on_exec_report(msg, now_ns)
        if t is BookUpdate:
            return self.on_book_update(msg, now_ns)
        if t is ComboIntent:
            return self.on_combo_intent(msg, now_ns)
        return Core.handle(self, msg, now_ns)

    # --- helpers ---------------------------------------------------------------------------------

    def _decision(self, what: str, now_ns: int, **detail: Any) -> tuple[str, Decision]:
        return (self.journal, Decision(self.name, what, json.dumps(detail, sort_keys=True), now_ns))

    def _alarm(self, kind: str, now_ns: int, **detail: Any) -> tuple[str, Decision]:
        self.counters["alarms"] += 1
        return self._decision("alarm", now_ns, alarm=kind, **detail)

    def _state(self, c: ComboRecord, state: str, now_ns: int) -> Out:
        c.state = state
        h = c._held  # == (c.held(0), c.held(1)): a leg the combo lacks never moves from 0
        held = c.reported_held = (h[0], h[1])
        i = c.intent
        residual = c.residual()
        slip: tuple[float, float, int, int] = (0.0, 0.0, 0, 0)
        if state in FINAL_STATES:
            (sa, la), (sb, lb) = c.entry_slippage(0), c.entry_slippage(1)
            slip = (round(sa, 6), round(sb, 6), la, lb)
        msg = ComboState(i.combo_id, i.pair, i.action, state,  # type: ignore[arg-type]
                         i.direction, held[0], held[1],
                         round(residual, 6) if residual else residual,  # a zero stays as it is
                         now_ns, *slip)
        to = self.notify
        if len(to) == 2:  # the usual fan-out, built without a comprehension's frame
            return [(to[0], msg), (to[1], msg)]
        return [(d, msg) for d in to]

    def _track_unhedged(self, c: ComboRecord, now_ns: int, final: bool = False) -> None:
        if not final and not c.flat():
            if c.unhedged_since_ns is None:
                c.unhedged_since_ns = now_ns
        elif c.unhedged_since_ns is not None:
            dur = now_ns - c.unhedged_since_ns
            self.counters["max_unhedged_ns"] = max(self.counters["max_unhedged_ns"], dur)
            c.unhedged_since_ns = None

    def _send(
        self, c: ComboRecord, i: int, side: str, lots: int, px: int, purpose: str, now_ns: int
    ) -> Out:
        info = c.legs[i].info
        attempts = c.attempts
        attempt = attempts[i]
        attempts[i] = attempt + 1
        c.add_order((i, attempt), OrderRecord(i, side, lots, purpose))
        intent = c.intent
        contract = info.contract
        order = LegOrder(intent.combo_id, i, attempt, contract.venue, contract.sym,
                         side, lots, px, "IOC", purpose,  # type: ignore[arg-type]
                         intent.ts_recv_ns, intent.ts_signal_ns if purpose == "entry" else now_ns)
        return [(info.dest, order)]

    def _timer(self, kind: str, c: ComboRecord, due_ns: int) -> tuple[str, SetTimer]:
        key = c.step_key if kind == "step" else c.budget_key if kind == "budget" else \
            f"{kind}:{c.intent.combo_id}"
        return ("@timer", SetTimer(key, due_ns))

    def _step_ns(self, c: ComboRecord) -> int:
        return (c.pair.leg_timeout_ms if c.pair else 1000) * _NS

    # --- intents ---------------------------------------------------------------------------------

    def on_combo_intent(self, intent: ComboIntent, now_ns: int) -> Out:
        cid = intent.combo_id
        if self._finished:
            self._forget(now_ns)
        if cid in self.combos:
            # never act twice on one combo id, and never tell the strategy its combo failed
            self.counters["duplicate_intents"] += 1
            return [self._alarm("duplicate_combo", now_ns, combo_id=cid)]
        if self._legs.pairs is not self.pairs or self._legs.contracts is not self.contracts:
            self._legs = LegTable(self.pairs, self.contracts)  # the dicts were replaced
        pair, legs = self._legs.legs(intent)
        self.counters["combos"] += 1
        if isinstance(legs, str):
            c = ComboRecord(intent, pair, {}, now_ns)
            self.combos[cid] = c
            self._finished[cid] = now_ns
            self.counters["refused_intents"] += 1
            self.counters["failed"] += 1
            return [
                self._decision("combo_refused", now_ns, combo_id=cid, reason=legs),
                *self._state(c, "failed", now_ns),
            ]
        assert pair is not None
        c = ComboRecord(intent, pair, legs, now_ns)
        self.combos[cid] = c
        # ``_state(c, "working")``, inline: nothing is held yet (the record starts "working" and
        # reports (0, 0)), so the residual is the record's zero exposure
        residual = c.residual()
        msg = ComboState(cid, intent.pair, intent.action, "working", intent.direction, 0, 0,
                         round(residual, 6) if residual else residual, now_ns)
        to = self.notify
        out: Out = [(to[0], msg), (to[1], msg)] if len(to) == 2 else [(n, msg) for n in to]
        # ``sorted(legs)``: the leg indexes are 0 and 1
        first = ([0] if pair.legging_mode == "lead" else [0, 1]) if len(legs) == 2 else list(legs)
        for i in first:
            # ``_send(c, i, side, target, limit, "entry", now_ns)``, inline: attempt 0 of leg i
            leg = legs[i]
            info = leg.info
            contract = info.contract
            c.attempts[i] = 1
            c.add_order((i, 0), OrderRecord(i, leg.side, leg.target, "entry"))
            out.append((info.dest, LegOrder(cid, i, 0, contract.venue, contract.sym,
                                            leg.side,  # type: ignore[arg-type]
                                            leg.target, leg.limit_px, "IOC", "entry",
                                            intent.ts_recv_ns, intent.ts_signal_ns)))
        step = pair.leg_timeout_ms * _NS  # ``_step_ns``: the pair is known here
        out.append(("@timer", SetTimer(c.step_key, now_ns + step)))
        out.append(
            ("@timer", SetTimer(c.budget_key, now_ns + step + pair.hedge_budget_ms * _NS))
        )
        return out

    def _lead_hedge(self, c: ComboRecord, now_ns: int) -> Out:
        """In lead mode, hedge leg A's fills on leg B by the lot ratio as they come."""
        if (
            c.pair is None
            or c.pair.legging_mode != "lead"
            or len(c.legs) < 2
            or c.repairing
            or c.state in FINAL_STATES
        ):
            return []
        a, b = c.legs[0], c.legs[1]
        want = round_lots(c.held(0) * b.target / a.target)
        committed = sum(
            o.filled if o.terminal else o.qty
            for o in c.orders.values()
            if o.leg == 1 and o.purpose == "entry"
        )
        owed = min(want, b.target) - committed
        if owed <= 0:
            return []
        return self._send(c, 1, b.side, owed, b.limit_px, "entry", now_ns)

    # --- execution reports -----------------------------------------------------------------------

    def on_exec_report(self, r: ExecReport, now_ns: int) -> Out:
        c = self.combos.get(r.combo_id)
        o = c.orders.get((r.leg, r.attempt)) if c is not None else None
        if c is None or o is None:
            self.counters["orphan_reports"] += 1
            return []
        if r.kind == "denied" and r.reason == "duplicate_cl":
            return [self._alarm("duplicate_cl", now_ns, combo_id=r.combo_id, cl=r.cl)]
        o.cl = o.cl or r.cl
        o.state = r.state
        out: Out = []
        kind = r.kind
        closed = r.state in _CLOSED_STATES
        if kind == "fill":
            tid = (r.venue, r.trade_id)
            tids = c.tids
            if tids is None:
                c.tids = {tid}
            elif tid in tids:
                self.counters["duplicate_fills"] += 1
                return []
            else:
                tids.add(tid)
            c.add_fill(o, r.qty_lots, r.px_ticks)
        elif kind == "done":
            c.close(o)
            c.set_final(o, r.cum_lots)
        elif kind == "rejected" or kind == "denied":
            c.close(o)
            # chasing what was just refused would be refused again
            if c.no_chase is None:
                c.no_chase = {o.leg}
            else:
                c.no_chase.add(o.leg)
            if kind == "denied" and o.purpose == "unwind":
                # e.g. a budget check: unwinding grows a position there; chase the other leg
                if c.avoid_unwind is None:
                    c.avoid_unwind = set()
                c.avoid_unwind.add(o.leg)
        elif not closed:
            return []  # sent, accepted, cancel_reject: nothing to decide
        if closed:
            c.close(o)  # e.g. a fill that completed the order before its done arrived
        if c.state in FINAL_STATES:
            # a finished combo re-opens only when it holds something else than it last reported
            # (a late fill), once every order is closed
            if c.all_terminal() and (c.held(0), c.held(1)) != c.reported_held:
                out += self._evaluate(c, now_ns)
            return out
        self._track_unhedged(c, now_ns)
        if o.leg == 0 and o.purpose == "entry":
            out += self._lead_hedge(c, now_ns)
        if c.all_terminal() and not (c.waiting or c.paused):
            out += self._evaluate(c, now_ns)
        return out

    # --- evaluation and repair -------------------------------------------------------------------

    def _finish(self, c: ComboRecord, state: str, now_ns: int, **why: Any) -> Out:
        c.repairing = c.waiting = c.paused = False
        self._waiting.pop(c.intent.combo_id, None)
        self._session_wait.pop(c.intent.combo_id, None)
        self._budget_due.pop(c.intent.combo_id, None)
        self.counters[state] += 1
        self._finished.pop(c.intent.combo_id, None)
        self._finished[c.intent.combo_id] = now_ns
        self._track_unhedged(c, now_ns, final=True)
        out = [self._timer("step", c, 0), self._timer("budget", c, 0)]
        out += self._state(c, state, now_ns)
        if state == "failed" and (why or abs(c.residual()) > 0):
            out.append(self._alarm("combo_failed", now_ns, combo_id=c.intent.combo_id,
                                   residual_base=round(c.residual(), 6),
                                   held=[c.held(0), c.held(1)], **why))
        return out

    def _forget(self, now_ns: int) -> None:
        """Drop the combos that finished more than ``FINISHED_RETAIN_NS`` ago (oldest first)."""
        horizon = now_ns - FINISHED_RETAIN_NS
        finished = self._finished
        while finished:
            cid, t = next(iter(finished.items()))  # the oldest; no copy of the whole dict
            if t > horizon:
                break
            del finished[cid]
            c = self.combos.get(cid)
            if c is not None and c.state in FINAL_STATES:  # a re-opened one finishes again later
                del self.combos[cid]

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        key = f"{u.venue}:{u.sym}"
        if not u.valid:
            self.books.pop(key, None)
            return []
        # the update itself is the book view (fresh lists per update, never mutated): no copy
        self.books[key] = u
        if not self._waiting:
            return []
        out: Out = []
        for cid, c in list(self._waiting.items()):
            if c.all_terminal() and any(leg.key == key for leg in c.legs.values()):
                c.waiting = False
                del self._waiting[cid]
                out += self._step(c, now_ns)
        return out

    def snapshot(self) -> dict[str, Any]:
        """Return combos (id -> state, held lots, residual, orders) and counters."""
        combos = {}
        for cid, c in self.combos.items():
            combos[cid] = {
                "pair": c.intent.pair, "action": c.intent.action, "state": c.state,
                "held": [c.held(0), c.held(1)], "residual_base": round(c.residual(), 6),
                "rounds": c.rounds, "chases": c.chases,
                "orders": {
                    o.cl or f"{k[0]}.{k[1]}": {"purpose": o.purpose, "side": o.side, "qty": o.qty,
                                               "filled": o.filled, "state": o.state}
                    for k, o in c.orders.items()
                },
            }
        return {"combos": combos, "counters": dict(self.counters)}


__all__ = ["ComboExecutorCore"]
