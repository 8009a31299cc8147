"""What every strategy kind shares besides pricing: the gates that stop a pair opening or
closing (operator halt and flatten, risk's trading state, the executors' venue gates, cooldowns
after failed combos, a node freeze, quote age, calendars), the refusal journal, and the position
kept from the ComboExecutor's ``ComboState``.

Two helpers with explicit state, composed by each kind's core (``StrategyCore`` for parity,
``BasisCore``, ``FundingCore``, ``MultiVenueCore``, ``StatPairCore``):

- ``PairGuard``: ``open_block`` / ``close_block`` say why nothing may open / close now ("" =
  go); ``refuse`` counts a refusal and journals it when the reason changes.
- ``PairPosition``: the pair's signed lots per leg from every combo's holding, the pending
  combo, its direction; ``apply`` takes a ``ComboState`` and tells the guard when a combo came
  to nothing (cooldown).

Semantics are those documented on ``actors.strategy.strategy`` (the gates, in order).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from actors.core import Out
from actors.risk.holdings import NOTHING, combo_holding
from actors.strategy.legs import Leg
from transports.wire.messages import (
    ClockJump,
    ComboState,
    Decision,
    Flatten,
    Halt,
    Resume,
    TradingState,
    VenueGate,
)

#: The longest cooldown after consecutive failed combos.
MAX_COOLDOWN_NS = 30_000_000_000


class PairGuard:
    """The gates of one strategy; ``venues`` are the venues its orders go to."""

    def __init__(self, name: str, journal: str, venues: Iterable[str]) -> None:
        self.name = name
        self.journal = journal
        self.venues = tuple(dict.fromkeys(venues))
        self.halted = False  #: operator (or flatten) halt: no open until resumed
        self.flattening = False  #: close what is held now, reverted or not
        self.trading = "ACTIVE"  #: the RiskSupervisor's TradingState
        self.venue_gates: dict[str, str] = {}  #: venue -> its executor's gate ("" = go)
        self.fail_streak = 0
        self.cooldown_until_ns = 0
        self.close_retry_ns = 0
        self.fresh_after_ns = 0  #: after a ClockJump: no open on quotes older than this
        self.refusals: dict[str, int] = {}
        self.last_refusal = ""

    # --- control inputs -------------------------------------------------------------------------

    def on_halt(self, m: Halt) -> None:
        self.halted = True

    def on_resume(self, m: Resume) -> None:
        self.halted = False
        self.flattening = False

    def on_flatten(self, m: Flatten) -> None:
        self.flattening = True
        self.halted = True

    def on_trading_state(self, t: TradingState) -> None:
        self.trading = t.state

    def on_venue_gate(self, g: VenueGate) -> None:
        if g.state:
            self.venue_gates[g.venue] = g.state
        else:
            self.venue_gates.pop(g.venue, None)

    def on_clock_jump(self, m: ClockJump, now_ns: int) -> None:
        self.fresh_after_ns = now_ns

    # --- verdicts -------------------------------------------------------------------------------

    def refuse(self, reason: str, now_ns: int) -> Out:
        """Count ``reason``; journal it when it differs from the last one journaled."""
        self.refusals[reason] = self.refusals.get(reason, 0) + 1
        if reason == self.last_refusal:
            return []
        self.last_refusal = reason
        return [(self.journal, Decision(self.name, "refuse", reason, now_ns))]

    def venue_block(self, venues: Iterable[str] | None = None) -> str:
        """``VENUE_<STATE>`` when an executor of ``venues`` (default: all) would deny an
        order, else ""."""
        if self.venue_gates:
            for v in self.venues if venues is None else venues:
                g = self.venue_gates.get(v)
                if g:
                    return "VENUE_" + g.upper()
        return ""

    def open_block(self, now_ns: int, legs: Iterable[Leg], max_age_ns: int,
                   budget_ns: int, venues: Iterable[str] | None = None) -> str:
        """Why no combo may open now on ``legs`` (their books aside), or "".

        In order: HALTED, the trading state, VENUE_<STATE>, COOLDOWN, STALE_QUOTE (a leg's
        quote older than ``max_age_ns`` in our time), CLOCK_JUMP, CLOSED (a leg's calendar is
        not open for ``budget_ns``; a gateway session overrides a closed calendar)."""
        if self.halted:
            return "HALTED"
        if self.trading != "ACTIVE":
            return self.trading
        gate = self.venue_block(venues)
        if gate:
            return gate
        if now_ns < self.cooldown_until_ns:
            return "COOLDOWN"
        legs = tuple(legs)
        oldest_ns = min(x.ts_event_ns - x.offset_ns for x in legs)
        if now_ns - oldest_ns > max_age_ns:
            return "STALE_QUOTE"
        if self.fresh_after_ns:
            if oldest_ns < self.fresh_after_ns:
                return "CLOCK_JUMP"
            self.fresh_after_ns = 0
        for leg in legs:
            if leg.cal is not None:
                st = leg.calendar_state(now_ns, budget_ns)
                if st != "ok" and not (st == "closed" and leg.session_known):
                    return "CLOSED"
        return ""

    def close_block(self, now_ns: int, venues: Iterable[str] | None = None) -> str:
        """Why a close may not go now, or "": HALTED by risk (a flatten still closes), a venue
        gate, or COOLDOWN after two closes in a row came to nothing. (``StrategyCore`` asks
        only while ``trading`` is HALTED, a venue gate is set or ``fail_streak`` >= 2: a new
        reason here must be added to that test too.)"""
        if self.trading == "HALTED" and not self.flattening:
            return "HALTED"
        gate = self.venue_block(venues)
        if gate:
            return gate
        if self.fail_streak >= 2 and now_ns < self.close_retry_ns:
            return "COOLDOWN"
        return ""

    def combo_done(self, came_to_nothing: bool, now_ns: int, cooldown_ns: int) -> None:
        """A pending combo reached a final state; back off after one that came to nothing
        (doubling per consecutive one up to 30 s), reset after one that held."""
        if came_to_nothing:
            self.fail_streak += 1
            self.close_retry_ns = now_ns + cooldown_ns
            if cooldown_ns:
                wait = min(cooldown_ns << min(self.fail_streak - 1, 16),
                           max(MAX_COOLDOWN_NS, cooldown_ns))
                self.cooldown_until_ns = now_ns + wait
        else:
            self.fail_streak = 0
            self.cooldown_until_ns = 0

    def snapshot(self) -> dict[str, Any]:
        return {"halted": self.halted, "flattening": self.flattening, "trading": self.trading,
                "fail_streak": self.fail_streak, "cooldown_until_ns": self.cooldown_until_ns,
                "fresh_after_ns": self.fresh_after_ns, "refusals": dict(self.refusals),
                "venue_gates": dict(self.venue_gates)}


class PairPosition:
    """The lots a two-legged pair holds (A, B signed), kept per combo and summed, so a late
    fill that re-opens an old combo still counts; ``pending`` is the combo in flight.

    Combo ids embed the epoch and the pair index (``epoch * 1e9 + pair_index * 1e6 + seq``),
    so they never repeat across restarts of a run nor collide between pairs."""

    def __init__(self, pair: str, epoch: int, pair_index: int) -> None:
        self.pair = pair
        self.combo_seq = epoch * 1_000_000_000 + pair_index * 1_000_000
        self.pending: int | None = None
        self.pos_dir = 0  #: +1 long A / short B, -1 short A / long B, 0 flat
        self.pos_a_lots = 0
        self.pos_b_lots = 0
        self.holdings: dict[int, tuple[int, int]] = {}
        self.opened_ns = 0  #: when the position was opened (its first open combo completed)

    def next_id(self) -> int:
        """A new combo id, now pending."""
        self.combo_seq += 1
        self.pending = self.combo_seq
        return self.combo_seq

    @property
    def flat(self) -> bool:
        return self.pos_a_lots == 0 and self.pos_b_lots == 0

    def apply(self, s: ComboState, guard: PairGuard, now_ns: int, cooldown_ns: int) -> bool:
        """Take ``s`` (of this pair); return True when it ended the pending combo."""
        # nothing filled (every "working" state, every combo that came to nothing) holds
        # ``NOTHING`` without the call
        held = combo_holding(s) if s.filled_a_lots or s.filled_b_lots else NOTHING
        cid = s.combo_id
        holdings = self.holdings
        old = holdings.get(cid, NOTHING)
        holdings[cid] = held
        if held is not old and held != old:  # the common case (nothing new) adds nothing
            self.pos_a_lots += held[0] - old[0]
            self.pos_b_lots += held[1] - old[1]
        state = s.state
        if cid != self.pending or state == "working" or state == "repairing":
            if self.pending is None and \
                    0 < cid // 1_000_000_000 < self.combo_seq // 1_000_000_000:
                # a previous incarnation's combo moved the position after this one started
                # (adopted from its fills at a restart or a take-over, ``ComboExecutorCore.
                # _adopt``; a late fill): the direction follows what is held, so the strategy
                # neither opens on top of it nor closes what is no longer there
                self._settle(now_ns)
            return False
        self.pending = None
        guard.combo_done(state == "failed" or (state == "repaired" and not s.filled_a_lots
                                                and not s.filled_b_lots), now_ns, cooldown_ns)
        if self.pos_a_lots == 0 and self.pos_b_lots == 0:  # ``flat``, inline (per combo)
            self.pos_dir = 0
            holdings.clear()
            self.opened_ns = 0
        elif s.action == "open":
            if self.pos_dir == 0:
                self.opened_ns = now_ns
            self.pos_dir = s.direction
        return True

    def _settle(self, now_ns: int) -> None:
        """The direction from the lots held: flat 0 (the combos forgotten), else long A /
        short B +1, the other way -1."""
        a, b = self.pos_a_lots, self.pos_b_lots
        if a == 0 and b == 0:
            self.pos_dir = 0
            self.holdings.clear()
            self.opened_ns = 0
            return
        if self.pos_dir == 0:
            self.opened_ns = now_ns
        self.pos_dir = 1 if a > 0 or (a == 0 and b < 0) else -1

    def snapshot(self) -> dict[str, Any]:
        return {"pos_dir": self.pos_dir, "pos_a_lots": self.pos_a_lots,
                "pos_b_lots": self.pos_b_lots, "pending": self.pending,
                "opened_ns": self.opened_ns}


__all__ = ["MAX_COOLDOWN_NS", "PairGuard", "PairPosition"]
