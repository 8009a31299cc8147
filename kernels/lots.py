"""Lot-sizing kernels: match quantities across contracts with different lot sizes.

"Base units" are the common physical unit both contracts deliver (grams of gold, barrels,
tonnes...); ``base_per_lot_*`` is how many base units one lot of a contract represents, e.g.
SHFE au = 1000 g/lot, COMEX GC = 100 troy oz = 3110.34768 g/lot.

Both kernels use a small tie tolerance (documented on each) so that float noise
(``3 * 0.1 != 0.3``) does not decide between candidates that are equally good in exact
arithmetic.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _pair_better(abs_res, total, lots_a, best_abs, best_total, best_a, tol):
    """Whether a candidate pair beats the incumbent (used only in the second pass).

    Ranking: residual within ``tol`` of the minimum is a tie; ties go to the larger total
    lot count, then to the larger ``lots_a``.
    """
    if abs_res > best_abs + tol:
        return False
    if total != best_total:
        return total > best_total
    return lots_a > best_a


@njit(cache=True, nogil=True)
def _floor_lots(ratio_lots, max_lots):
    """``floor(ratio_lots)`` as int64, capped at ``max_lots`` before the cast (no overflow)."""
    t = np.floor(ratio_lots)
    if t > max_lots:
        return max_lots
    return int(t)


@njit(cache=True, nogil=True)
def best_lot_pair(base_per_lot_a, base_per_lot_b, max_lots_a, max_lots_b):
    """Integer lot pair whose quantities in base units match most closely.

    Chooses ``lots_a`` in ``[1, max_lots_a]`` and ``lots_b`` in ``[1, max_lots_b]`` that
    minimise ``|lots_a * base_per_lot_a - lots_b * base_per_lot_b|``. Among pairs whose
    residual is within ``1e-9 * max(base_per_lot_a, base_per_lot_b)`` base units of the
    minimum (a tie tolerance against float noise), the one with
    the larger ``lots_a + lots_b`` wins, then the larger ``lots_a``. Runs in
    O(max_lots_a): for each ``lots_a`` only the two ``lots_b`` nearest the ideal ratio
    (clamped to the allowed range) can be optimal.

    Example: ``best_lot_pair(1000.0, 3110.34768, 30, 30)`` (SHFE au vs COMEX GC, grams)
    returns ``(28, 9, 6.87088)``.

    Args:
        base_per_lot_a: Base units per lot of contract A (> 0).
        base_per_lot_b: Base units per lot of contract B (> 0).
        max_lots_a: Largest allowed lot count for A (>= 1).
        max_lots_b: Largest allowed lot count for B (>= 1).

    Returns:
        tuple: ``(lots_a, lots_b, residual_base)`` with int64 lot counts and the signed
        float64 residual ``lots_a * base_per_lot_a - lots_b * base_per_lot_b`` in base units.

    Raises:
        ValueError: If a lot size is not a positive finite number or a maximum is < 1.
    """
    if not (np.isfinite(base_per_lot_a) and np.isfinite(base_per_lot_b)):
        raise ValueError("best_lot_pair: lot sizes must be finite")
    if base_per_lot_a <= 0.0 or base_per_lot_b <= 0.0:
        raise ValueError("best_lot_pair: lot sizes must be > 0")
    if max_lots_a < 1 or max_lots_b < 1:
        raise ValueError("best_lot_pair: max lots must be >= 1")
    tol = 1e-9 * max(base_per_lot_a, base_per_lot_b)
    # Pass 1: the minimum absolute residual.
    best_abs = np.inf
    for a in range(1, max_lots_a + 1):
        qty_a = a * base_per_lot_a
        b_lo = _floor_lots(qty_a / base_per_lot_b, max_lots_b)
        for b in (b_lo, b_lo + 1):
            b_c = min(max(b, 1), max_lots_b)
            res = abs(qty_a - b_c * base_per_lot_b)
            if res < best_abs:
                best_abs = res
    # Pass 2: among near-minimal pairs, most lots, then most lots_a.
    best_a = 0
    best_b = 0
    best_total = -1
    for a in range(1, max_lots_a + 1):
        qty_a = a * base_per_lot_a
        b_lo = _floor_lots(qty_a / base_per_lot_b, max_lots_b)
        for b in (b_lo, b_lo + 1):
            b_c = min(max(b, 1), max_lots_b)
            res = abs(qty_a - b_c * base_per_lot_b)
            if _pair_better(res, a + b_c, a, best_abs, best_total, best_a, tol):
                best_a = a
                best_b = b_c
                best_total = a + b_c
    return best_a, best_b, best_a * base_per_lot_a - best_b * base_per_lot_b
