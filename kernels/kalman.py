"""Kalman filter for a dynamic hedge regression and the mean-reversion half-life of a spread.

The statistical-pairs strategy (``actors.strategy.stat``) regresses ``y = ln P_A`` on
``x = ln P_B`` with time-varying coefficients::

    y_t = alpha_t + beta_t x_t + e_t,     e_t ~ N(0, obs_var)
    theta_t = theta_{t-1} + w_t,          w_t ~ N(0, delta / (1 - delta) I)

with ``theta = (alpha, beta)``.

State lives in caller-owned arrays, updated in place (nothing allocated per call):

* ``theta: float64[2]`` -- ``(alpha, beta)``;
* ``cov: float64[2, 2]`` -- the state covariance ``P``.

``half_life`` estimates how fast a spread reverts: the AR(1) regression of its changes on its
lagged level, ``ds_t = c + lam * s_{t-1} + eps``, gives ``phi = 1 + lam`` and a half-life of
``-ln 2 / ln phi`` samples. Units: samples in, samples out (the caller converts to seconds).
"""

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def kalman_init(theta, cov, alpha, beta, var0):
    """Reset the filter to ``(alpha, beta)`` with covariance ``var0 * I``.

    Args:
        theta: float64[2]; rewritten in place.
        cov: float64[2, 2]; rewritten in place.
        alpha: Initial intercept (log units).
        beta: Initial hedge ratio.
        var0: Initial variance of each coefficient (> 0; large = uninformed).
    """
    theta[0] = alpha
    theta[1] = beta
    cov[0, 0] = var0
    cov[0, 1] = 0.0
    cov[1, 0] = 0.0
    cov[1, 1] = var0


@njit(cache=True, nogil=True)
def kalman_update(theta, cov, x, y, delta, obs_var, gate):
    """One predict + update step of the (alpha, beta) regression, in place.

    Predict: ``P += delta / (1 - delta) I``. Innovation ``e = y - (alpha + beta x)`` against the
    prior, its variance ``Q = h P h' + obs_var`` with ``h = (1, x)``. Update (Joseph-free form,
    symmetrised): ``K = P h' / Q``, ``theta += K e``, ``P -= K h P``.

    An observation whose innovation is beyond ``gate`` standard deviations (``|e| > gate *
    sqrt(Q)``, ``gate > 0``) is not used: only the predict step happens, so a dislocation does
    not drag the hedge; the covariance keeps growing while observations are gated, so a lasting
    change of the relationship is re-admitted once ``Q`` has grown to cover it. ``gate <= 0``
    never gates. A non-finite ``x`` or ``y`` leaves the state unchanged and returns NaNs.

    Args:
        theta: float64[2] ``(alpha, beta)``; updated in place.
        cov: float64[2, 2] state covariance; updated in place.
        x: Regressor (ln P_B).
        y: Observation (ln P_A).
        delta: State noise in (0, 1).
        obs_var: Observation noise variance (> 0).
        gate: Innovation gate in standard deviations; <= 0 = off.

    Returns:
        tuple: ``(e, Q, used)``: the innovation against the prior (log units), its variance and
        whether the observation updated the state.
    """
    if not (np.isfinite(x) and np.isfinite(y)):
        return np.nan, np.nan, False
    vw = delta / (1.0 - delta)
    p00 = cov[0, 0] + vw
    p01 = cov[0, 1]
    p10 = cov[1, 0]
    p11 = cov[1, 1] + vw
    e = y - (theta[0] + theta[1] * x)
    # P h' (h = (1, x)) and h P h'
    ph0 = p00 + p01 * x
    ph1 = p10 + p11 * x
    q = ph0 + x * ph1 + obs_var
    if gate > 0.0 and e * e > gate * gate * q:
        cov[0, 0] = p00
        cov[1, 1] = p11
        return e, q, False
    k0 = ph0 / q
    k1 = ph1 / q
    theta[0] += k0 * e
    theta[1] += k1 * e
    # h P = (P h')' since P is symmetric
    n00 = p00 - k0 * ph0
    n01 = p01 - k0 * ph1
    n10 = p10 - k1 * ph0
    n11 = p11 - k1 * ph1
    off = 0.5 * (n01 + n10)
    cov[0, 0] = n00
    cov[0, 1] = off
    cov[1, 0] = off
    cov[1, 1] = n11
    return e, q, True


@njit(cache=True, nogil=True)
def half_life(series, start, n):
    """Mean-reversion half-life, in samples, of ``n`` samples of a ring buffer.

    Sample ``i`` (oldest first) is ``series[(start + i) % len(series)]``. OLS of
    ``ds_t = s_t - s_{t-1}`` on ``s_{t-1}`` with an intercept gives ``lam``; ``phi = 1 + lam``.

    Args:
        series: float64[m] ring buffer.
        start: Index of the oldest sample.
        n: Number of samples to use (``2 < n <= m``).

    Returns:
        float: ``-ln 2 / ln(phi)`` samples; ``inf`` when the spread does not revert
        (``phi >= 1``), ``0.0`` when it overshoots every sample (``phi <= 0``), NaN when ``n``
        is too small or the lagged spread has no variance.
    """
    m = series.shape[0]
    if n < 3 or n > m:
        return np.nan
    cnt = n - 1
    # means of the lagged level and of the change
    sx = 0.0
    sy = 0.0
    prev = series[start % m]
    for i in range(1, n):
        cur = series[(start + i) % m]
        sx += prev
        sy += cur - prev
        prev = cur
    mx = sx / cnt
    my = sy / cnt
    sxx = 0.0
    sxy = 0.0
    prev = series[start % m]
    for i in range(1, n):
        cur = series[(start + i) % m]
        dx = prev - mx
        sxx += dx * dx
        sxy += dx * ((cur - prev) - my)
        prev = cur
    if not sxx > 0.0:
        return np.nan
    phi = 1.0 + sxy / sxx
    if phi >= 1.0:
        return np.inf
    if phi <= 0.0:
        return 0.0
    return -math.log(2.0) / math.log(phi)


def warm() -> int:
    """Compile (or load from the cache) every kernel here with the argument types
    ``StatPairCore`` passes: float64 arrays, Python ``float`` scalars, Python ``int`` ring
    indices. Returns the number of kernels warmed."""
    theta = np.zeros(2, np.float64)
    cov = np.zeros((2, 2), np.float64)
    kalman_init(theta, cov, 0.0, 1.0, 1.0)
    kalman_update(theta, cov, 4.6, 4.8, 1e-8, 1e-6, 4.0)
    buf = np.arange(8, dtype=np.float64)
    half_life(buf, 0, 8)
    return 3


__all__ = ["half_life", "kalman_init", "kalman_update", "warm"]
