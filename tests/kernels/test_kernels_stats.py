"""Property tests for the rolling z-score kernels against numpy recomputation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels import zscore_init, zscore_mean_std, zscore_score_push, zscore_update
from tests.support.oracles import zscore_series

SETTINGS = settings(deadline=None, max_examples=200)

# Samples on a 1e-3 grid: any non-constant window has a std far above the 1e-12 floor.
xs_st = st.lists(st.integers(-1_000_000, 1_000_000).map(lambda k: k / 1000.0), max_size=80)


@pytest.fixture(scope="module", autouse=True)
def _warm():
    kernels.warm_up()


def _degenerate(win):
    """Window whose spread is at float-noise level relative to its magnitude."""
    return len(win) < 2 or np.std(win) <= 1e-6 * (np.max(np.abs(win)) + 1.0)


@SETTINGS
@given(xs=xs_st, window=st.integers(1, 20))
def test_zscore_matches_numpy_over_last_window(xs, window):
    buf, state = np.zeros(window), np.zeros(4)
    zscore_init(buf, state)
    for i, x in enumerate(xs):
        z = zscore_update(buf, state, x)
        win = np.array(xs[max(0, i - window + 1) : i + 1])
        mean, std = zscore_mean_std(buf, state)
        scale = np.max(np.abs(win)) + 1.0
        assert mean == pytest.approx(win.mean(), rel=1e-9, abs=1e-9 * scale)
        assert std == pytest.approx(win.std(), rel=1e-6, abs=1e-9 * scale)
        assert state[0] == len(win)
        # |z| of a member of its own sample is bounded by sqrt(n - 1) (population std).
        assert abs(z) <= math.sqrt(len(win) - 1) + 1e-9
        if len(win) < 2:
            assert z == 0.0
        elif not _degenerate(win):
            want = (x - win.mean()) / win.std()
            assert z == pytest.approx(want, rel=1e-6, abs=1e-6)


@SETTINGS
@given(
    xs=xs_st,
    window=st.integers(1, 20),
    shift=st.floats(-1e3, 1e3),
    scale=st.floats(1e-3, 1e3),
)
def test_zscore_invariant_to_shift_and_positive_scale(xs, window, shift, scale):
    arr = np.array(xs, dtype=np.float64)
    moved = arr * scale + shift
    z0 = zscore_series(arr, window)
    z1 = zscore_series(moved, window)
    for i in range(len(arr)):
        lo = max(0, i - window + 1)
        if np.ptp(arr[lo : i + 1]) == 0.0:
            # Constant window: z is 0 up to rounding noise, whatever the transform.
            assert abs(z0[i]) < 1e-3 and abs(z1[i]) < 1e-3
            continue
        if _degenerate(arr[lo : i + 1]) or _degenerate(moved[lo : i + 1]):
            continue  # spread at cancellation level: z is not well conditioned
        assert z1[i] == pytest.approx(z0[i], rel=1e-6, abs=1e-6)


@SETTINGS
@given(
    xs=st.lists(
        st.one_of(st.floats(-1e6, 1e6), st.sampled_from([np.nan, np.inf, -np.inf])), max_size=60
    ),
    window=st.integers(1, 10),
)
def test_zscore_series_equals_update_loop(xs, window):
    arr = np.array(xs, dtype=np.float64)
    buf, state = np.zeros(window), np.zeros(4)
    zscore_init(buf, state)
    looped = np.array([zscore_update(buf, state, x) for x in arr])
    assert np.array_equal(zscore_series(arr, window), looped, equal_nan=True)
    # Non-finite samples are rejected without touching the state.
    finite = arr[np.isfinite(arr)]
    assert state[0] == min(len(finite), window)
    assert np.isnan(looped[~np.isfinite(arr)]).all()


def test_zscore_small_cases():
    buf, state = np.zeros(3), np.zeros(4)
    zscore_init(buf, state)
    mean, std = zscore_mean_std(buf, state)
    assert np.isnan(mean) and np.isnan(std)
    assert zscore_update(buf, state, 5.0) == 0.0
    assert zscore_mean_std(buf, state) == (5.0, 0.0)
    assert zscore_update(buf, state, 5.0) == 0.0  # std 0 -> 0.0
    assert zscore_update(buf, state, 8.0) == pytest.approx((8 - 6) / np.std([5, 5, 8]))
    # Window now full: 5 is evicted.
    assert zscore_update(buf, state, 2.0) == pytest.approx((2 - 5) / np.std([5, 8, 2]))
    with pytest.raises(ValueError):
        zscore_series(np.zeros(3), 0)
    with pytest.raises(ValueError):
        zscore_init(np.zeros(0), np.zeros(4))


def test_zscore_no_drift_over_long_run():
    rng = np.random.default_rng(3)
    window = 50
    xs = 1e6 + rng.normal(0.0, 1e-2, size=50_000)
    xs[1000:1125] = 1e9  # a burst that leaves the window mid-lap (at push 1175)
    z = zscore_series(xs, window)
    win = xs[-window:]
    assert z[-1] == pytest.approx((xs[-1] - win.mean()) / win.std(), rel=1e-6)
    buf, state = np.zeros(window), np.zeros(4)
    zscore_init(buf, state)
    stop = 1190  # mid-lap, shortly after the burst has left the window
    for x in xs[:stop]:
        zscore_update(buf, state, x)
    win = xs[stop - window : stop]
    mean, std = zscore_mean_std(buf, state)
    assert mean == pytest.approx(win.mean(), rel=1e-12)
    assert std == pytest.approx(win.std(), rel=1e-6)


# --- zscore_score_push: the Strategy's fused per-tick call --------------------------------------


samples_st = st.lists(
    st.one_of(
        st.integers(-1_000_000, 1_000_000).map(lambda k: k / 1000.0),
        st.floats(-1e6, 1e6),
        st.sampled_from([np.nan, np.inf, -np.inf]),
    ),
    max_size=60,
)


def _same(a, b):
    """Bitwise float equality (NaN equal to NaN): the fused kernel must not move a single bit."""
    return np.array_equal(np.float64(a), np.float64(b), equal_nan=True) and (
        np.signbit(a) == np.signbit(b) or (np.isnan(a) and np.isnan(b))
    )


def _reference_step(buf, state, x, z_clip, warm):
    """What the Strategy did before the fused kernel: mean/std, z, winsorise, push."""
    mean, std = (float(v) for v in zscore_mean_std(buf, state))
    z = (x - mean) / std if (warm and std > 1e-12) else 0.0
    push = x
    if warm and std > 1e-12 and abs(z) > z_clip:
        push = mean + (z_clip if z > 0 else -z_clip) * std
    zscore_update(buf, state, push)
    return z, mean, std


@SETTINGS
@given(
    xs=samples_st,
    window=st.integers(1, 20),
    z_clip=st.sampled_from([0.0, 0.5, 2.0, 1e9]),
    warm_after=st.integers(0, 25),
)
def test_zscore_score_push_equals_the_unfused_steps_bit_for_bit(xs, window, z_clip, warm_after):
    buf_f, st_f = np.zeros(window), np.zeros(4)
    buf_r, st_r = np.zeros(window), np.zeros(4)
    buf_p, st_p = np.zeros(window), np.zeros(4)
    for a in (buf_f, buf_r, buf_p):
        zscore_init(a, st_f if a is buf_f else st_r if a is buf_r else st_p)
    for i, x in enumerate(xs):
        warm = i >= warm_after
        got = zscore_score_push(buf_f, st_f, float(x), z_clip, warm)
        want = _reference_step(buf_r, st_r, float(x), z_clip, warm)
        py = zscore_score_push.py_func(buf_p, st_p, float(x), z_clip, warm)
        assert all(type(v) is float for v in got)
        for g, w, p in zip(got, want, py, strict=True):
            assert _same(g, w) and _same(g, p), (i, got, want, py)
        assert np.array_equal(st_f, st_r, equal_nan=True)
        assert np.array_equal(buf_f, buf_r, equal_nan=True)
        assert np.array_equal(st_f, st_p, equal_nan=True)


def test_zscore_score_push_scores_against_the_window_before_the_sample():
    buf, state = np.zeros(4), np.zeros(4)
    zscore_init(buf, state)
    z, mean, std = zscore_score_push(buf, state, 1.0, 2.0, True)  # empty window before it
    assert z == 0.0 and np.isnan(mean) and np.isnan(std)
    for x in (2.0, 4.0, 6.0):
        zscore_score_push(buf, state, x, 10.0, True)
    z, mean, std = zscore_score_push(buf, state, 100.0, 1.0, True)
    win = np.array([1.0, 2.0, 4.0, 6.0])
    assert (mean, std) == pytest.approx((win.mean(), win.std()))
    assert z == pytest.approx((100.0 - win.mean()) / win.std())
    # winsorised: 100 evicted 1.0 and went in as mean + 1 std
    assert 100.0 not in buf and 1.0 not in buf
    assert sorted(buf.tolist()) == pytest.approx(sorted([2.0, 4.0, 6.0, win.mean() + win.std()]))
    # not warm: z is 0 and the sample goes in as it is
    z, _, _ = zscore_score_push(buf, state, 50.0, 1.0, False)
    assert z == 0.0 and 50.0 in buf
