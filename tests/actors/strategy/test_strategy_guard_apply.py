"""``PairPosition.apply`` (every strategy kind's position from ``ComboState``) made cheaper for a
state that holds nothing new, with the same answers: against the rule as written before
(``_OldPosition``), the same return, position, per-combo holdings, pending combo, direction and
the guard's cooldown after every state of any sequence -- combos of this epoch and an older
one, pending or not, opens and closes, late fills re-opening a finished combo."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.strategy.guard import PairGuard, PairPosition
from tests.actors.risk.test_risk_combo_state import _ref_holding
from transports.wire.messages import ComboState

EPOCH = 3
STATES = ("working", "complete", "repairing", "repaired", "failed")


class _OldPosition(PairPosition):
    """``PairPosition.apply`` as it was written before the change."""

    def apply(self, s: ComboState, guard: PairGuard, now_ns: int, cooldown_ns: int) -> bool:
        a, b = _ref_holding(s)
        old = self.holdings.get(s.combo_id)
        self.holdings[s.combo_id] = (a, b)
        if old is None:
            self.pos_a_lots += a
            self.pos_b_lots += b
        else:
            self.pos_a_lots += a - old[0]
            self.pos_b_lots += b - old[1]
        if s.combo_id != self.pending or s.state in ("working", "repairing"):
            if self.pending is None and \
                    0 < s.combo_id // 1_000_000_000 < self.combo_seq // 1_000_000_000:
                self._settle(now_ns)
            return False
        self.pending = None
        guard.combo_done(s.state == "failed" or (s.state == "repaired" and not s.filled_a_lots
                                                  and not s.filled_b_lots), now_ns, cooldown_ns)
        if self.pos_a_lots == 0 and self.pos_b_lots == 0:
            self.pos_dir = 0
            self.holdings.clear()
            self.opened_ns = 0
        elif s.action == "open":
            if self.pos_dir == 0:
                self.opened_ns = now_ns
            self.pos_dir = s.direction
        return True


#: one step: open a new pending combo (None), or a state of combo ``seq`` (1..3 of this epoch,
#: -1 of the previous epoch's: adopted fills after a restart)
steps = st.one_of(
    st.none(),
    st.tuples(st.sampled_from([1, 2, 3, -1]), st.sampled_from(["open", "close"]),
              st.sampled_from(STATES), st.sampled_from([-1, 1]), st.integers(0, 4),
              st.integers(0, 4)))


@given(st.lists(steps, max_size=50), st.sampled_from([0, 5_000]))
@settings(max_examples=200, deadline=None)
def test_apply_is_the_rule_as_written_before(seq: list, cooldown_ns: int) -> None:
    new, old = PairPosition("p", EPOCH, 2), _OldPosition("p", EPOCH, 2)
    g_new, g_old = PairGuard("s", "journal", ["a"]), PairGuard("s", "journal", ["a"])
    base = EPOCH * 1_000_000_000 + 2 * 1_000_000
    for i, step in enumerate(seq, start=1):
        now_ns = i * 1_000
        if step is None:
            assert new.next_id() == old.next_id()
            continue
        n, action, state, direction, fa, fb = step
        cid = base - 1_000_000_000 + 1 if n < 0 else base + n
        s = ComboState(cid, "p", action, state, direction, fa, fb, 0.0, now_ns)
        assert new.apply(s, g_new, now_ns, cooldown_ns) == old.apply(s, g_old, now_ns,
                                                                     cooldown_ns)
        assert vars(new) == vars(old)
        assert list(new.holdings) == list(old.holdings)
        assert g_new.snapshot() == g_old.snapshot()
        assert (g_new.close_retry_ns, g_new.fail_streak) == (g_old.close_retry_ns,
                                                            g_old.fail_streak)
