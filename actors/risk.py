"""RiskSupervisor actor: positions, net exposure per underlying, and the trading state.

In: ``ExecReport`` (fills) from every LegExecutor, ``ComboState`` from the ComboExecutor,
``FeedHealth`` from the Feeds, ``Control`` (halt, resume). Out: ``TradingState`` to every
executor when it changes.

Net exposure per underlying is the sum over venues of signed lots × base units per lot (grams of
gold), so a long COMEX position and a short SHFE position offset. If the net stays beyond
``max_net_exposure_base`` longer than the hedge budget, trading is HALTED.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from actors.base import Core, Out
from transports.config import ContractConfig, RiskConfig
from transports.messages import (
    ComboState,
    Control,
    ExecReport,
    FeedHealth,
    SetTimer,
    Timer,
    TradingState,
)


class RiskCore(Core):
    """Pure risk state."""

    def __init__(self, name: str, contracts: dict[str, ContractConfig], risk: RiskConfig,
                 executors: list[str], unhedged_limit_ms: int = 5000) -> None:
        super().__init__(name)
        self.contracts = contracts
        self.risk = risk
        self.executors = executors
        self.unhedged_limit_ns = unhedged_limit_ms * 1_000_000
        self.positions: dict[str, int] = {}
        self.fees: dict[str, float] = {}
        self.cash: dict[str, float] = {}  #: signed notional paid/received per currency
        self.state = "ACTIVE"
        self.reason = ""
        self.state_changes: list[tuple[int, str, str]] = []
        self.breach_since_ns = 0
        self.fills = 0
        self.feeds: dict[str, dict[str, Any]] = {}
        self.combos: dict[str, int] = {}

    def _set_state(self, state: str, reason: str, now_ns: int) -> Out:
        if state == self.state:
            return []
        self.state, self.reason = state, reason
        self.state_changes.append((now_ns, state, reason))
        msg = TradingState(state, reason, now_ns)  # type: ignore[arg-type]
        return [(e, msg) for e in self.executors]

    def exposure(self) -> dict[str, float]:
        """Return net exposure per underlying in base units (signed)."""
        out: dict[str, float] = {}
        for key, lots in self.positions.items():
            c = self.contracts.get(key)
            if c is None or not c.underlying:
                continue
            out[c.underlying] = out.get(c.underlying, 0.0) + lots * c.base_per_lot
        return out

    def on_exec_report(self, r: ExecReport, now_ns: int) -> Out:
        if r.kind != "fill":
            return []
        key = f"{r.venue}:{r.sym}"
        sign = 1 if r.side == "B" else -1
        self.positions[key] = self.positions.get(key, 0) + sign * r.qty_lots
        c = self.contracts.get(key)
        if c is not None:
            tick = float(Decimal(c.tick))
            self.cash[c.ccy] = self.cash.get(c.ccy, 0.0) - sign * r.qty_lots * r.px_ticks * \
                tick * c.multiplier
            self.fees[c.ccy] = self.fees.get(c.ccy, 0.0) + r.fee
        self.fills += 1
        return self._check(now_ns)

    def _check(self, now_ns: int) -> Out:
        worst = max((abs(v) for v in self.exposure().values()), default=0.0)
        if worst <= self.risk.max_net_exposure_base:
            self.breach_since_ns = 0
            return [("@timer", SetTimer("breach", 0))]
        if self.breach_since_ns == 0:
            self.breach_since_ns = now_ns
            return [("@timer", SetTimer("breach", now_ns + self.unhedged_limit_ns))]
        return []

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        if t.key == "breach" and self.breach_since_ns and self.risk.halt_on_exposure_breach:
            return self._set_state("HALTED", "net_exposure_unhedged", now_ns)
        return []

    def on_combo_state(self, s: ComboState, now_ns: int) -> Out:
        self.combos[s.state] = self.combos.get(s.state, 0) + 1
        return []

    def on_feed_health(self, h: FeedHealth, now_ns: int) -> Out:
        self.feeds[h.venue] = {"state": h.state, "gaps": h.gaps, "resyncs": h.resyncs}
        return []

    def on_control(self, c: Control, now_ns: int) -> Out:
        if c.cmd == "halt":
            return self._set_state("HALTED", c.arg or "operator", now_ns)
        if c.cmd == "reduce":
            return self._set_state("REDUCING", c.arg or "operator", now_ns)
        if c.cmd == "resume":
            return self._set_state("ACTIVE", c.arg or "operator", now_ns)
        return []

    def snapshot(self) -> dict[str, Any]:
        """Return positions, exposure, state and counters."""
        return {"state": self.state, "reason": self.reason, "positions": dict(self.positions),
                "exposure": self.exposure(), "fees": dict(self.fees), "cash": dict(self.cash),
                "fills": self.fills, "state_changes": list(self.state_changes),
                "feeds": dict(self.feeds), "combos": dict(self.combos)}
