"""Pure Numba kernels for the hot path: L2 book sides, rolling z-score, lot sizing, and the
strategy kinds' pricing (``pricing``: the parity ratio; ``carry``: cash-and-carry fair value and
bounds; ``kalman``: the statistical pair's hedge ratio and half-life).

Only what the engine calls lives here. Parity, spread, ratio, basis, the book walk
(``walk_book``), ``hedge_lots`` and ``zscore_series`` moved to ``tests/support/oracles.py``:
the strategy prices inline in Python because a Numba call per price costs more than the
arithmetic (tick-to-trade floor p50 31.9 µs inline vs 35.5 µs through those kernels; the
numbers are in that module), and the tests check it against them bit for bit.
``pair_direct`` holds no kernel: it binds ``zscore_score_push``'s compiled specialisation for
the parity strategy's per-tick call (no per-call type dispatch; ``warm_up`` binds it).

Every kernel is ``@njit(cache=True, nogil=True)`` over numpy arrays and scalars, allocates
nothing on the per-tick path and holds no global state. Numba compiles one specialisation per
argument-type combination on first call; call ``warm_up()`` at start-up so that the canonical
combinations are compiled (or loaded from the on-disk cache) before trading. Canonical dtypes:
int64 arrays for book prices (ticks), quantities (lots) and counts; float64 scalars for prices
and lot sizes; Python/int64 ints for lot counts; ``is_bid`` as bool or int (both are warmed).
"""

import numpy as np

from kernels.book import (
    book_apply,
    book_apply_levels,
    book_apply_packed,
    book_clear,
    book_crossed,
    book_set_level,
    book_update_checked,
    book_update_level,
)
from kernels.lots import best_lot_pair
from kernels.stats import (
    zscore_init,
    zscore_mean_std,
    zscore_score_push,
    zscore_update,
)

__all__ = [
    "best_lot_pair",
    "book_apply",
    "book_apply_levels",
    "book_apply_packed",
    "book_clear",
    "book_crossed",
    "book_set_level",
    "book_update_checked",
    "book_update_level",
    "warm_up",
    "zscore_init",
    "zscore_mean_std",
    "zscore_score_push",
    "zscore_update",
]


def warm_up() -> int:
    """Compile (or load from cache) every kernel by calling it once on tiny inputs.

    Uses the canonical dtypes listed in the package docstring; ``book_set_level`` and
    ``book_apply`` are warmed with ``is_bid`` both as bool and as int. The per-tick kernels the
    actors call (``book_update_level`` from the Book, ``zscore_score_push`` from the Strategy)
    are warmed with exactly the Python argument types those callers pass (Python ``int`` side,
    price and quantity; Python ``float`` sample and clip, ``bool`` warm flag), so nothing
    compiles on the first tick.

    Returns:
        int: The number of distinct kernels warmed (each public kernel counts once).
    """
    warmed = 0

    px_ticks = np.zeros(4, dtype=np.int64)
    qty_lots = np.zeros(4, dtype=np.int64)
    ask_px_ticks = np.zeros(4, dtype=np.int64)
    ask_qty_lots = np.zeros(4, dtype=np.int64)
    n_arr = np.zeros(1, dtype=np.int64)
    ask_n_arr = np.zeros(1, dtype=np.int64)
    levels = np.array([[101, 2], [100, 3], [101, 0]], dtype=np.int64)

    book_set_level(px_ticks, qty_lots, n_arr, True, 100, 1)
    book_set_level(ask_px_ticks, ask_qty_lots, ask_n_arr, 0, 102, 1)
    warmed += 1
    book_apply(px_ticks, qty_lots, n_arr, True, levels)
    book_apply(ask_px_ticks, ask_qty_lots, ask_n_arr, 0, levels)
    warmed += 1
    book_crossed(px_ticks, n_arr[0], ask_px_ticks, ask_n_arr[0])
    warmed += 1
    book_clear(n_arr)
    book_clear(ask_n_arr)
    warmed += 1
    levels2 = np.zeros((4, 4), dtype=np.int64)
    n2 = np.zeros(2, dtype=np.int64)
    book_update_level(levels2, n2, 0, 100, 1)
    book_update_level(levels2, n2, 1, 102, 1)
    warmed += 1
    # the Book's many-level path (a whole delta or snapshot in one call)
    book_apply_levels(levels2, n2, np.array([99, 1, 103, 1], np.int64), 1, 10)
    warmed += 1
    # the Book's one-level delta (validated, applied, checked in one call)
    book_update_checked(levels2, n2, 0, 98, 1, 10)
    warmed += 1
    # the Book's many-level delta read from its msgpack bytes: ([(97, 1)], [(104, 1)])
    book_apply_packed(levels2, n2, b"\x92\x91\x92\x61\x01\x91\x92\x68\x01", 10)
    warmed += 1

    buf = np.zeros(3, dtype=np.float64)
    state = np.zeros(4, dtype=np.float64)
    zscore_init(buf, state)
    warmed += 1
    for x in (1.0, 2.0, 4.0, 8.0):
        zscore_update(buf, state, x)
    warmed += 1
    zscore_mean_std(buf, state)
    warmed += 1
    zscore_score_push(buf, state, 3.0, 2.0, True)
    zscore_score_push(buf, state, 5.0, 2.0, False)
    warmed += 1
    from kernels import pair_direct  # the strategy's entry of it, bound now (not counted)

    pair_direct.warm_entry()

    best_lot_pair(1000.0, 3110.34768, 3, 3)
    warmed += 1

    # the strategy kinds' kernels, each warmed by its module with its caller's argument types
    from kernels import carry, kalman, pricing

    warmed += pricing.warm() + carry.warm() + kalman.warm()
    return warmed
