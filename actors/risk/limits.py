"""The trading state and the limits that move it (the RiskSupervisor's judgement).

States: ACTIVE → REDUCING (only exposure-reducing orders pass) → HALTED (executors cancel
everything). The state is the most severe of the active reasons. REDUCING reasons clear by
themselves when their condition clears (margin usage, reject rate); HALTED is latched: after an
automatic halt only an explicit resume trades again.

``Limits`` owns the state, its reasons and history, the PnL peak and the recent order outcomes.
The numbers it judges (exposure, PnL, margin usage) and the limits (``RiskConfig``, which a
``SetParams`` replaces) are passed to each check.
"""

from __future__ import annotations

import collections
import json
from typing import Any

from actors.core import Out, restore_attrs
from transports.config.engine import RiskConfig
from transports.wire.messages import FLATTEN_THROUGH_HALT, Decision, TradingState

SEVERITY = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}


class Limits:
    """The trading state and its reasons. ``name`` signs the journal's ``Decision``\\s,
    ``audience`` (executors, then strategies) is told every ``TradingState``; the reject-rate
    window holds the last ``reject_window`` outcomes."""

    #: an operator's flatten goes through the current halt (``flatten_through``); a class
    #: default, so an older checkpoint reads False
    through = False

    def __init__(self, name: str, journal: str, audience: tuple[str, ...],
                 reject_window: int) -> None:
        self.name = name
        self.journal = journal
        self.audience = audience
        self.state = "ACTIVE"
        self.reasons: dict[str, str] = {}  #: reason -> state it demands
        self.state_changes: list[tuple[int, str, str]] = []  #: (ns, state, reason)
        self.peak_pnl = 0.0  #: highest net PnL since the start or the last resume, home ccy
        #: recent accepted (False) / rejected (True) orders, oldest first
        self.outcomes: collections.deque[bool] = collections.deque(maxlen=reject_window)
        self.rejected_n = 0  #: how many of ``outcomes`` are True (kept with it, not summed)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint (``actors.core.restore_attrs``); one pickled before
        ``rejected_n`` existed counts it."""
        restore_attrs(self, state)
        if "rejected_n" not in state:
            self.rejected_n = sum(self.outcomes)

    # --- the state machine -----------------------------------------------------------------------

    def raise_(self, reason: str, state: str, now_ns: int, detail: str = "") -> Out:
        """Add ``reason`` demanding ``state``: journaled as a breach, the state re-derived."""
        if self.reasons.get(reason) == state:
            return []
        self.reasons[reason] = state
        out: Out = [(self.journal, Decision(self.name, "breach", json.dumps(
            {"reason": reason, "state": state, "detail": detail}), now_ns))]
        return out + self._apply(now_ns)

    def clear(self, reason: str, now_ns: int) -> Out:
        """Drop ``reason`` unless it is latched (HALTED)."""
        if reason not in self.reasons or self.reasons[reason] == "HALTED":
            return []  # HALTED is latched until an explicit resume
        del self.reasons[reason]
        return self._apply(now_ns)

    def resume(self, net_pnl: float, now_ns: int) -> Out:
        """Clear every reason, the latched ones too; the loss so far (``net_pnl``, home ccy, the
        new peak) is accepted."""
        self.reasons.clear()
        self.peak_pnl = net_pnl
        return self._apply(now_ns)

    def flatten_through(self, now_ns: int) -> Out:
        """An operator's flatten while HALTED: the executors let what reduces a position
        through (``TradingState`` HALTED with the reason ``FLATTEN_THROUGH_HALT``), so the
        strategies' closes (which a flatten sends even under a halt) are not all denied
        ``halted`` -- before, the desk had to resume first, letting the strategies open again
        until the flatten reached them. Still HALTED: nothing that opens goes; until the state
        changes (a resume, or a halt from ACTIVE again). Journaled; once per halt."""
        if self.state != "HALTED" or self.through:
            return []
        self.through = True
        msg = TradingState("HALTED", FLATTEN_THROUGH_HALT, now_ns)
        return [(self.journal, Decision(self.name, "flatten_through_halt", json.dumps(
            {"reasons": sorted(self.reasons)}), now_ns)), *[(e, msg) for e in self.audience]]

    def _apply(self, now_ns: int) -> Out:
        state, why = "ACTIVE", ""
        for reason, s in self.reasons.items():
            if SEVERITY[s] > SEVERITY[state]:
                state, why = s, reason
        if state == self.state:
            return []
        self.state = state
        self.through = False
        self.state_changes.append((now_ns, state, why))
        msg = TradingState(state, why, now_ns)  # type: ignore[arg-type]
        return [(e, msg) for e in self.audience]

    # --- the checks ------------------------------------------------------------------------------

    def check_exposure(self, exposure_base: dict[str, float], risk: RiskConfig,
                       now_ns: int) -> Out:
        """HALTED when an underlying's net exposure (base units) exceeds its limit."""
        worst = max((abs(v) for v in exposure_base.values()), default=0.0)
        if worst > risk.max_net_exposure_base and risk.halt_on_exposure_breach:
            return self.raise_("max_net_exposure", "HALTED", now_ns, f"{worst:.1f}")
        return []

    def check_pnl(self, net_pnl: float, risk: RiskConfig, now_ns: int) -> Out:
        """HALTED past the daily loss limit or the drawdown from the peak (home currency)."""
        self.peak_pnl = max(self.peak_pnl, net_pnl)
        out: Out = []
        if risk.daily_loss_limit and -net_pnl > risk.daily_loss_limit:
            out += self.raise_("daily_loss", "HALTED", now_ns, f"{net_pnl:.2f}")
        if risk.max_drawdown and self.peak_pnl - net_pnl > risk.max_drawdown:
            out += self.raise_("drawdown", "HALTED", now_ns, f"{self.peak_pnl - net_pnl:.2f}")
        return out

    def check_margin(self, usage_pct: float, risk: RiskConfig, now_ns: int) -> Out:
        """REDUCING while margin usage (percent of ``margin_capital``) is at its alarm."""
        if usage_pct >= risk.margin_alarm_pct:
            return self.raise_("margin_usage", "REDUCING", now_ns, f"{usage_pct:.1f}%")
        return self.clear("margin_usage", now_ns)

    def on_outcome(self, rejected: bool, risk: RiskConfig, now_ns: int) -> Out:
        """An order accepted or rejected: remember its outcome (the kept count of rejects moves
        with the window), then judge the reject rate once the window is full."""
        outcomes = self.outcomes
        n = len(outcomes)
        maxlen: int = outcomes.maxlen  # type: ignore[assignment]
        if n == maxlen:
            if outcomes[0]:
                self.rejected_n -= 1  # the oldest, a reject, leaves the full window
        else:
            n += 1
        outcomes.append(rejected)
        if rejected:
            self.rejected_n += 1
        if n < maxlen:
            return []
        return self.check_rejects(risk, now_ns)

    def set_reject_window(self, orders: int) -> None:
        """Judge the reject rate over the last ``orders`` outcomes (the most recent stay)."""
        if orders != self.outcomes.maxlen:
            self.outcomes = collections.deque(self.outcomes, maxlen=orders)
            self.rejected_n = sum(self.outcomes)

    def check_rejects(self, risk: RiskConfig, now_ns: int) -> Out:
        """REDUCING while the reject rate over a full window exceeds its limit."""
        n = len(self.outcomes)
        if n < self.outcomes.maxlen:  # type: ignore[operator]
            return []
        rate = self.rejected_n / n  # == sum(self.outcomes) / n: the same int, the same float
        if rate > risk.max_reject_rate:
            return self.raise_("reject_rate", "REDUCING", now_ns, f"{rate:.2f}")
        if "reject_rate" not in self.reasons:  # ``clear``'s first question, without the call
            return []
        return self.clear("reject_rate", now_ns)


__all__ = ["SEVERITY", "Limits"]
