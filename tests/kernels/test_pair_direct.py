"""``kernels.pair_direct``: the strategy's z-score call without Numba's type dispatch gives the
dispatcher's (and the pure-Python ``py_func``'s) results bit for bit, and is bound at warm-up."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels import pair_direct
from kernels.stats import zscore_init, zscore_score_push

# samples around a level with spikes, repeats (std 0) and non-finite values the window rejects
sample_st = st.one_of(
    st.floats(-1e3, 1e3, allow_nan=False),
    st.sampled_from([0.5, 0.5, 0.5, 1e9, -1e9, math.nan, math.inf]),
)


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    kernels.warm_up()


def _same(x: float, y: float) -> bool:
    return x == y or (math.isnan(x) and math.isnan(y))


@settings(deadline=None, max_examples=150)
@given(xs=st.lists(sample_st, max_size=60), window=st.integers(1, 12),
       z_clip=st.sampled_from([0.0, 0.5, 2.0]), warm_after=st.integers(0, 8))
def test_direct_entry_is_the_dispatcher_bit_for_bit(xs: list[float], window: int, z_clip: float,
                                                    warm_after: int) -> None:
    push = pair_direct.zscore_push
    wins = []
    for _ in range(3):
        buf, state = np.zeros(window), np.zeros(4)
        zscore_init(buf, state)
        wins.append((buf, state))
    for i, x in enumerate(xs):
        warm = i >= warm_after
        got = push(wins[0][0], wins[0][1], x, z_clip, warm)
        want = zscore_score_push(wins[1][0], wins[1][1], x, z_clip, warm)
        ref = zscore_score_push.py_func(wins[2][0], wins[2][1], x, z_clip, warm)
        for g, w, r in zip(got, want, ref, strict=True):
            assert _same(g, w) and _same(g, float(r)), (i, got, want, ref)
        assert np.array_equal(wins[0][1], wins[1][1], equal_nan=True)
        assert np.array_equal(wins[0][0], wins[1][0], equal_nan=True)
        assert np.array_equal(wins[0][1], wins[2][1], equal_nan=True)


def test_warm_up_binds_the_entry_so_no_tick_compiles() -> None:
    kernels.warm_up()
    push = pair_direct.zscore_push
    assert push is not pair_direct._zscore_push_first
    assert push is zscore_score_push.get_overload(pair_direct.ZSCORE_PUSH_SIG)


def test_the_first_call_binds_the_entry_when_nothing_warmed_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pair_direct, "zscore_push", pair_direct._zscore_push_first)
    buf, state = np.zeros(3), np.zeros(4)
    for x in (1.0, 2.0, 4.0):
        pair_direct.zscore_push(buf, state, x, 2.0, True)
    assert pair_direct.zscore_push is not pair_direct._zscore_push_first
    ref_buf, ref_state = np.zeros(3), np.zeros(4)
    for x in (1.0, 2.0, 4.0):
        zscore_score_push(ref_buf, ref_state, x, 2.0, True)
    assert np.array_equal(state, ref_state) and np.array_equal(buf, ref_buf)


def test_direct_of_a_plain_function_is_the_function() -> None:
    """With ``NUMBA_DISABLE_JIT`` a kernel is a plain function: it is called as it is."""
    def plain(a: float) -> float:
        return a + 1.0

    assert pair_direct.direct(plain, pair_direct.ZSCORE_PUSH_SIG) is plain
