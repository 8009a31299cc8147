"""The ComboExecutor's repair loop (a mixin of ``ComboExecutorCore``, split off for size).

When every order of a combo is closed, ``_evaluate`` decides: flat -> done; nothing held ->
failed; otherwise repair (``_start_repair``): one ``legging.plan_repair`` step at a time
(``_step``), each order bounded by the step timer, the whole repair by the budget timer
(``on_timer``), paused while a leg's session is in a break (``on_session_status``). The state
it reads and the helpers it calls (``_finish``, ``_state``, ``_send``, ``_timer``,
``_step_ns``, ``_decision``, ``books``, ``contracts``, ``counters``, ``sessions``,
``_waiting``, ``_session_wait``, ``_budget_due``, ``max_rounds``, ``max_steps``, ``combos``)
are ``ComboExecutorCore``'s.
"""

from __future__ import annotations

from typing import Any

from actors.combo.legging import plan_repair
from actors.combo.record import ComboRecord
from actors.core import Out
from transports.wire.messages import CancelLeg, SessionStatus, Timer

_NS = 1_000_000
#: the states a combo ends in
FINAL_STATES = ("complete", "repaired", "failed")


class ComboRepair:
    """Evaluation, repair steps, session pauses and the combo timers."""

    combos: dict[int, ComboRecord]
    counters: dict[str, int]
    books: dict[str, Any]
    contracts: dict[str, Any]
    max_rounds: int
    max_steps: int

    def _evaluate(self, c: ComboRecord, now_ns: int) -> Out:
        if c.state in FINAL_STATES:
            # a late fill re-opened a finished combo
            if c.flat():
                return (
                    self._finish(c, "repaired", now_ns)
                    if c.state == "failed"
                    else self._state(c, c.state, now_ns)
                )
            if c.rounds >= self.max_rounds:
                return self._finish(c, "failed", now_ns, reason="late_imbalance")
            return self._start_repair(c, now_ns)
        if not c.repairing:
            if c.held(0) == 0 and c.held(1) == 0:  # the legs are 0 and 1 (held() of none is 0)
                return self._finish(c, "failed", now_ns)
            if c.flat():
                return self._finish(c, "complete", now_ns)
            return self._start_repair(c, now_ns)
        last = c.last_step
        if last is not None and last.purpose == "unwind" and last.filled == 0:
            # an unwind that traded nothing (no depth, or denied) is not retried at once: an
            # instant answer would otherwise loop; the budget bounds the retries
            c.paused = True
            return [self._timer("step", c, now_ns + self._step_ns(c))]
        return self._step(c, now_ns)

    def _start_repair(self, c: ComboRecord, now_ns: int) -> Out:
        assert c.pair is not None
        c.repairing = True
        c.rounds += 1
        c.chases = c.round_steps = 0
        c.last_step = None
        self.counters["imbalances"] += 1
        due = now_ns + c.pair.hedge_budget_ms * _NS
        self._budget_due[c.intent.combo_id] = due
        out = [self._timer("budget", c, due)]
        out += self._state(c, "repairing", now_ns)
        return out + self._step(c, now_ns)

    def _step(self, c: ComboRecord, now_ns: int) -> Out:
        p = c.pair
        assert p is not None
        plan = plan_repair(c.views(self.books, self.contracts), tolerance=c.tolerance(),
                           chases_done=c.chases, chase_tries=p.chase_tries,
                           chase_ticks=p.chase_ticks, max_slip=p.max_slippage_ticks,
                           no_chase=frozenset(c.no_chase or ()),
                           avoid_unwind=frozenset(c.avoid_unwind or ()),
                           target_base=c.target())
        choice = plan["choice"]
        if choice == "flat":
            return self._finish(c, "repaired", now_ns)
        c.steps += 1
        out = [self._decision("repair", now_ns, combo_id=c.intent.combo_id, round=c.rounds,
                              step=c.steps, target=[c.legs[0].target, c.legs[1].target],
                              fx=round(c.fx(self.books, self.contracts), 8), **plan)]
        if choice == "stop":
            return out + self._finish(c, "repaired", now_ns)
        if choice == "wait":
            c.waiting = True
            self._waiting[c.intent.combo_id] = c
            return [*out, self._timer("step", c, now_ns + self._step_ns(c))]
        leg_key = c.legs[plan["leg"]].key
        if self.sessions.get(leg_key, "open") != "open":
            return out + self._pause_for_session(c, leg_key, now_ns)
        if c.round_steps >= self.max_steps:
            return out + self._finish(c, "failed", now_ns, reason="step_limit")
        c.round_steps += 1
        if choice == "chase":
            c.chases += 1
            self.counters["chased"] += 1
        else:
            self.counters["unwound"] += 1
        out += self._send(c, plan["leg"], plan["side"], plan["lots"], plan["px"], choice, now_ns)
        c.last_step = c.orders[(plan["leg"], c.attempts[plan["leg"]] - 1)]
        return [*out, self._timer("step", c, now_ns + self._step_ns(c))]

    # --- sessions ---------------------------------------------------------------------------------

    def _pause_for_session(self, c: ComboRecord, leg_key: str, now_ns: int) -> Out:
        """The leg to trade is in a break: no order, no timer (nothing spins); the hedge budget
        stops running and the repair resumes when the gateway says the session is open."""
        cid = c.intent.combo_id
        left = max(0, self._budget_due.get(cid, now_ns) - now_ns)
        self._session_wait[cid] = (c, left)
        self.counters["session_pauses"] += 1
        return [self._decision("repair_paused", now_ns, combo_id=cid, leg=leg_key,
                               session=self.sessions.get(leg_key), budget_left_ns=left),
                self._timer("step", c, 0), self._timer("budget", c, 0)]

    def on_session_status(self, s: SessionStatus, now_ns: int) -> Out:
        self.sessions[f"{s.venue}:{s.sym}"] = s.state
        if s.state != "open" or not self._session_wait:
            return []
        out: Out = []
        for cid, (c, left) in list(self._session_wait.items()):
            if c.state in FINAL_STATES:
                del self._session_wait[cid]
                continue
            if all(self.sessions.get(leg.key, "open") == "open" for leg in c.legs.values()):
                del self._session_wait[cid]
                self._budget_due[cid] = now_ns + left
                out.append(self._timer("budget", c, now_ns + left))
                out += self._step(c, now_ns)
        return out

    # --- timers and books ------------------------------------------------------------------------

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        kind, _, cid = t.key.partition(":")
        c = self.combos.get(int(cid)) if cid.lstrip("-").isdigit() else None
        if c is None or c.state in FINAL_STATES:
            return []
        if kind == "budget":
            return self._finish(c, "failed", now_ns, reason="hedge_budget_exhausted",
                                open_orders=sum(not o.terminal for o in c.orders.values()))
        if kind != "step":
            return []
        out: Out = []
        for o in c.orders.values():
            if not o.terminal and o.cl and not o.cancel_sent:
                o.cancel_sent = True  # an IOC past its step timeout: ask the venue to close it
                venue = c.legs[o.leg].contract.venue
                out.append((f"leg.{venue}", CancelLeg(venue, o.cl)))
        if not c.all_terminal():
            return [*out, self._timer("step", c, now_ns + self._step_ns(c))]
        if c.waiting or c.paused:
            c.waiting = c.paused = False
            self._waiting.pop(c.intent.combo_id, None)
            out += self._step(c, now_ns)
        return out

