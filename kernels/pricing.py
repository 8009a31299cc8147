"""Cross-market pricing kernels: parity, spread, ratio and cash-futures basis.

All functions take and return float64 scalars (pass floats: an int argument makes Numba
compile a separate specialisation on first use). Units are the caller's; each docstring says
how they must line up.
"""

import numpy as np
from numba import njit


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
