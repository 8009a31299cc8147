"""What each strategy holds, from the ComboExecutor's ``ComboState``\\s (one rule, two users).

A strategy's position in a pair is the sum over its combos of what each holds: an ``open``
holds ``(+filled_a, -filled_b)`` in its direction, a ``close`` the opposite. The strategy keeps
it to know what to close; the RiskSupervisor keeps the same sums to tell exposure a strategy
owns (and will close) from exposure nobody owns (which risk flattens itself).
"""

from __future__ import annotations

from transports.wire.messages import ComboState

#: the holding of a combo with nothing filled (one shared tuple: the common case of every
#: ``working`` state and of every combo that came to nothing allocates none)
NOTHING = (0, 0)


def combo_holding(s: ComboState) -> tuple[int, int]:
    """(leg A lots, leg B lots), signed, that combo ``s`` adds to its strategy's position."""
    fa, fb = s.filled_a_lots, s.filled_b_lots
    if not fa and not fb:
        return NOTHING  # what the signs below give for nothing filled, either way
    if (s.direction > 0) == (s.action == "open"):
        return fa, -fb  # an open long A / short B, or a close of a short A / long B
    return -fa, fb  # a close trades against the position it closes


class PairHoldings:
    """Per pair: the position its strategy holds, kept from every ``ComboState``."""

    def __init__(self) -> None:
        self.pos: dict[str, tuple[int, int]] = {}  #: pair -> (A lots, B lots)
        self._by_combo: dict[str, dict[int, tuple[int, int]]] = {}

    def live_pairs(self, live: set[int]) -> tuple[set[str], int]:
        """The pairs holding any of the combo ids ``live``, and how many of those ids were
        found (fewer than ``len(live)``: a live combo this holder has no record of)."""
        pairs: set[str] = set()
        found = 0
        for pair, combos in self._by_combo.items():
            n = len(live.intersection(combos))
            if n:
                pairs.add(pair)
                found += n
        return pairs, found

    def on_combo_state(self, s: ComboState) -> None:
        """Apply ``s`` (a combo's holding replaces what it held before); a pair back to flat
        at a final state forgets its combos, as the strategy does."""
        # nothing filled (every "working" state, every combo that came to nothing) holds
        # ``NOTHING`` without the call
        held = combo_holding(s) if s.filled_a_lots or s.filled_b_lots else NOTHING
        pair = s.pair
        combos = self._by_combo.get(pair)
        if combos is None:
            combos = self._by_combo[pair] = {}
        old = combos.get(s.combo_id, NOTHING)
        combos[s.combo_id] = held
        p = self.pos.get(pair)
        if p is None:
            p = self.pos[pair] = (held[0] - old[0], held[1] - old[1])
        elif held is not old and held != old:  # the common case (nothing new) writes nothing
            p = self.pos[pair] = (p[0] + held[0] - old[0], p[1] + held[1] - old[1])
        if p == NOTHING and s.state != "working" and s.state != "repairing":
            combos.clear()
