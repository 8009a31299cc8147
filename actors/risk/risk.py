"""RiskSupervisor actor: positions, PnL, exposure, limits and the trading state (the second line).

In: ``ExecReport`` from every LegExecutor (fills, rejects, denials), ``ComboState`` from the
ComboExecutor, ``BookUpdate`` of every book (marks), ``FeedHealth``, ``Control`` (halt, reduce,
resume, flatten) and its own ``Timer``\\s. Out: ``TradingState`` to every executor and strategy
when it changes; ``LegOrder`` (purpose ``flatten``) for exposure no live combo owns;
``Control("flatten")`` to the strategies; ``Decision`` records of every breach to the journal.

States: ACTIVE → REDUCING (only exposure-reducing orders pass) → HALTED (executors cancel
everything). The state is the most severe of the active reasons. REDUCING reasons clear by
themselves when their condition clears (margin usage, reject rate); HALTED is latched: after an
automatic halt only an explicit ``resume`` command trades again.

Money is kept per currency and converted into ``risk.home_ccy`` with the live FX book of the
pair that prices the foreign leg. Net exposure per underlying is signed lots × base units per
lot (grams of gold) summed over venues, so a long COMEX and a short SHFE position offset.
"""

from __future__ import annotations

import collections
import json
from decimal import Decimal
from typing import Any

from actors.core import Core, Out
from actors.risk.holdings import PairHoldings
from actors.risk.valuation import RiskBook
from transports.config.engine import ContractConfig, RiskConfig
from transports.wire.messages import (
    BookUpdate,
    ComboState,
    Control,
    Decision,
    ExecReport,
    FeedHealth,
    LegOrder,
    Position,
    RiskView,
    SetTimer,
    Timer,
    TradingState,
)

SEVERITY = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
#: combo id space for the RiskSupervisor's own flatten orders (never used by a strategy)
RISK_COMBO_BASE = 999_000_000


class RiskCore(RiskBook, Core):
    """Pure risk state and limit logic."""

    def __init__(self, name: str, contracts: dict[str, ContractConfig], risk: RiskConfig,
                 executors: list[str], strategies: list[str] | None = None,
                 fx_books: dict[str, tuple[str, bool]] | None = None, epoch: int = 1,
                 pairs: dict[str, tuple[str, str]] | None = None) -> None:
        super().__init__(name)
        #: pair -> (leg A key, leg B key): what each strategy holds is its to close (below)
        self.pairs = pairs or {}
        self.holdings = PairHoldings()
        self.contracts = contracts
        self.risk = risk
        self.executors = executors
        self.strategies = strategies or []
        #: currency -> (fx book key, invert) converting it into the home currency
        self.fx_books = fx_books or {}
        self.ticks = {k: float(Decimal(c.tick)) for k, c in contracts.items()}
        self.positions: dict[str, int] = {}
        self.cash: dict[str, float] = {}  #: signed notional paid (-) / received (+) per ccy
        self.fees: dict[str, float] = {}
        self.marks: dict[str, float] = {}  #: key -> mid price (price units, not ticks)
        self.state = "ACTIVE"
        self.reasons: dict[str, str] = {}  #: reason -> state it demands
        self.state_changes: list[tuple[int, str, str]] = []
        self.peak_pnl = 0.0
        self.fills = 0
        self.denials: collections.Counter[str] = collections.Counter()
        self.outcomes: collections.deque[bool] = collections.deque(maxlen=risk.reject_window)
        self.feeds: dict[str, dict[str, Any]] = {}
        self.combos: dict[str, int] = {}
        self.live_combos: set[int] = set()
        self.unhedged_since_ns = 0
        self.flatten_seq = epoch * 1_000_000_000 + RISK_COMBO_BASE
        self.flatten_orders = 0
        self._fx_keys = {k for k, _ in self.fx_books.values()}
        self._sent_fx: dict[str, float] = {}
        self._sent_lot: dict[str, float] = {}  #: "venue:sym" -> lot value in the last view
        self._unpriced: dict[str, int] = {}  #: adopted lots whose cost awaits a mark
        #: combo id -> (pair, A tick-lots, A lots, B tick-lots, B lots): realized slippage
        self.slips: dict[int, tuple[str, float, int, float, int]] = {}
        self.slip_sums: dict[str, list[float]] = {}  #: pair -> [A tick-lots, A lots, B ..., B]
        tols = [c.base_per_lot for c in contracts.values() if c.underlying and c.base_per_lot]
        #: exposure below half the smallest lot cannot be reduced by trading whole lots
        self.tolerance_base = min(tols) / 2 if tols else 0.0

    # --- state machine ---------------------------------------------------------------------------

    def _raise(self, reason: str, state: str, now_ns: int, detail: str = "") -> Out:
        if self.reasons.get(reason) == state:
            return []
        self.reasons[reason] = state
        out: Out = [("journal", Decision(self.name, "breach", json.dumps(
            {"reason": reason, "state": state, "detail": detail}), now_ns))]
        return out + self._apply_state(now_ns)

    def _clear(self, reason: str, now_ns: int) -> Out:
        if reason not in self.reasons or self.reasons[reason] == "HALTED":
            return []  # HALTED is latched until an explicit resume
        del self.reasons[reason]
        return self._apply_state(now_ns)

    def _apply_state(self, now_ns: int) -> Out:
        state, why = "ACTIVE", ""
        for reason, s in self.reasons.items():
            if SEVERITY[s] > SEVERITY[state]:
                state, why = s, reason
        if state == self.state:
            return []
        self.state = state
        self.state_changes.append((now_ns, state, why))
        msg = TradingState(state, why, now_ns)  # type: ignore[arg-type]
        return [(e, msg) for e in (*self.executors, *self.strategies)]

    # --- handlers --------------------------------------------------------------------------------

    def on_start(self, now_ns: int) -> Out:
        """Send the executors a first view: until one comes their budget checks pass nothing
        that grows a budget (they do not know how many venues share it)."""
        return self._view(now_ns, force=True)

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        if u.valid and u.bid_px and u.ask_px:
            key = f"{u.venue}:{u.sym}"
            tick = self.ticks.get(key)
            if tick is not None:
                self.marks[key] = (u.bid_px[0] + u.ask_px[0]) * 0.5 * tick
                if self._unpriced:
                    self._price_adopted(key)
                if key in self._fx_keys:
                    return self._view(now_ns)
                if self.positions.get(key):
                    sent = self._sent_lot.get(key, 0.0)
                    if abs(self.lot_notional(key) - sent) > 1e-3 * sent:
                        return self._view(now_ns, force=True)  # a held lot moved > 10 bp
        return []

    def _view(self, now_ns: int, force: bool = False) -> Out:
        """Tell the executors the net exposure, gross notional, margin and FX rates their
        pre-trade checks use (when a position changed, a held lot's value moved more than 10 bp,
        or a rate more than 1 bp, since the last view)."""
        fx = {ccy: self._fx(ccy) for ccy in self.fx_books}
        moved = any(abs(v - self._sent_fx.get(k, 0.0)) > 1e-4 * max(v, 1e-12)
                    for k, v in fx.items())
        if not (force or moved):
            return []
        self._sent_fx = fx
        lots = {k: self.lot_notional(k) for k in self.marks if k in self.contracts
                and k not in self._fx_keys}
        self._sent_lot = lots
        gross, margin = self.gross_and_margin()
        legs = [e for e in self.executors if e.startswith("leg.")]
        view = RiskView(self.exposure(), now_ns, fx, gross, margin,
                        {k: q for k, q in self.positions.items() if q}, lots, len(legs))
        return [(e, view) for e in legs]

    def on_exec_report(self, r: ExecReport, now_ns: int) -> Out:
        if r.kind == "denied":
            self.denials[r.reason] += 1
            return []
        if r.kind in ("accepted", "rejected"):
            self.outcomes.append(r.kind == "rejected")
            return self._check_rejects(now_ns)
        if r.kind != "fill":
            return []
        key = f"{r.venue}:{r.sym}"
        sign = 1 if r.side == "B" else -1
        self.positions[key] = self.positions.get(key, 0) + sign * r.qty_lots
        c = self.contracts.get(key)
        if c is not None:
            px = r.px_ticks * self.ticks[key]
            self.cash[c.ccy] = self.cash.get(c.ccy, 0.0) - sign * r.qty_lots * px * c.multiplier
            self.fees[c.ccy] = self.fees.get(c.ccy, 0.0) + r.fee
            self.marks.setdefault(key, px)
        self.fills += 1
        return self._view(now_ns, force=True) + self._check_all(now_ns)

    def on_position(self, p: Position, now_ns: int) -> Out:
        """An executor's position after reconciling with its venue (absolute lots). A difference
        from what the fills said is adopted at the current mark (its cost is unknown: PnL counts
        from here) and journaled; exposure no combo owns is then flattened as usual."""
        key = f"{p.venue}:{p.sym}"
        diff = p.qty_lots - self.positions.get(key, 0)
        if not diff:
            return []
        self.positions[key] = p.qty_lots
        c = self.contracts.get(key)
        if c is not None:
            self._unpriced[key] = self._unpriced.get(key, 0) + diff
            self._price_adopted(key)
        out: Out = [("journal", Decision(self.name, "adopt_position", json.dumps(
            {"key": key, "lots": p.qty_lots, "diff": diff}), now_ns))]
        return out + self._view(now_ns, force=True) + self._check_all(now_ns)

    def on_combo_state(self, s: ComboState, now_ns: int) -> Out:
        self.combos[s.state] = self.combos.get(s.state, 0) + 1
        self.holdings.on_combo_state(s)
        if s.entry_a_lots or s.entry_b_lots:
            self._add_slippage(s)
        if s.state in ("working", "repairing"):
            self.live_combos.add(s.combo_id)
        else:
            self.live_combos.discard(s.combo_id)
        return self._check_unhedged(now_ns)

    def on_feed_health(self, h: FeedHealth, now_ns: int) -> Out:
        self.feeds[h.venue] = {"state": h.state, "gaps": h.gaps, "resyncs": h.resyncs}
        return []

    def on_control(self, c: Control, now_ns: int) -> Out:
        if c.cmd == "halt":
            return self._raise("operator_halt", "HALTED", now_ns, c.arg)
        if c.cmd == "reduce":
            return self._raise("operator_reduce", "REDUCING", now_ns, c.arg)
        if c.cmd == "resume":
            self.reasons.clear()
            self.peak_pnl = self.pnl()["net"]  # a resume accepts the loss so far
            return self._apply_state(now_ns)
        if c.cmd == "flatten":
            return [(s, Control("flatten")) for s in self.strategies] + self._flatten(now_ns)
        return []

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        if t.key == "unhedged":
            return self._unhedged_expired(now_ns)
        return []

    # --- checks ----------------------------------------------------------------------------------

    def _check_all(self, now_ns: int) -> Out:
        out = self._check_exposure(now_ns) + self._check_unhedged(now_ns)
        out += self._check_pnl(now_ns) + self._check_margin(now_ns)
        return out

    def _check_exposure(self, now_ns: int) -> Out:
        worst = max((abs(v) for v in self.exposure().values()), default=0.0)
        if worst > self.risk.max_net_exposure_base and self.risk.halt_on_exposure_breach:
            return self._raise("max_net_exposure", "HALTED", now_ns, f"{worst:.1f}")
        return []

    def _check_pnl(self, now_ns: int) -> Out:
        net = self.pnl()["net"]
        self.peak_pnl = max(self.peak_pnl, net)
        out: Out = []
        if self.risk.daily_loss_limit and -net > self.risk.daily_loss_limit:
            out += self._raise("daily_loss", "HALTED", now_ns, f"{net:.2f}")
        if self.risk.max_drawdown and self.peak_pnl - net > self.risk.max_drawdown:
            out += self._raise("drawdown", "HALTED", now_ns, f"{self.peak_pnl - net:.2f}")
        return out

    def _check_margin(self, now_ns: int) -> Out:
        usage = self.margin_usage_pct()
        if usage >= self.risk.margin_alarm_pct:
            return self._raise("margin_usage", "REDUCING", now_ns, f"{usage:.1f}%")
        return self._clear("margin_usage", now_ns)

    def _check_rejects(self, now_ns: int) -> Out:
        if len(self.outcomes) < self.outcomes.maxlen:  # type: ignore[operator]
            return []
        rate = sum(self.outcomes) / len(self.outcomes)
        if rate > self.risk.max_reject_rate:
            return self._raise("reject_rate", "REDUCING", now_ns, f"{rate:.2f}")
        return self._clear("reject_rate", now_ns)

    def _excess(self) -> tuple[str, float] | None:
        for underlying, v in self.exposure().items():
            if abs(v) > self.tolerance_base:
                return underlying, v
        return None

    def _check_unhedged(self, now_ns: int) -> Out:
        if self._excess() is None or self.live_combos:
            # hedged, or a live combo owns the exposure and is still repairing it
            self.unhedged_since_ns = 0
            return [("@timer", SetTimer("unhedged", 0))]
        if self.unhedged_since_ns:
            return []
        self.unhedged_since_ns = now_ns
        return [("@timer", SetTimer("unhedged", now_ns + self.risk.unhedged_limit_ms * 1_000_000))]

    def _unhedged_expired(self, now_ns: int) -> Out:
        if not self.unhedged_since_ns or self._excess() is None:
            return []
        out: Out = []
        if self.risk.flatten_orphans and self.flatten_orders < 3:
            out += self._flatten(now_ns)
            self.unhedged_since_ns = now_ns
            out.append(("@timer", SetTimer("unhedged",
                                           now_ns + self.risk.unhedged_limit_ms * 1_000_000)))
            return out
        return self._raise("unhedged_exposure", "HALTED", now_ns, str(self._excess()))

    def _held(self) -> dict[str, tuple[float, list[str]]]:
        """Per underlying: the exposure the strategies hold (base units) and which of them."""
        out: dict[str, tuple[float, list[str]]] = {}
        for pair, lots in self.holdings.pos.items():
            keys = self.pairs.get(pair)
            if keys is None or lots == (0, 0):
                continue
            for key, n in zip(keys, lots, strict=True):
                c = self.contracts.get(key)
                if c is None or not c.underlying or not n:
                    continue
                v, who = out.get(c.underlying, (0.0, []))
                if f"strategy.{pair}" not in who:
                    who = [*who, f"strategy.{pair}"]
                out[c.underlying] = (v + n * c.base_per_lot, who)
        return out

    def _flatten(self, now_ns: int) -> Out:
        """Bring each underlying within tolerance. Exposure a strategy holds is the strategy's
        to close: it is told to flatten (``Control("flatten")``: it closes through combos and
        opens nothing until resumed) -- risk's own orders behind its back would leave it closing
        what is no longer there. The rest (nobody's: left by a restart, adopted at
        reconciliation, a fill after its combo was forgotten) risk flattens with IOCs on the
        smallest-lot contract."""
        out: Out = []
        held = self._held()
        for underlying, total in self.exposure().items():
            if abs(total) <= self.tolerance_base:
                continue
            mine, who = held.get(underlying, (0.0, []))
            if abs(mine) > self.tolerance_base:
                self.flatten_orders += 1  # one action: it counts toward the halt as an order
                out += [(st, Control("flatten", f"risk: unhedged {underlying} {mine:+.2f}"))
                        for st in who]
                out.append(("journal", Decision(self.name, "flatten", json.dumps(
                    {"underlying": underlying, "exposure": total, "held_by": who,
                     "held": mine}), now_ns)))
            v = total - mine
            if abs(v) <= self.tolerance_base:
                continue
            cands = [(c.base_per_lot, k, c) for k, c in self.contracts.items()
                     if c.underlying == underlying and c.base_per_lot and k in self.marks]
            if not cands:
                continue
            base, key, c = min(cands)
            lots = round(abs(v) / base)
            if lots <= 0:
                continue
            side = "S" if v > 0 else "B"
            band = max(self.risk.price_band_ticks, 10)
            mark_ticks = round(self.marks[key] / self.ticks[key])
            px = mark_ticks - band if side == "S" else mark_ticks + band
            self.flatten_seq += 1
            self.flatten_orders += 1
            venue = c.venue
            out.append((f"leg.{venue}", LegOrder(self.flatten_seq, 0, 0, venue, c.sym, side,
                                                 lots, px, "IOC", "flatten", 0, now_ns)))
            out.append(("journal", Decision(self.name, "flatten", json.dumps(
                {"underlying": underlying, "exposure": v, "key": key, "side": side,
                 "lots": lots, "px": px}), now_ns)))
        return out

    def snapshot(self) -> dict[str, Any]:
        """Return positions, exposure, PnL, state, reasons and counters."""
        return {"state": self.state, "reasons": dict(self.reasons),
                "reason": next(iter(self.reasons), ""), "positions": dict(self.positions),
                "exposure": self.exposure(), "pnl": self.pnl(), "peak_pnl": self.peak_pnl,
                "fees": dict(self.fees), "cash": dict(self.cash), "fills": self.fills,
                "margin_usage_pct": self.margin_usage_pct(),
                "gross_notional": self.gross_and_margin()[0], "denials": dict(self.denials),
                "state_changes": list(self.state_changes), "feeds": dict(self.feeds),
                "combos": dict(self.combos), "flatten_orders": self.flatten_orders,
                "slippage": self.slippage()}
