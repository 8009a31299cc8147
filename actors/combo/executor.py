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
at most ``max_rounds`` times. Records and valuation: ``actors.combo.record``; an intent's legs:
``actors.combo.legs``; the common intent opened in one step: ``actors.combo.intake``; the combos,
counters and the messages sent of them: ``actors.combo.ledger`` (``ledger``); the repair loop:
``actors.combo.repair`` (``repair``); the repair planner: ``actors.combo.legging``; the fills of
a combo lost with the journal's tail: ``actors.combo.adopt``.
``filled_*_lots`` in ``ComboState`` are the net lots the combo holds on each leg in the intent's
direction; ``residual_base`` its signed exposure.
"""

from __future__ import annotations

from typing import Any

from actors.combo.adopt import adopt_fill
from actors.combo.intake import open_pair_combo
from actors.combo.ledger import FINAL_STATES, FINISHED_RETAIN_NS, ComboLedger
from actors.combo.legging import Top, round_lots
from actors.combo.legs import LegTable
from actors.combo.record import ComboRecord, ComboTimer, OrderRecord
from actors.combo.repair import ComboRepair
from actors.core import Core, Out
from transports.config.engine import ContractConfig, PairConfig
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ComboState,
    ExecReport,
    LegOrder,
    SessionStatus,
    SetTimer,
    Timer,
)

_NS = 1_000_000
_STEP, _BUDGET = ComboTimer.STEP, ComboTimer.BUDGET
_CLOSED_STATES = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED", "DENIED"})


class ComboExecutorCore(Core):
    """Pure combo lifecycle and legging logic: it owns its combos, counters and the messages it
    sends of them (``ledger``, ``actors.combo.ledger``) and its repair loop (``repair``,
    ``actors.combo.repair``); its handlers delegate to them."""

    def __init__(self, name: str, pairs: dict[str, PairConfig],
                 contracts: dict[str, ContractConfig], notify: list[str], *,
                 journal: str = "journal", max_rounds: int = 3, max_steps: int = 20) -> None:
        super().__init__(name)
        self.pairs = pairs
        self.ledger = ComboLedger(name, journal, notify)
        self.repair = ComboRepair(self.ledger, contracts, max_rounds, max_steps)
        self._legs = LegTable(pairs, contracts)  #: builds an intent's legs (cached lookups)

    # --- what other code reads (the helpers' state) -----------------------------------------------

    @property
    def contracts(self) -> dict[str, ContractConfig]:
        """"venue:sym" -> contract (``repair.contracts``: the repair prices with them)."""
        return self.repair.contracts

    @contracts.setter
    def contracts(self, value: dict[str, ContractConfig]) -> None:
        self.repair.contracts = value

    @property
    def journal(self) -> str:
        """The journal's actor name (``ledger.journal``)."""
        return self.ledger.journal

    @property
    def combos(self) -> dict[int, ComboRecord]:
        """combo id -> record (``ledger.combos``)."""
        return self.ledger.combos

    @property
    def counters(self) -> dict[str, int]:
        """The executor's counters (``ledger.counters``)."""
        return self.ledger.counters

    @property
    def notify(self) -> list[str]:
        """Who hears every ``ComboState`` (``ledger.notify``)."""
        return self.ledger.notify

    @property
    def books(self) -> dict[str, Top | BookUpdate]:
        """"venue:sym" -> the latest valid book (``repair.books``)."""
        return self.repair.books

    @property
    def sessions(self) -> dict[str, str]:
        """"venue:sym" -> the gateway's session state (``repair.sessions``)."""
        return self.repair.sessions

    # --- intents ---------------------------------------------------------------------------------

    def on_combo_intent(self, intent: ComboIntent, now_ns: int) -> Out:
        cid = intent.combo_id
        ledger = self.ledger
        # ``forget`` drops the oldest finished combos while they are older than the horizon:
        # called only when the oldest is (the same test as its own first step)
        for oldest_ns in ledger.finished.values():
            if oldest_ns <= now_ns - FINISHED_RETAIN_NS:
                ledger.forget(now_ns)
            break
        combos = ledger.combos
        if cid in combos:
            # never act twice on one combo id, and never tell the strategy its combo failed
            ledger.counters["duplicate_intents"] += 1
            return [ledger.alarm("duplicate_combo", now_ns, combo_id=cid)]
        table = self._legs
        if table.pairs is not self.pairs or table.contracts is not self.repair.contracts:
            self._legs = table = LegTable(self.pairs, self.contracts)  # the dicts were replaced
        pl = table.lean(intent)
        if pl is None:
            return self._open(intent, table, now_ns)
        # the common case (the pair's two legs, well formed), in one step: what ``_open``
        # does for it, with what does not change per intent taken from the pair's ``pl``
        ledger.counters["combos"] += 1
        newest = ledger.newest
        if cid > newest.get(intent.pair, 0):  # a fill of an older unknown combo: an orphan
            newest[intent.pair] = cid
        combos[cid] = c = open_pair_combo(intent, pl, now_ns)
        s0, s1 = intent.legs
        ts_recv_ns, ts_signal_ns = intent.ts_recv_ns, intent.ts_signal_ns
        order_a = (pl.dest_a, LegOrder(cid, 0, 0, pl.venue_a, pl.sym_a, s0.side, s0.qty_lots,
                                       s0.limit_px_ticks, "IOC", "entry", ts_recv_ns,
                                       ts_signal_ns))
        msg = ComboState(cid, intent.pair, intent.action, "working", intent.direction, 0, 0,
                         pl.state_zero, now_ns)
        step_due_ns = now_ns + pl.step_ns
        arg = c.timer_arg
        step = ("@timer", SetTimer(_STEP, step_due_ns, arg))
        budget = ("@timer", SetTimer(_BUDGET, step_due_ns + pl.budget_ns, arg))
        to = ledger.notify
        if pl.lead:
            return [order_a, *[(n, msg) for n in to], step, budget]
        order_b = (pl.dest_b, LegOrder(cid, 1, 0, pl.venue_b, pl.sym_b, s1.side, s1.qty_lots,
                                       s1.limit_px_ticks, "IOC", "entry", ts_recv_ns,
                                       ts_signal_ns))
        if len(to) == 2:  # the usual fan-out (strategy, risk), built in one list
            return [order_a, order_b, (to[0], msg), (to[1], msg), step, budget]
        return [order_a, order_b, *[(n, msg) for n in to], step, budget]

    def _open(self, intent: ComboIntent, table: LegTable, now_ns: int) -> Out:
        """Open (or refuse) a combo the lean step does not take: legs from ``table.legs``."""
        cid = intent.combo_id
        ledger = self.ledger
        combos, counters = ledger.combos, ledger.counters
        pair, legs = table.legs(intent)
        counters["combos"] += 1
        newest = ledger.newest
        if cid > newest.get(intent.pair, 0):  # a fill of an older unknown combo: an orphan
            newest[intent.pair] = cid
        if isinstance(legs, str):
            c = ComboRecord(intent, pair, {}, now_ns)
            combos[cid] = c
            ledger.finished[cid] = now_ns
            counters["refused_intents"] += 1
            counters["failed"] += 1
            return [
                ledger.decision("combo_refused", now_ns, combo_id=cid, reason=legs),
                *ledger.state(c, "failed", now_ns),
            ]
        assert pair is not None
        c = ComboRecord(intent, pair, legs, now_ns)
        combos[cid] = c
        # ``ledger.state(c, "working")``, inline: nothing is held yet (the record starts
        # "working" and reports (0, 0)), so the residual is the record's zero exposure
        # (``c.residual()`` of a record that holds nothing, inline)
        residual = c._zero
        msg = ComboState(cid, intent.pair, intent.action, "working", intent.direction, 0, 0,
                         round(residual, 6) if residual else residual, now_ns)
        # the legs' orders go first and the "working" states after them: each receiver still
        # hears of the combo in the same order (a leg its order, then the strategy and risk
        # the state, then the reports the orders cause), but an order no longer waits for the
        # strategy's and risk's handling of the state in the group's FIFO
        out: Out = []
        # ``sorted(legs)``: the leg indexes are 0 and 1
        first = ((0,) if pair.legging_mode == "lead" else (0, 1)) if len(legs) == 2 \
            else tuple(legs)
        attempts, orders = c.attempts, c.orders
        ts_recv_ns, ts_signal_ns = intent.ts_recv_ns, intent.ts_signal_ns
        for i in first:
            # ``ledger.send(c, i, side, target, limit, "entry", now_ns)``, inline: attempt 0 of
            # leg i (``c.add_order``, inline: a new order is open)
            leg = legs[i]
            info = leg.info
            contract = info.contract
            side, target = leg.side, leg.target
            attempts[i] = 1
            orders[(i, 0)] = OrderRecord(i, side, target, "entry")
            c._open += 1
            out.append((info.dest, LegOrder(cid, i, 0, contract.venue, contract.sym,
                                            side,  # type: ignore[arg-type]
                                            target, leg.limit_px, "IOC", "entry",
                                            ts_recv_ns, ts_signal_ns)))
        to = ledger.notify
        if len(to) == 2:
            out.append((to[0], msg))
            out.append((to[1], msg))
        else:
            out += [(n, msg) for n in to]
        step = pair.leg_timeout_ms * _NS  # ``step_ns``: the pair is known here
        out.append(("@timer", SetTimer(ComboTimer.STEP, now_ns + step, c.timer_arg)))
        out.append(
            ("@timer", SetTimer(ComboTimer.BUDGET, now_ns + step + pair.hedge_budget_ms * _NS,
                                c.timer_arg))
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
        return self.ledger.send(c, 1, b.side, owed, b.limit_px, "entry", now_ns)

    # --- execution reports -----------------------------------------------------------------------

    def _adopt(self, r: ExecReport, now_ns: int) -> Out:
        """A fill of a combo this executor never heard of (``actors.combo.adopt``)."""
        return adopt_fill(self.ledger, self.pairs, r, now_ns)

    def on_exec_report(self, r: ExecReport, now_ns: int) -> Out:
        ledger = self.ledger
        c = ledger.combos.get(r.combo_id)
        if c is None:
            ledger.counters["orphan_reports"] += 1
            if r.kind == "fill":
                return self._adopt(r, now_ns)
            return []
        o = c.orders.get((r.leg, r.attempt))
        if o is None:
            ledger.counters["orphan_reports"] += 1
            return []
        kind = r.kind
        if kind == "denied" and r.reason == "duplicate_cl":
            return [ledger.alarm("duplicate_cl", now_ns, combo_id=r.combo_id, cl=r.cl)]
        if not o.cl:
            o.cl = r.cl
        state = o.state = r.state
        if kind == "sent" and state not in _CLOSED_STATES:
            return []  # the most frequent report (every order has one): nothing to decide
        # ``c.close(o)``, inline where it is called: a closed order is no longer open
        if kind == "fill":
            tid = (r.venue, r.trade_id)
            tids = c.tids
            if tids is None:
                c.tids = {tid}
            elif tid in tids:
                ledger.counters["duplicate_fills"] += 1
                return []
            else:
                tids.add(tid)
            # ``c.add_fill(o, r.qty_lots, r.px_ticks)``, inline (``o.filled`` is the larger of
            # the fill lots and the final cum)
            qty = r.qty_lots
            fill_lots, final_cum = o.fill_lots, o.final_cum
            before = fill_lots if fill_lots > final_cum else final_cum
            o.fill_lots = fill_lots + qty
            o.notional += r.px_ticks * qty
            c._moved(o, before)
            if state in _CLOSED_STATES and not o.terminal:
                o.terminal = True  # e.g. a fill that completed the order before its done
                c._open -= 1
        elif kind == "done":
            if not o.terminal:
                o.terminal = True
                c._open -= 1
            # ``c.set_final(o, r.cum_lots)``, inline
            fill_lots, final_cum = o.fill_lots, o.final_cum
            cum = r.cum_lots
            o.final_cum = final_cum if final_cum >= cum else cum  # ``max(final_cum, cum)``
            c._moved(o, fill_lots if fill_lots > final_cum else final_cum)
        elif kind == "rejected" or kind == "denied":
            if not o.terminal:
                o.terminal = True
                c._open -= 1
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
        elif state in _CLOSED_STATES:
            if not o.terminal:
                o.terminal = True
                c._open -= 1
        else:
            return []  # sent, accepted, cancel_reject: nothing to decide
        if c.state in FINAL_STATES:
            # a finished combo re-opens only when it holds something else than it last reported
            # (a late fill), once every order is closed
            h = c._held  # ``(c.held(0), c.held(1))``: the legs are 0 and 1
            if c._open == 0 and (h[0], h[1]) != c.reported_held:
                return self.repair.evaluate(c, now_ns)
            return []
        # ``ledger.track_unhedged(c, now_ns)``: it only starts or ends the clock
        flat = c.flat()
        if flat:
            if c.unhedged_since_ns is not None:
                ledger.track_unhedged(c, now_ns)
        elif c.unhedged_since_ns is None:
            c.unhedged_since_ns = now_ns
        if o.leg == 0 and o.purpose == "entry" and c.pair is not None \
                and c.pair.legging_mode == "lead":
            out = self._lead_hedge(c, now_ns)
            if c._open == 0 and not (c.waiting or c.paused):  # ``c.all_terminal()``
                out += self.repair.evaluate(c, now_ns)
            return out
        if c._open == 0 and not (c.waiting or c.paused):  # ``c.all_terminal()``
            # nothing changed the holdings since ``flat`` was worked out: handed on
            return self.repair.evaluate(c, now_ns, flat)
        return []

    # --- the repair loop (``repair``) ----------------------------------------------------------

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        repair = self.repair
        if repair.waiting or not u.valid:
            return repair.on_book_update(u, now_ns)
        # ``repair.on_book_update`` of a valid update while no combo waits for a book (every
        # update but a few), inline: one call less on the executor's most frequent message
        key = f"{u.venue}:{u.sym}"
        repair.books[key] = u
        repair.quote_ns[key] = u.ts_event_ns
        return []

    def on_session_status(self, s: SessionStatus, now_ns: int) -> Out:
        return self.repair.on_session_status(s, now_ns)

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        return self.repair.on_timer(t, now_ns)

    # --- views -----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Return combos (id -> state, held lots, residual, orders) and counters."""
        combos = {}
        for cid, c in self.ledger.combos.items():
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
        return {"combos": combos, "counters": dict(self.ledger.counters)}


__all__ = ["FINISHED_RETAIN_NS", "ComboExecutorCore"]
