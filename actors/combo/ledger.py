"""The ComboExecutor's combos and what it says of them.

The ComboExecutor (``actors.combo.executor``) owns one ``ComboLedger``: the ``ComboRecord``\\s by
combo id, the ones finished (kept ``FINISHED_RETAIN_NS`` for late fills, then forgotten), the
counters, and the messages built from them -- ``ComboState`` to every name in ``notify``,
``Decision``\\s (repair steps, alarms) to the journal, a combo's ``LegOrder``\\s and timers. Its
repair loop (``actors.combo.repair``) is handed the same ledger.
"""

from __future__ import annotations

import json
from typing import Any

from actors.combo.record import ComboRecord, OrderRecord
from actors.core import Out, restore_attrs
from transports.wire.messages import ComboState, Decision, LegOrder, SetTimer

_NS = 1_000_000
#: the states a combo ends in
FINAL_STATES = ("complete", "repaired", "failed")
#: a finished combo is kept this long for late fills (which re-open it), then forgotten: a day
#: of combos would otherwise stay in memory and in every checkpoint of the hot group. A fill
#: for a forgotten combo is an orphan report; risk still books it and flattens what it leaves.
FINISHED_RETAIN_NS = 600 * 1_000_000_000
#: ``json.dumps(detail, sort_keys=True)`` builds this encoder on every call: one, made once
#: (``dumps`` is ``JSONEncoder(sort_keys=True).encode``: the same text)
_SORTED_JSON = json.JSONEncoder(sort_keys=True)
COUNTERS = ("combos", "complete", "repaired", "failed", "chased", "unwound", "imbalances",
            "max_unhedged_ns", "duplicate_intents", "refused_intents", "duplicate_fills",
            "orphan_reports", "alarms", "session_pauses")


def combo_timer(key: str, c: ComboRecord, due_ns: int) -> tuple[str, SetTimer]:
    """Arm (cancel with 0) the combo's ``ComboTimer`` ``key``."""
    return ("@timer", SetTimer(key, due_ns, c.timer_arg))


def step_ns(c: ComboRecord) -> int:
    """The combo's step timeout (its pair's ``leg_timeout_ms``; 1 s without a pair)."""
    return (c.pair.leg_timeout_ms if c.pair else 1000) * _NS


class ComboLedger:
    """Combo records, their retention and counters; the messages the executor sends of them."""

    def __init__(self, name: str, journal: str, notify: list[str]) -> None:
        self.name = name  #: the executor's actor name (its decisions are the executor's)
        self.journal = journal
        self.notify = list(notify)
        self.combos: dict[int, ComboRecord] = {}
        self.finished: dict[int, int] = {}  #: combo id -> when it finished, oldest first
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        #: combo id -> [net lots of leg A, of leg B, trade ids]: combos adopted from fills
        #: of orders a previous incarnation sent (``ComboExecutorCore._adopt``)
        self.adopted: dict[int, list[Any]] = {}
        #: pair -> the newest combo id it sent here: an unknown combo older than it was
        #: forgotten (``forget``), a newer one was lost with the journal's tail
        self.newest: dict[str, int] = {}
        #: combo id -> the final state ``finish`` counted it in: a combo a late fill re-opened
        #: moves from that count to its new one, so ``counters`` count each combo once, by its
        #: final state, as the journal's records do (``cmc report``); before, it counted twice
        self.counted: dict[int, str] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A checkpoint's ledger (pickled); one written before ``adopted``/``newest``/``counted``
        existed gets them empty."""
        restore_attrs(self, state)  # attribute by attribute: reads stay fast
        if not hasattr(self, "adopted"):
            self.adopted = {}
        if not hasattr(self, "newest"):
            self.newest = {}
        if not hasattr(self, "counted"):
            self.counted = {}

    def decision(self, what: str, now_ns: int, **detail: Any) -> tuple[str, Decision]:
        """A ``Decision`` of the executor, to the journal."""
        return (self.journal, Decision(self.name, what, _SORTED_JSON.encode(detail), now_ns))

    def alarm(self, kind: str, now_ns: int, **detail: Any) -> tuple[str, Decision]:
        """An alarm ``Decision`` (counted)."""
        self.counters["alarms"] += 1
        return self.decision("alarm", now_ns, alarm=kind, **detail)

    def state(self, c: ComboRecord, state: str, now_ns: int) -> Out:
        """Move ``c`` to ``state`` and tell every name in ``notify`` (``ComboState``)."""
        return self._state(c, state, now_ns, c.residual())

    def _state(self, c: ComboRecord, state: str, now_ns: int, residual: float) -> Out:
        """``state`` with ``c``'s residual (``c.residual()``) already worked out."""
        c.state = state
        h = c._held  # == (c.held(0), c.held(1)): a leg the combo lacks never moves from 0
        held = c.reported_held = (h[0], h[1])
        i = c.intent
        slip: tuple[float, float, int, int] = (0.0, 0.0, 0, 0)
        if state in FINAL_STATES and c.tids is not None:
            # (without a fill applied -- ``tids`` is set with the first -- no order has entry
            # lots: both legs' slippage is (0.0, 0))
            sa, la, sb, lb = c.entry_slippages()
            slip = (round(sa, 6), round(sb, 6), la, lb)
        msg = ComboState(i.combo_id, i.pair, i.action, state,  # type: ignore[arg-type]
                         i.direction, held[0], held[1],
                         round(residual, 6) if residual else residual,  # a zero stays as it is
                         now_ns, *slip)
        to = self.notify
        if len(to) == 2:  # the usual fan-out, built without a comprehension's frame
            return [(to[0], msg), (to[1], msg)]
        return [(d, msg) for d in to]

    def track_unhedged(self, c: ComboRecord, now_ns: int, final: bool = False) -> None:
        """Time how long ``c`` is not flat (the longest in ``counters["max_unhedged_ns"]``)."""
        if not final and not c.flat():
            if c.unhedged_since_ns is None:
                c.unhedged_since_ns = now_ns
        elif c.unhedged_since_ns is not None:
            dur = now_ns - c.unhedged_since_ns
            self.counters["max_unhedged_ns"] = max(self.counters["max_unhedged_ns"], dur)
            c.unhedged_since_ns = None

    def send(
        self, c: ComboRecord, i: int, side: str, lots: int, px: int, purpose: str, now_ns: int
    ) -> Out:
        """Record and send ``c``'s next order on leg ``i`` (an IOC; its next attempt)."""
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

    def finish(self, c: ComboRecord, state: str, now_ns: int, **why: Any) -> Out:
        """``c`` ends in ``state`` (counted, kept for late fills, notified; a failure that
        leaves exposure or has a reason is alarmed). The caller has cancelled its timers."""
        cid = c.intent.combo_id
        counters, counted = self.counters, self.counted
        before = counted.get(cid)
        if before is not None:
            counters[before] -= 1
        counters[state] += 1
        counted[cid] = state
        finished = self.finished
        finished.pop(cid, None)
        finished[cid] = now_ns
        if c.unhedged_since_ns is not None:  # ``track_unhedged(final=True)``, inline
            dur = now_ns - c.unhedged_since_ns
            counters = self.counters
            counters["max_unhedged_ns"] = max(counters["max_unhedged_ns"], dur)
            c.unhedged_since_ns = None
        residual = c.residual()  # nothing changes it below
        out = self._state(c, state, now_ns, residual)
        if state == "failed" and (why or abs(residual) > 0):
            out.append(self.alarm("combo_failed", now_ns, combo_id=cid,
                                  residual_base=round(residual, 6),
                                  held=[c.held(0), c.held(1)], **why))
        return out

    def forget(self, now_ns: int) -> None:
        """Drop the combos that finished more than ``FINISHED_RETAIN_NS`` ago (oldest first)."""
        horizon = now_ns - FINISHED_RETAIN_NS
        finished = self.finished
        while finished:
            cid, t = next(iter(finished.items()))  # the oldest; no copy of the whole dict
            if t > horizon:
                break
            del finished[cid]
            c = self.combos.get(cid)
            if c is not None and c.state in FINAL_STATES:  # a re-opened one finishes again later
                del self.combos[cid]
                self.counted.pop(cid, None)


__all__ = ["COUNTERS", "FINAL_STATES", "FINISHED_RETAIN_NS", "ComboLedger", "combo_timer",
           "step_ns"]
