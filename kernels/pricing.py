"""Parity pricing kernels of the ratio trigger (``PairConfig.trigger = "ratio"``).

The ratio trigger compares leg A's price with leg B's parity (B restated in A's terms,
``actors.strategy.strategy``) as a ratio: ``r = P_A / parity(P_B)``. Its fair level is the
rolling mean of the mid ratio (a window the caller owns, the ``kernels.stats`` layout) or one
derived from a fixed ``fair_basis`` (``1 + fair_basis / parity(mid_B)``). A price's deviation
from fair is ``(r / r_fair - 1) * 1e4`` basis points; the money it stands for, per unit of A, is
``P_A - r_fair * parity(P_B)`` (what the edge gate compares with costs).

Per tick the strategy makes one ``ratio_push`` (the mid ratio into the window) and, for the side
it prices, one ``ratio_side``. Both allocate nothing and hold no global state. ``warm()``
compiles them with the argument types the strategy passes (float64 arrays, Python floats, a
Python bool).
"""

import numpy as np
from numba import njit

from kernels.stats import zscore_update


@njit(cache=True, nogil=True)
def ratio_push(buf, state, num, den, clip_bps, warm):
    """Push the mid ratio ``num / den`` into a rolling window and return it with the window's
    mean before the push.

    When ``warm`` and the window has a positive mean, the value pushed is winsorised to
    ``mean * (1 +- clip_bps / 1e4)`` so a dislocation moves the ratio, not the fair level it is
    measured against. A zero ``den`` gives a NaN ratio, which the window rejects (unchanged).

    Args:
        buf: float64[window] ring buffer (``kernels.stats`` layout); updated in place.
        state: float64[4] ``[count, head, mean, m2]``; updated in place.
        num: leg A's mid, in A's price units.
        den: the parity of leg B's mid, in A's price units.
        clip_bps: winsorisation band around the mean, in basis points (>= 0).
        warm: whether the window is trusted enough to clip against.

    Returns:
        tuple: ``(ratio, mean)`` as float64, dimensionless; ``mean`` is NaN while the window
        is empty.
    """
    ratio = num / den if den != 0.0 else np.nan
    mean = state[2] if state[0] >= 1.0 else np.nan
    push = ratio
    if warm and mean > 0.0 and np.isfinite(ratio):
        hi = mean * (1.0 + clip_bps * 1e-4)
        lo = mean * (1.0 - clip_bps * 1e-4)
        if push > hi:
            push = hi
        elif push < lo:
            push = lo
    zscore_update(buf, state, push)
    return ratio, mean


@njit(cache=True, nogil=True)
def ratio_side(px_a, parity_b, fair_ratio):
    """Deviation of ``px_a / parity_b`` from ``fair_ratio`` and the money it stands for.

    Args:
        px_a: leg A's (executable or mid) price, in A's price units.
        parity_b: leg B's price restated in A's units (parity).
        fair_ratio: the fair ratio (dimensionless, > 0).

    Returns:
        tuple: ``(dev_bps, edge)``: ``(px_a / parity_b / fair_ratio - 1) * 1e4`` (positive:
        A rich) and ``px_a - fair_ratio * parity_b`` in A's price units; ``(nan, nan)`` when
        ``parity_b`` or ``fair_ratio`` is not positive.
    """
    if not (parity_b > 0.0 and fair_ratio > 0.0):
        return np.nan, np.nan
    dev_bps = (px_a / parity_b / fair_ratio - 1.0) * 1e4
    return dev_bps, px_a - fair_ratio * parity_b


def warm() -> int:
    """Compile (or load from cache) this module's kernels with the strategy's argument types.

    Returns:
        int: the number of kernels warmed.
    """
    buf = np.zeros(3, dtype=np.float64)
    state = np.zeros(4, dtype=np.float64)
    ratio_push(buf, state, 101.0, 100.0, 10.0, False)
    ratio_push(buf, state, 101.0, 100.0, 10.0, True)
    ratio_side(101.0, 100.0, 1.0)
    return 2


__all__ = ["ratio_push", "ratio_side", "warm"]
