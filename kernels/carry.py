"""Cash-and-carry (期现) kernels: the fair future, the executable edges and the cost bound, all in
basis points of the spot, and the rolling mean of a leg's bid-ask spread (its expected impact).

Fair future ``F* = S x (1 + r x days / 365) - D``: ``S`` the spot in the future's price units,
``r`` the annual financing rate (fraction), ``days`` calendar days to expiry, ``D`` the expected
dividends (income) to expiry in the future's points. Prices here are floats in the future's
units (the caller converts ticks, the spot's unit factor and FX first).

- positive carry (the future rich: sell F, buy S) pays ``bid_F - F*(ask_S)``;
- reverse carry (the future cheap: buy F, sell S) pays ``F*(bid_S) - ask_F``;
- the cost bound: round-trip fees of both legs, the expected impact (each leg's average
  bid-ask spread: half at the entry, half at the exit), financing for the days held.

``BasisCore`` calls ``carry_eval`` once per evaluated tick and ``roll_mean_push`` once per book
update of a leg; ``warm()`` compiles both (and ``carry_fair``) with the argument types it
passes. ``expiry_ns`` (plain Python) is the one convention of when a contract expires, shared
by the strategy and the simulator's basis model.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
from numba import njit

NS_PER_DAY = 86_400_000_000_000
BPS = 1e4


def expiry_ns(expiry: str) -> int:
    """The instant a contract with last trading day ``expiry`` ("YYYY-MM-DD") expires: the end
    of that day, 00:00 UTC of the next, in Unix-epoch ns."""
    d = date.fromisoformat(expiry)
    start = datetime(d.year, d.month, d.day, tzinfo=timezone.utc)  # noqa: UP017
    return int(start.timestamp()) * 1_000_000_000 + NS_PER_DAY


@njit(cache=True, nogil=True)
def carry_fair(spot, rate, days, dividends):
    """The fair future ``spot x (1 + rate x days / 365) - dividends`` (the future's units)."""
    return spot * (1.0 + rate * days / 365.0) - dividends


@njit(cache=True, nogil=True)
def carry_eval(bid_f, ask_f, bid_s, ask_s, rate, days, dividends, fee_pts, spread_f,
               spread_s, financing_bps_per_day, hold_days):
    """One evaluation of a cash-and-carry pair, every price in the future's units.

    Args:
        bid_f, ask_f: the future's executable prices for the clip (VWAPs).
        bid_s, ask_s: the spot's executable prices for the clip, in the future's units.
        rate, days, dividends: the carry (``carry_fair``).
        fee_pts: one-way fees of both legs for the clip, per unit of the future's price.
        spread_f, spread_s: each leg's expected bid-ask spread (its rolling mean), same units.
        financing_bps_per_day, hold_days: the financing charged for the days held.

    Returns:
        ``(rich_bps, cheap_bps, dev_bps, cost_bps)``: the executable edge of positive carry
        (sell F at ``bid_f``, buy S at ``ask_s``) and of reverse carry (buy F, sell S), each in
        bps of the spot it trades; the mid basis against fair (``mid_f - F*(mid_s)``, bps of
        the mid spot, > 0 = the future rich); and the cost estimate of a round trip in bps of
        the mid spot (fees in and out, the spreads, financing). A spot <= 0 gives all zeros.
    """
    mid_s = 0.5 * (bid_s + ask_s)
    if bid_s <= 0.0 or ask_s <= 0.0:
        return 0.0, 0.0, 0.0, 0.0
    k = 1.0 + rate * days / 365.0
    rich = (bid_f - (ask_s * k - dividends)) / ask_s * BPS
    cheap = ((bid_s * k - dividends) - ask_f) / bid_s * BPS
    dev = (0.5 * (bid_f + ask_f) - (mid_s * k - dividends)) / mid_s * BPS
    cost = (2.0 * fee_pts + spread_f + spread_s) / mid_s * BPS + financing_bps_per_day * hold_days
    return rich, cheap, dev, cost


@njit(cache=True, nogil=True)
def roll_mean_push(buf, state, x):
    """Push ``x`` into the rolling window ``buf`` and return the window's mean.

    ``state`` (float64[3], zeros to start): count, next slot, running sum. The sum is updated
    by the value leaving and the one entering; with integer samples (spreads in ticks) it is
    exact, so the mean never drifts however long it runs."""
    n = buf.shape[0]
    i = int(state[1])
    if state[0] < n:
        state[0] += 1.0
    else:
        state[2] -= buf[i]
    buf[i] = x
    state[2] += x
    state[1] = (i + 1) % n
    return state[2] / state[0]


def warm() -> int:
    """Compile (or load from the cache) the carry kernels with the argument types
    ``BasisCore`` passes (Python floats; float64 arrays and a Python float for the rolling
    mean); return how many kernels were warmed."""
    carry_fair(4000.0, 0.02, 30.0, 1.0)
    carry_eval(4010.0, 4010.2, 3999.0, 4000.0, 0.02, 30.0, 1.0, 0.1, 0.2, 1.0, 0.0, 1.0)
    buf = np.zeros(2, np.float64)
    state = np.zeros(3, np.float64)
    roll_mean_push(buf, state, 1.0)
    return 3


__all__ = ["NS_PER_DAY", "carry_eval", "carry_fair", "expiry_ns", "roll_mean_push", "warm"]
