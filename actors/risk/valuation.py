"""The RiskSupervisor's money: positions valued in the home currency (a mixin of ``RiskCore``).

Money is kept per currency and converted into ``risk.home_ccy`` with the live FX book of the
pair that prices the foreign leg. ``RiskCore.__init__`` sets the state these methods read:
``contracts``, ``risk``, ``fx_books``, ``positions``, ``cash``, ``fees``, ``marks``,
``_unpriced``, ``slips`` and ``slip_sums``.
"""

from __future__ import annotations

from transports.config.engine import ContractConfig, RiskConfig
from transports.wire.messages import ComboState

#: combos whose slippage is kept one by one (to replace it if one is reported final again)
SLIP_RECENT = 1000


class RiskBook:
    """Valuation of what the RiskSupervisor holds: PnL, exposure, gross, margin, slippage."""

    contracts: dict[str, ContractConfig]
    risk: RiskConfig
    fx_books: dict[str, tuple[str, bool]]
    positions: dict[str, int]
    cash: dict[str, float]
    fees: dict[str, float]
    marks: dict[str, float]
    _unpriced: dict[str, int]
    slips: dict[int, tuple[str, float, int, float, int]]
    slip_sums: dict[str, list[float]]

    def _fx(self, ccy: str) -> float:
        if ccy == self.risk.home_ccy:
            return 1.0
        book = self.fx_books.get(ccy)
        if book is None:
            return 1.0
        mark = self.marks.get(book[0], 0.0)
        if mark <= 0:
            return 0.0
        return 1.0 / mark if book[1] else mark

    def pnl(self) -> dict[str, float]:
        """Return realized+MTM gross, fees and net PnL in the home currency."""
        gross = 0.0
        fees = sum(v * self._fx(k) for k, v in self.fees.items())
        for ccy, v in self.cash.items():
            gross += v * self._fx(ccy)
        for key, lots in self.positions.items():
            c = self.contracts.get(key)
            if c is None or not lots:
                continue
            gross += lots * self.marks.get(key, 0.0) * c.multiplier * self._fx(c.ccy)
        return {"gross": gross, "fees": fees, "net": gross - fees}

    def exposure(self) -> dict[str, float]:
        """Return net exposure per underlying in base units (signed)."""
        out: dict[str, float] = {}
        for key, lots in self.positions.items():
            c = self.contracts.get(key)
            if c is None or not c.underlying:
                continue
            out[c.underlying] = out.get(c.underlying, 0.0) + lots * c.base_per_lot
        return out

    def lot_notional(self, key: str) -> float:
        """Return one lot of ``key`` at its mark in the home currency (0 without a mark)."""
        c = self.contracts.get(key)
        if c is None:
            return 0.0
        return self.marks.get(key, 0.0) * c.multiplier * self._fx(c.ccy)

    def gross_and_margin(self) -> tuple[float, float]:
        """Return (gross notional, initial margin used) of every position, home currency."""
        gross = margin = 0.0
        for key, lots in self.positions.items():
            c = self.contracts.get(key)
            if c is None or not lots:
                continue
            v = abs(lots) * self.lot_notional(key)
            gross += v
            margin += v * c.margin_rate
        return gross, margin

    def margin_usage_pct(self) -> float:
        """Return initial margin in use as a percentage of ``margin_capital`` (0 if unset)."""
        if self.risk.margin_capital <= 0:
            return 0.0
        return 100.0 * self.gross_and_margin()[1] / self.risk.margin_capital

    def _price_adopted(self, key: str) -> None:
        """Book an adopted position's cost at the mark once there is one."""
        mark = self.marks.get(key)
        diff = self._unpriced.get(key, 0)
        if mark is None or not diff:
            return
        c = self.contracts[key]
        self.cash[c.ccy] = self.cash.get(c.ccy, 0.0) - diff * mark * c.multiplier
        del self._unpriced[key]

    def _add_slippage(self, s: ComboState) -> None:
        """Add a combo's final entry slippage to its pair's sums. A combo reported final again
        (a late fill re-opened it) replaces what it added, as long as it is among the last
        ``SLIP_RECENT`` combos reported (older ones are forgotten: the sums stay, the day's
        memory does not grow)."""
        new = (s.pair, s.slip_a_tick_lots, s.entry_a_lots, s.slip_b_tick_lots, s.entry_b_lots)
        for sign, rec in ((-1.0, self.slips.pop(s.combo_id, None)), (1.0, new)):
            if rec is None:
                continue
            acc = self.slip_sums.setdefault(rec[0], [0.0, 0.0, 0.0, 0.0])
            for i in range(4):
                acc[i] += sign * rec[i + 1]
        self.slips[s.combo_id] = new
        if len(self.slips) > SLIP_RECENT:
            del self.slips[next(iter(self.slips))]

    def slippage(self) -> dict[str, dict[str, dict[str, float]]]:
        """Realized entry slippage per pair and leg: average ticks (positive = worse) and lots."""
        return {pair: {leg: {"avg_ticks": round(t / n, 4) if n else 0.0, "lots": n}
                       for leg, t, n in (("A", a[0], a[1]), ("B", a[2], a[3]))}
                for pair, a in self.slip_sums.items()}
