"""The ComboExecutor's repair loop: an object the executor owns (``ComboExecutorCore.repair``).

When every order of a combo is closed, ``evaluate`` decides: flat -> done; nothing held ->
failed; otherwise repair (``_start``): one ``legging.plan_repair`` step at a time (``step``),
each order bounded by the step timer, the whole repair by the budget timer (``on_timer``),
paused while a leg's session is in a break (``on_session_status``), waiting for a book when the
planner has none (``on_book_update``). It owns what only the repair reads: the live books, the
sessions, the combos waiting for either and the hedge budgets' deadlines. The combos, counters
and the messages it sends are the executor's ``ComboLedger`` (``actors.combo.ledger``), handed
to it at construction; ``contracts`` (keyed "venue:sym") is the executor's.
"""

from __future__ import annotations

from typing import Any

from actors.combo.ledger import FINAL_STATES, ComboLedger, combo_timer, step_ns
from actors.combo.legging import Top, plan_repair
from actors.combo.record import ComboRecord, ComboTimer
from actors.core import Out
from transports.config.engine import ContractConfig
from transports.wire.messages import BookUpdate, CancelLeg, SessionStatus, SetTimer, Timer

_NS = 1_000_000
_STEP, _BUDGET = ComboTimer.STEP, ComboTimer.BUDGET


class ComboRepair:
    """Evaluation, repair steps, session pauses, book waits and the combo timers."""

    def __init__(self, ledger: ComboLedger, contracts: dict[str, ContractConfig],
                 max_rounds: int, max_steps: int) -> None:
        self.ledger = ledger  #: the executor's combos, counters and messages
        self.contracts = contracts  #: keyed "venue:sym" (the executor's)
        self.max_rounds = max_rounds  #: repair rounds per combo (a late fill starts one)
        self.max_steps = max_steps  #: repair orders per round, a backstop to the budget
        #: "venue:sym" -> the latest valid BookUpdate (its level lists are what the planner reads,
        #: as a ``legging.Top`` would hold them)
        self.books: dict[str, Top | BookUpdate] = {}
        self.waiting: dict[int, ComboRecord] = {}  #: combos whose next step waits for a book
        #: "venue:sym" -> the gateway's session state (a leg not "open" cannot be traded)
        self.sessions: dict[str, str] = {}
        #: combos whose repair waits for a session to reopen -> the hedge budget they had left
        self.session_wait: dict[int, tuple[ComboRecord, int]] = {}
        self.budget_due: dict[int, int] = {}  #: combo id -> when its hedge budget runs out
        #: "venue:sym" -> the venue time of its latest quote (books set otherwise, e.g. by a
        #: test's ``Top``, have none and count as fresh)
        self.quote_ns: dict[str, int] = {}

    def finish(self, c: ComboRecord, state: str, now_ns: int, **why: Any) -> Out:
        """End ``c`` in ``state``: its waits and timers cancelled, then ``ComboLedger.finish``."""
        c.repairing = c.waiting = c.paused = False
        cid = c.intent.combo_id
        if self.waiting:
            self.waiting.pop(cid, None)
        if self.session_wait:
            self.session_wait.pop(cid, None)
        if self.budget_due:
            self.budget_due.pop(cid, None)
        arg = c.timer_arg  # ``combo_timer(key, c, 0)`` of both timers: cancelled
        out: Out = [("@timer", SetTimer(_STEP, 0, arg)), ("@timer", SetTimer(_BUDGET, 0, arg))]
        out += self.ledger.finish(c, state, now_ns, **why)
        return out

    def evaluate(self, c: ComboRecord, now_ns: int, flat: bool | None = None) -> Out:
        """Every order of ``c`` is closed: finish it, or start or go on repairing it.

        ``flat``: ``c.flat()`` when the caller has just worked it out (else it is asked)."""
        if c.state in FINAL_STATES:
            # a late fill re-opened a finished combo
            if c.flat():
                return (
                    self.finish(c, "repaired", now_ns)
                    if c.state == "failed"
                    else self.ledger.state(c, c.state, now_ns)
                )
            if c.rounds >= self.max_rounds:
                return self.finish(c, "failed", now_ns, reason="late_imbalance")
            return self._start(c, now_ns)
        if not c.repairing:
            h = c._held  # ``c.held(0)``, ``c.held(1)``: the legs are 0 and 1
            if h[0] == 0 and h[1] == 0:
                return self.finish(c, "failed", now_ns)
            if c.flat() if flat is None else flat:
                return self.finish(c, "complete", now_ns)
            return self._start(c, now_ns)
        last = c.last_step
        if last is not None and last.purpose == "unwind" and last.filled == 0:
            # an unwind that traded nothing (no depth, or denied) is not retried at once: an
            # instant answer would otherwise loop; the budget bounds the retries
            c.paused = True
            return [combo_timer(ComboTimer.STEP, c, now_ns + step_ns(c))]
        return self.step(c, now_ns)

    def _start(self, c: ComboRecord, now_ns: int) -> Out:
        assert c.pair is not None
        c.repairing = True
        c.rounds += 1
        c.chases = c.round_steps = 0
        c.last_step = None
        self.ledger.counters["imbalances"] += 1
        due = now_ns + c.pair.hedge_budget_ms * _NS
        self.budget_due[c.intent.combo_id] = due
        out = [combo_timer(ComboTimer.BUDGET, c, due)]
        out += self.ledger.state(c, "repairing", now_ns)
        return out + self.step(c, now_ns)

    def step(self, c: ComboRecord, now_ns: int) -> Out:
        """Plan and take ``c``'s next repair step (chase, unwind, wait for a book, or stop)."""
        ledger = self.ledger
        p = c.pair
        assert p is not None
        # no chase re-prices from a book older than the pair's quote age, in our time and next
        # to the newest quote any book brought (a feed that went quiet while the others tick;
        # a node that was frozen resyncs all of them, which drops them here): that leg is only
        # unwound against, and with no other move the step waits for a fresh update of it
        max_age = p.max_quote_age_ms * _NS
        quotes = self.quote_ns
        newest = max(quotes.values(), default=0)
        stale = frozenset(i for i in (0, 1) if (ts := quotes.get(c.legs[i].key)) is not None
                          and now_ns - ts > max_age and newest - ts > max_age)
        fx = c.fx(self.books, self.contracts)  # the planner's and the decision's: once
        plan = plan_repair(c.views(self.books, self.contracts, fx), tolerance=c.tolerance(),
                           chases_done=c.chases, chase_tries=p.chase_tries,
                           chase_ticks=p.chase_ticks, max_slip=p.max_slippage_ticks,
                           no_chase=frozenset(c.no_chase or ()) | stale,
                           avoid_unwind=frozenset(c.avoid_unwind or ()),
                           target_base=c.target())
        if stale and plan["choice"] != "flat":
            plan["stale_books"] = sorted(c.legs[i].key for i in stale)
            ledger.counters["stale_books"] = ledger.counters.get("stale_books", 0) + 1
            if plan["choice"] == "stop" and c.chases < p.chase_tries and any(
                    i not in (c.no_chase or ()) for i in stale):
                plan["choice"] = "wait"  # a chase may be right once the book is fresh
        choice = plan["choice"]
        if choice == "flat":
            return self.finish(c, "repaired", now_ns)
        c.steps += 1
        out = [ledger.decision("repair", now_ns, combo_id=c.intent.combo_id, round=c.rounds,
                               step=c.steps, target=[c.legs[0].target, c.legs[1].target],
                               fx=round(fx, 8), **plan)]
        if choice == "stop":
            return out + self.finish(c, "repaired", now_ns)
        if choice == "wait":
            c.waiting = True
            self.waiting[c.intent.combo_id] = c
            return [*out, combo_timer(ComboTimer.STEP, c, now_ns + step_ns(c))]
        leg_key = c.legs[plan["leg"]].key
        if self.sessions.get(leg_key, "open") != "open":
            return out + self._pause_for_session(c, leg_key, now_ns)
        if c.round_steps >= self.max_steps:
            return out + self.finish(c, "failed", now_ns, reason="step_limit")
        c.round_steps += 1
        if choice == "chase":
            c.chases += 1
            ledger.counters["chased"] += 1
        else:
            ledger.counters["unwound"] += 1
        out += ledger.send(c, plan["leg"], plan["side"], plan["lots"], plan["px"], choice, now_ns)
        c.last_step = c.orders[(plan["leg"], c.attempts[plan["leg"]] - 1)]
        return [*out, combo_timer(ComboTimer.STEP, c, now_ns + step_ns(c))]

    # --- sessions ---------------------------------------------------------------------------------

    def _pause_for_session(self, c: ComboRecord, leg_key: str, now_ns: int) -> Out:
        """The leg to trade is in a break: no order, no timer (nothing spins); the hedge budget
        stops running and the repair resumes when the gateway says the session is open."""
        cid = c.intent.combo_id
        left = max(0, self.budget_due.get(cid, now_ns) - now_ns)
        self.session_wait[cid] = (c, left)
        self.ledger.counters["session_pauses"] += 1
        return [self.ledger.decision("repair_paused", now_ns, combo_id=cid, leg=leg_key,
                                     session=self.sessions.get(leg_key), budget_left_ns=left),
                combo_timer(ComboTimer.STEP, c, 0), combo_timer(ComboTimer.BUDGET, c, 0)]

    def on_session_status(self, s: SessionStatus, now_ns: int) -> Out:
        """Keep the session state; resume the repairs it paused once all their legs are open."""
        self.sessions[f"{s.venue}:{s.sym}"] = s.state
        if s.state != "open" or not self.session_wait:
            return []
        out: Out = []
        for cid, (c, left) in list(self.session_wait.items()):
            if c.state in FINAL_STATES:
                del self.session_wait[cid]
                continue
            if all(self.sessions.get(leg.key, "open") == "open" for leg in c.legs.values()):
                del self.session_wait[cid]
                self.budget_due[cid] = now_ns + left
                out.append(combo_timer(ComboTimer.BUDGET, c, now_ns + left))
                out += self.step(c, now_ns)
        return out

    # --- timers and books ------------------------------------------------------------------------

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        """A combo's budget ran out (it fails) or its step timer came due (cancel what still
        works, then step again if it waited)."""
        cid = t.arg
        c = self.ledger.combos.get(int(cid)) if cid.lstrip("-").isdigit() else None
        if c is None or c.state in FINAL_STATES:
            return []
        if t.key == ComboTimer.BUDGET:
            return self.finish(c, "failed", now_ns, reason="hedge_budget_exhausted",
                               open_orders=sum(not o.terminal for o in c.orders.values()))
        if t.key != ComboTimer.STEP:
            return []
        out: Out = []
        for o in c.orders.values():
            if not o.terminal and o.cl and not o.cancel_sent:
                o.cancel_sent = True  # an IOC past its step timeout: ask the venue to close it
                venue = c.legs[o.leg].contract.venue
                out.append((f"leg.{venue}", CancelLeg(venue, o.cl)))
        if not c.all_terminal():
            return [*out, combo_timer(ComboTimer.STEP, c, now_ns + step_ns(c))]
        if c.waiting or c.paused:
            c.waiting = c.paused = False
            self.waiting.pop(c.intent.combo_id, None)
            out += self.step(c, now_ns)
        return out

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        """Keep the latest valid book; step the combos that waited for one of their legs.

        Not a touch-only subscriber (``Topology.touch_only``): the planner walks the depth and
        ``step`` ages each book by its latest update's ``ts_event_ns``, so every update counts."""
        key = f"{u.venue}:{u.sym}"
        if not u.valid:
            self.books.pop(key, None)
            self.quote_ns.pop(key, None)
            return []
        # the update itself is the book view (fresh lists per update, never mutated): no copy
        self.books[key] = u
        self.quote_ns[key] = u.ts_event_ns
        if not self.waiting:
            return []
        out: Out = []
        for cid, c in list(self.waiting.items()):
            if c.all_terminal() and any(leg.key == key for leg in c.legs.values()):
                c.waiting = False
                del self.waiting[cid]
                out += self.step(c, now_ns)
        return out


__all__ = ["FINAL_STATES", "ComboRepair"]
