"""Realized entry slippage of each pair leg, from the final ``ComboState``\\s.

Kept by the RiskSupervisor for the summary and the admin: it changes no limit.
"""

from __future__ import annotations

from transports.wire.messages import ComboState

#: combos whose slippage is kept one by one (to replace it if one is reported final again)
SLIP_RECENT = 1000


class Slippage:
    """Per pair, the sums of entry slippage (tick-lots) and lots of each leg."""

    def __init__(self) -> None:
        #: combo id -> (pair, A tick-lots, A lots, B tick-lots, B lots), the last SLIP_RECENT
        self.slips: dict[int, tuple[str, float, int, float, int]] = {}
        self.sums: dict[str, list[float]] = {}  #: pair -> [A tick-lots, A lots, B ..., B]

    def add(self, s: ComboState) -> None:
        """Add a combo's final entry slippage to its pair's sums. A combo reported final again
        (a late fill re-opened it) replaces what it added, as long as it is among the last
        ``SLIP_RECENT`` combos reported (older ones are forgotten: the sums stay, the day's
        memory does not grow)."""
        new = (s.pair, s.slip_a_tick_lots, s.entry_a_lots, s.slip_b_tick_lots, s.entry_b_lots)
        for sign, rec in ((-1.0, self.slips.pop(s.combo_id, None)), (1.0, new)):
            if rec is None:
                continue
            acc = self.sums.setdefault(rec[0], [0.0, 0.0, 0.0, 0.0])
            for i in range(4):
                acc[i] += sign * rec[i + 1]
        self.slips[s.combo_id] = new
        if len(self.slips) > SLIP_RECENT:
            del self.slips[next(iter(self.slips))]

    def report(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per pair and leg: average ticks (positive = worse) and lots."""
        return {pair: {leg: {"avg_ticks": round(t / n, 4) if n else 0.0, "lots": n}
                       for leg, t, n in (("A", a[0], a[1]), ("B", a[2], a[3]))}
                for pair, a in self.sums.items()}


__all__ = ["SLIP_RECENT", "Slippage"]
