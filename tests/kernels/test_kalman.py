"""kernels.kalman: the (alpha, beta) Kalman update and the half-life estimator, against their
``py_func`` and as properties (convergence to the true hedge, the half-life of a known AR(1))."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.kalman import half_life, kalman_init, kalman_update, warm


def _filter(fn, xs, ys, delta=1e-8, obs_var=1e-4, gate=0.0):
    theta = np.zeros(2)
    cov = np.zeros((2, 2))
    kalman_init(theta, cov, 0.0, 0.0, 1.0)
    out = []
    for x, y in zip(xs, ys, strict=True):
        out.append(fn(theta, cov, float(x), float(y), delta, obs_var, gate))
    return theta, cov, out


def _series(seed: int, n: int, alpha: float, beta: float, noise: float):
    rng = np.random.default_rng(seed)
    xs = 4.0 + np.cumsum(rng.normal(0.0, 0.02, n))  # a log price that wanders
    ys = alpha + beta * xs + rng.normal(0.0, noise, n)
    return xs, ys


def test_update_matches_py_func() -> None:
    xs, ys = _series(1, 300, 0.3, 0.8, 0.01)
    t1, c1, o1 = _filter(kalman_update, xs, ys, gate=3.0)
    t2, c2, o2 = _filter(kalman_update.py_func, xs, ys, gate=3.0)
    np.testing.assert_allclose(t1, t2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(c1, c2, rtol=1e-12, atol=1e-18)
    assert [u for _, _, u in o1] == [u for _, _, u in o2]
    np.testing.assert_allclose([e for e, _, _ in o1], [e for e, _, _ in o2], rtol=1e-12,
                               atol=1e-15)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), alpha=st.floats(-1.0, 1.0), beta=st.floats(0.2, 2.0))
def test_converges_to_the_true_hedge(seed: int, alpha: float, beta: float) -> None:
    xs, ys = _series(seed, 2000, alpha, beta, 0.005)
    theta, cov, out = _filter(kalman_update, xs, ys, delta=1e-10, obs_var=0.005**2)
    assert abs(theta[1] - beta) < 0.05
    # the fitted line explains the last prices to within a few noise sigmas
    assert abs(ys[-1] - theta[0] - theta[1] * xs[-1]) < 0.03
    assert cov[0, 1] == cov[1, 0]  # kept symmetric
    _, q, used = out[-1]
    assert used and q > 0.005**2  # the innovation variance includes the observation noise


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), drift=st.floats(-2e-4, 2e-4))
def test_tracks_a_drifting_beta(seed: int, drift: float) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    xs = 4.0 + np.cumsum(rng.normal(0.0, 0.02, n))
    betas = 1.0 + drift * np.arange(n)
    ys = 0.1 + betas * xs + rng.normal(0.0, 0.002, n)
    theta, _, _ = _filter(kalman_update, xs, ys, delta=1e-7, obs_var=0.002**2)
    assert abs(theta[1] - betas[-1]) < 0.05


def test_gate_keeps_the_hedge_and_grows_the_covariance() -> None:
    xs, ys = _series(3, 500, 0.2, 0.9, 0.001)
    theta, cov, _ = _filter(kalman_update, xs, ys, delta=1e-9, obs_var=1e-6, gate=4.0)
    before_t, before_c = theta.copy(), cov.copy()
    x = float(xs[-1])
    y = float(theta[0] + theta[1] * x + 0.05)  # 50 sigmas off: a dislocation
    e, _, used = kalman_update(theta, cov, x, y, 1e-9, 1e-6, 4.0)
    assert not used
    assert e == pytest.approx(0.05)
    np.testing.assert_array_equal(theta, before_t)
    vw = 1e-9 / (1 - 1e-9)
    assert cov[0, 0] == pytest.approx(before_c[0, 0] + vw)
    assert cov[1, 1] == pytest.approx(before_c[1, 1] + vw)
    # without the gate the same observation moves the hedge
    t2, c2 = before_t.copy(), before_c.copy()
    _, _, used2 = kalman_update(t2, c2, x, y, 1e-9, 1e-6, 0.0)
    assert used2 and not np.array_equal(t2, before_t)


def test_non_finite_input_changes_nothing() -> None:
    theta = np.array([0.1, 1.0])
    cov = np.eye(2)
    e, q, used = kalman_update(theta, cov, math.nan, 1.0, 1e-6, 1e-4, 0.0)
    assert math.isnan(e) and math.isnan(q) and not used
    np.testing.assert_array_equal(theta, [0.1, 1.0])
    np.testing.assert_array_equal(cov, np.eye(2))


def _ar1(seed: int, phi: float, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.0, n)
    s = np.empty(n)
    s[0] = 0.0
    for i in range(1, n):
        s[i] = phi * s[i - 1] + z[i]
    return s + 3.0  # a non-zero mean: the intercept absorbs it


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), phi=st.floats(0.5, 0.97))
def test_half_life_of_a_known_ar1(seed: int, phi: float) -> None:
    s = _ar1(seed, phi, 20_000)
    hl = half_life(s, 0, s.shape[0])
    true = -math.log(2) / math.log(phi)
    assert hl == pytest.approx(true, rel=0.15)
    assert hl == pytest.approx(half_life.py_func(s, 0, s.shape[0]), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), rot=st.integers(0, 499))
def test_half_life_reads_a_ring_oldest_first(seed: int, rot: int) -> None:
    s = _ar1(seed, 0.8, 500)
    ring = np.roll(s, rot)  # oldest sample now at index rot
    assert half_life(ring, rot, 500) == pytest.approx(half_life(s, 0, 500), rel=1e-9)
    # a part of the ring: the newest 300 samples
    assert half_life(ring, (rot + 200) % 500, 300) == pytest.approx(half_life(s[200:], 0, 300),
                                                                     rel=1e-9)


def test_half_life_edges() -> None:
    trend = np.arange(100, dtype=np.float64)  # never reverts
    assert half_life(trend, 0, 100) == math.inf
    flat = np.full(50, 2.0)
    assert math.isnan(half_life(flat, 0, 50))
    assert math.isnan(half_life(flat, 0, 2))
    alt = np.array([1.0, -1.0] * 20)  # overshoots every sample: phi = -1
    assert half_life(alt, 0, 40) == 0.0


def test_warm_compiles_the_kernels() -> None:
    assert warm() == 3
    for fn in (kalman_init, kalman_update, half_life):
        assert fn.signatures  # compiled (or loaded from the cache)
