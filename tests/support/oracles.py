"""Reference implementations the tests check the hot path against (moved out of ``kernels``).

The strategy prices inline in Python (``actors.strategy.strategy``: parity, and the clip walk
``actors.strategy.legs.walk_levels`` with its best-level shortcut) because a Numba call costs
more than the arithmetic: measured on the tick-to-trade floor (``cmc bench tick-to-trade``'s
direct-call pipeline, 5 interleaved runs each), p50 31.9 µs inline vs 35.5 µs with these
kernels (parity, and ``walk_book`` on arrays made from a ``BookUpdate``'s lists), and 31.3 vs
31.8 µs with the parity kernel alone. Nothing in the engine calls them; the tests use them as
oracles (``tests/actors/strategy/test_strategy.py`` rebuilds every decision and price with them and
requires bit-identical results) and check their own numerics (``tests/kernels``).
"""

import numpy as np
from numba import njit

from kernels.stats import zscore_init, zscore_update

# --- pricing (was kernels.pricing) ---------------------------------------------------------------


@njit(cache=True, nogil=True)
def parity(p_ext, fx, unit_factor, import_tax, premium):
    """Price of an external (foreign) contract restated in the local market's terms.

    ``parity = p_ext * fx * unit_factor * (1 + import_tax) + premium``.

    Example: SHFE gold (CNY/g) vs COMEX gold (USD/troy oz) is
    ``parity(p_gc_usd_per_oz, usdcnh, 1 / 31.1034768, 0.0, 0.0)`` in CNY per gram.

    Args:
        p_ext: External price, in external currency per external unit (e.g. USD/oz).
        fx: Exchange rate, local currency per one unit of external currency (e.g. CNY/USD).
        unit_factor: External units per local unit (e.g. oz per gram = 1/31.1034768).
        import_tax: Ad-valorem tax/duty as a decimal fraction (0.13 for 13 %).
        premium: Additive premium (freight, insurance, location), in local currency per
            local unit.

    Returns:
        float64: Parity price in local currency per local unit.
    """
    return p_ext * fx * unit_factor * (1.0 + import_tax) + premium


@njit(cache=True, nogil=True)
def spread(p_a, parity_b):
    """Price difference between leg A and leg B's parity, ``p_a - parity_b``.

    Args:
        p_a: Leg A price, in local currency per local unit.
        parity_b: Leg B parity (see ``parity``), in the same units as ``p_a``.

    Returns:
        float64: Spread in the same units; swapping the legs flips its sign.
    """
    return p_a - parity_b


@njit(cache=True, nogil=True)
def ratio(p_a, parity_b):
    """Price ratio between leg A and leg B's parity, ``p_a / parity_b``.

    Args:
        p_a: Leg A price, in local currency per local unit.
        parity_b: Leg B parity, in the same units as ``p_a``.

    Returns:
        float64: Dimensionless ratio; NaN when ``parity_b == 0`` (never raises).
    """
    if parity_b == 0.0:
        return np.nan
    return p_a / parity_b


@njit(cache=True, nogil=True)
def basis(f, s, r, dt_days, d):
    """Futures basis against the carried spot, ``f - s * (1 + r * dt_days / 365) + d``.

    Simple (non-compounded) carry on an ACT/365 basis; zero when the future trades at fair
    value under cost of carry with income ``d``.

    Args:
        f: Futures price, in currency per unit.
        s: Spot price, in the same units as ``f``.
        r: Annual financing rate as a decimal fraction (0.05 for 5 %), ACT/365.
        dt_days: Time to delivery, in calendar days.
        d: Income over the period (dividends, lease) net of storage, in the units of ``f``.

    Returns:
        float64: Basis in the units of ``f``.
    """
    return f - s * (1.0 + r * dt_days / 365.0) + d


# --- the book walk (was kernels.book.walk_book) --------------------------------------------------


@njit(cache=True, nogil=True)
def walk_book(px_ticks, qty_lots, n, clip_lots):
    """Executable average price for a clip taken against one side, best level first.

    Args:
        px_ticks: int64[depth] prices in ticks, best first.
        qty_lots: int64[depth] quantities in lots. Non-positive quantities are skipped.
        n: Live level count (a scalar, e.g. ``n_arr[0]``); clamped to ``[0, depth]``.
        clip_lots: Quantity to trade, in lots.

    Returns:
        tuple: ``(vwap_ticks, filled_lots, worst_px_ticks)`` where ``vwap_ticks`` (float64)
        is the volume-weighted average price in ticks over what was filled,
        ``filled_lots`` (int64) is ``min(clip_lots, liquidity)`` — less than ``clip_lots``
        when the side is too thin — and ``worst_px_ticks`` (int64) is the price of the last
        (worst) level touched. Returns ``(0.0, 0, 0)`` when nothing fills (empty side or
        ``clip_lots <= 0``).
    """
    live = min(max(n, 0), px_ticks.shape[0])
    remaining = clip_lots
    filled = 0
    notional = 0.0
    worst = 0
    i = 0
    while i < live and remaining > 0:
        q = qty_lots[i]
        if q > 0:
            take = q if q < remaining else remaining
            notional += float(take) * float(px_ticks[i])
            filled += take
            remaining -= take
            worst = px_ticks[i]
        i += 1
    if filled <= 0:
        return 0.0, 0, 0
    return notional / filled, filled, worst


# --- hedge sizing (was kernels.lots.hedge_lots) --------------------------------------------------


@njit(cache=True, nogil=True)
def hedge_lots(filled_lots_src, base_per_lot_src, base_per_lot_dst):
    """Destination lots that best hedge a fill on the source contract.

    ``lots_dst`` is ``filled_lots_src * base_per_lot_src / base_per_lot_dst`` rounded to the
    nearest integer, with exact halves rounded away from zero (2.5 -> 3, -2.5 -> -3; not
    banker's rounding). A fractional part within 1e-9 of one half counts as a half, so float
    noise (``3 * 0.1 / 0.2 == 1.4999999999999998``) rounds like the exact value. The sign
    follows ``filled_lots_src`` (signed fills give signed hedges).

    Args:
        filled_lots_src: Filled quantity on the source contract, in source lots (signed).
        base_per_lot_src: Base units per source lot (> 0).
        base_per_lot_dst: Base units per destination lot (> 0).

    Returns:
        tuple: ``(lots_dst, residual_base)``: int64 destination lots (same sign as the fill,
        or 0) and the signed float64 residual ``src_qty - dst_qty`` in base units, i.e.
        ``filled_lots_src * base_per_lot_src - lots_dst * base_per_lot_dst``. Its magnitude
        is at most half a destination lot.

    Raises:
        ValueError: If a lot size is not a positive finite number.
    """
    if not (np.isfinite(base_per_lot_src) and np.isfinite(base_per_lot_dst)):
        raise ValueError("hedge_lots: lot sizes must be finite")
    if base_per_lot_src <= 0.0 or base_per_lot_dst <= 0.0:
        raise ValueError("hedge_lots: lot sizes must be > 0")
    src_qty = filled_lots_src * base_per_lot_src
    target = src_qty / base_per_lot_dst
    mag = abs(target)
    whole = np.floor(mag)
    if mag - whole >= 0.5 - 1e-9:
        whole += 1.0
    lots = int(whole)
    if target < 0.0:
        lots = -lots
    return lots, src_qty - lots * base_per_lot_dst


# --- batch z-score (was kernels.stats.zscore_series) ---------------------------------------------


@njit(cache=True, nogil=True)
def zscore_series(xs, window):
    """Rolling z-score of a whole series (batch form for tests and replay).

    Identical, element for element, to ``zscore_init`` followed by ``zscore_update`` on each
    sample in order (it is implemented that way).

    Args:
        xs: float64[m] samples, in the series' units.
        window: Window length in samples, >= 1.

    Returns:
        float64[m]: The z-score returned after each push (dimensionless).

    Raises:
        ValueError: If ``window < 1``.
    """
    if window < 1:
        raise ValueError("zscore_series: window must be >= 1")
    buf = np.zeros(window, dtype=np.float64)
    state = np.zeros(4, dtype=np.float64)
    zscore_init(buf, state)
    out = np.empty(xs.shape[0], dtype=np.float64)
    for i in range(xs.shape[0]):
        out[i] = zscore_update(buf, state, xs[i])
    return out


__all__ = ["basis", "hedge_lots", "parity", "ratio", "spread", "walk_book", "zscore_series"]
