"""Rolling z-score over a fixed window with O(1) amortised updates.

State lives in caller-owned arrays so the kernels allocate nothing:

* ``buf: float64[window]`` — ring buffer of the last ``window`` samples; ``window`` is
  ``buf.shape[0]`` and must be >= 1.
* ``state: float64[4]`` — ``[count, head, mean, m2]``: number of live samples
  (``<= window``), index of the next slot to write, running mean and running sum of squared
  deviations from the mean (Welford form, which avoids the cancellation of a
  ``sum``/``sumsq`` layout). While the window is filling the live samples are ``buf[:count]``;
  once full, all of ``buf``.

Sliding Welford updates accumulate rounding drift, so ``mean`` and ``m2`` are recomputed
exactly from ``buf`` with a two-pass sum every time the ring head wraps (every ``window``
pushes) and whenever a single push shrinks ``m2`` by a factor of 1e6 or more (e.g. an outlier
leaving the window, which would otherwise leave cancellation noise far above the true
variance). Each recompute costs O(window); the first kind happens once per ``window``
pushes, the second only after a large variance collapse.

Statistics are population (``ddof=0``). Units: the mean and std are in the units of the
samples; the z-score is dimensionless.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def zscore_init(buf, state):
    """Reset a rolling window to empty.

    Args:
        buf: float64[window] ring buffer; zeroed in place.
        state: float64[4] ``[count, head, mean, m2]``; zeroed in place.

    Raises:
        ValueError: If ``buf`` is empty or ``state`` has fewer than 4 slots.
    """
    if buf.shape[0] < 1 or state.shape[0] < 4:
        raise ValueError("zscore_init: need buf of length >= 1 and state of length >= 4")
    buf[:] = 0.0
    state[:4] = 0.0


@njit(cache=True, nogil=True)
def _zscore_recompute(buf, state):
    """Recompute ``mean`` and ``m2`` exactly (two passes) from the live samples in ``buf``.

    Args:
        buf: float64[window] ring buffer.
        state: float64[4] ``[count, head, mean, m2]``; slots 2 and 3 rewritten in place.
    """
    n = int(state[0])
    if n <= 0:
        state[2] = 0.0
        state[3] = 0.0
        return
    total = 0.0
    for i in range(n):
        total += buf[i]
    mean = total / n
    m2 = 0.0
    for i in range(n):
        dev = buf[i] - mean
        m2 += dev * dev
    state[2] = mean
    state[3] = m2


@njit(cache=True, nogil=True)
def zscore_update(buf, state, x):
    """Push one sample and return its z-score against the window that includes it.

    When the window is full the oldest sample is evicted first. Non-finite samples (NaN,
    +-inf) are rejected: they are not pushed, the state is unchanged and NaN is returned, so
    one bad tick cannot poison the window.

    Args:
        buf: float64[window] ring buffer; updated in place.
        state: float64[4] ``[count, head, mean, m2]``; updated in place.
        x: New sample, in the series' units.

    Returns:
        float64: ``(x - mean) / std`` over the window including ``x`` (population std,
        dimensionless); 0.0 while fewer than 2 samples are live or when std < 1e-12 (an
        absolute floor in the series' units); NaN if ``x`` is not finite.
    """
    if not np.isfinite(x):
        return np.nan
    window = buf.shape[0]
    n = int(state[0])
    head = int(state[1])
    mean = state[2]
    m2 = state[3]
    if n < window:
        n += 1
        dev = x - mean
        mean += dev / n
        m2 += dev * (x - mean)
    else:
        old = buf[head]
        new_mean = mean + (x - old) / n
        m2 += (x - old) * ((x - new_mean) + (old - mean))
        mean = new_mean
    buf[head] = x
    head += 1
    if head >= window:
        head = 0
    m2_before = state[3]
    state[0] = n
    state[1] = head
    state[2] = mean
    state[3] = m2 if m2 > 0.0 else 0.0
    if head == 0 or (m2_before > 0.0 and m2 <= 1e-6 * m2_before):
        # Once per lap of the ring, and whenever one eviction cancelled >= 6 digits of m2
        # (a spike leaving the window): recompute to discard accumulated rounding drift.
        _zscore_recompute(buf, state)
    if n < 2:
        return 0.0
    std = np.sqrt(state[3] / n)
    if std < 1e-12:
        return 0.0
    return (x - state[2]) / std


@njit(cache=True, nogil=True)
def zscore_mean_std(buf, state):
    """Mean and population standard deviation of the current window.

    Args:
        buf: float64[window] ring buffer (unused; kept for a uniform call shape).
        state: float64[4] ``[count, head, mean, m2]``.

    Returns:
        tuple: ``(mean, std)`` as float64 in the series' units; ``(nan, nan)`` when the
        window is empty, ``(x, 0.0)`` with one sample.
    """
    n = state[0]
    if n < 1.0:
        return np.nan, np.nan
    m2 = state[3] if state[3] > 0.0 else 0.0
    return state[2], np.sqrt(m2 / n)


@njit(cache=True, nogil=True)
def zscore_score_push(buf, state, x, z_clip, warm):
    """Score ``x`` against the current window, then push it winsorised at ``z_clip`` (one call).

    The fused per-tick form of ``zscore_mean_std`` + scoring + ``zscore_update``: the mean and
    std are those of the window *before* ``x`` joins it. When ``warm`` and std > 1e-12,
    ``z = (x - mean) / std``, and if ``|z| > z_clip`` the value pushed is clipped to
    ``mean +- z_clip * std`` (so a dislocation moves z, not the mean it is measured against);
    otherwise ``z = 0.0`` and ``x`` is pushed as it is. A non-finite pushed value is rejected by
    ``zscore_update`` (the window is unchanged).

    Args:
        buf: float64[window] ring buffer; updated in place.
        state: float64[4] ``[count, head, mean, m2]``; updated in place.
        x: New sample, in the series' units.
        z_clip: Winsorisation threshold in std units (>= 0).
        warm: Whether the caller trusts the window enough to score against it.

    Returns:
        tuple: ``(z, mean, std)`` as float64: the z-score of ``x`` (dimensionless) and the mean
        and population std of the window before the push (``(nan, nan)`` when it was empty).
    """
    n = state[0]
    if n < 1.0:
        mean = np.nan
        std = np.nan
    else:
        m2 = state[3] if state[3] > 0.0 else 0.0
        mean = state[2]
        std = np.sqrt(m2 / n)
    scored = warm and std > 1e-12
    z = (x - mean) / std if scored else 0.0
    push = x
    if scored and abs(z) > z_clip:
        push = mean + (z_clip if z > 0 else -z_clip) * std
    zscore_update(buf, state, push)
    return z, mean, std
