"""What each strategy holds, from the ComboExecutor's ``ComboState``\\s (one rule, two users).

A strategy's position in a pair is the sum over its combos of what each holds: an ``open``
holds ``(+filled_a, -filled_b)`` in its direction, a ``close`` the opposite. The strategy keeps
it to know what to close; the RiskSupervisor keeps the same sums to tell exposure a strategy
owns (and will close) from exposure nobody owns (which risk flattens itself).
"""

from __future__ import annotations

from transports.wire.messages import ComboState


def combo_holding(s: ComboState) -> tuple[int, int]:
    """(leg A lots, leg B lots), signed, that combo ``s`` adds to its strategy's position."""
    sign_a = 1 if s.direction > 0 else -1
    a, b = sign_a * s.filled_a_lots, -sign_a * s.filled_b_lots
    if s.action != "open":
        return -a, -b  # a close trades against the position it closes
    return a, b


class PairHoldings:
    """Per pair: the position its strategy holds, kept from every ``ComboState``."""

    def __init__(self) -> None:
        self.pos: dict[str, tuple[int, int]] = {}  #: pair -> (A lots, B lots)
        self._by_combo: dict[str, dict[int, tuple[int, int]]] = {}

    def on_combo_state(self, s: ComboState) -> None:
        """Apply ``s`` (a combo's holding replaces what it held before); a pair back to flat
        at a final state forgets its combos, as the strategy does."""
        a, b = combo_holding(s)
        combos = self._by_combo.setdefault(s.pair, {})
        old = combos.get(s.combo_id, (0, 0))
        combos[s.combo_id] = (a, b)
        pa, pb = self.pos.get(s.pair, (0, 0))
        pa, pb = pa + a - old[0], pb + b - old[1]
        self.pos[s.pair] = (pa, pb)
        if pa == 0 and pb == 0 and s.state not in ("working", "repairing"):
            combos.clear()
