"""L2 order-book side kernels.

One side of a book lives in two caller-owned, preallocated arrays of equal length ``depth``:
``px_ticks: int64[depth]`` (prices in integer ticks) and ``qty_lots: int64[depth]`` (resting
quantity in lots), best level first. Bids are sorted by strictly descending price, asks by
strictly ascending price, and there is at most one level per price. The number of live levels
``n`` is kept by the caller in an ``int64[1]`` array (``n_arr``) so the mutating kernels can
update it in place; only ``px_ticks[:n]`` / ``qty_lots[:n]`` are meaningful, slots past ``n``
hold stale data.

The side is passed as ``is_bid`` (bool or int; truthy means bid). Nothing here allocates but
``book_apply_packed`` (the levels it reads, once per call).

A whole two-sided book can also live in one ``levels: int64[4, depth]`` array (rows: bid prices,
bid quantities, ask prices, ask quantities) with ``n: int64[2]`` (live bid and ask counts);
``book_update_level`` works on that layout, one Numba call per changed level, and its rows are
ordinary sides for the kernels above (``levels[0], levels[1], n[0:1]`` is the bid side).
``book_apply_levels`` applies a whole delta (or snapshot) of many levels to that layout in one
call: validated first, then applied, then checked for a crossed book; ``book_update_checked``
does the same for one level without an array (the live feed's usual one-level delta), and
``book_apply_packed`` for a delta handed over as the msgpack bytes of its ``(bids, asks)``
(encoding the levels is cheaper than building an int64 array of them from Python).
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _is_better(is_bid, a_ticks, b_ticks):
    """Whether price ``a_ticks`` ranks strictly ahead of ``b_ticks`` on the given side.

    Args:
        is_bid: Truthy for the bid side (higher is better), falsy for asks (lower is better).
        a_ticks: Price in ticks.
        b_ticks: Price in ticks.

    Returns:
        bool: True if ``a_ticks`` is strictly better than ``b_ticks``.
    """
    if is_bid:
        return a_ticks > b_ticks
    return a_ticks < b_ticks


@njit(cache=True, nogil=True)
def book_set_level(px_ticks, qty_lots, n_arr, is_bid, price_ticks, qty):
    """Set the absolute resting quantity at one price on one side, in place.

    A non-positive ``qty`` deletes the level (``qty == 0`` is the normal delete; a negative
    quantity cannot rest on a book and is treated the same way). A new price is inserted at
    its sorted position. When the arrays are full, a new level worse than every live level is
    dropped (no change); a better one is inserted and the worst level falls off the end.

    Args:
        px_ticks: int64[depth] prices in ticks, best first; modified in place.
        qty_lots: int64[depth] quantities in lots, aligned with ``px_ticks``; modified in place.
        n_arr: int64[1] holding the live level count ``n``; updated in place.
        is_bid: Truthy for the bid side (descending prices), falsy for asks (ascending).
        price_ticks: Price of the level, in ticks.
        qty: New absolute quantity at that price, in lots (<= 0 deletes).

    Returns:
        int64: 1 if the live levels changed, 0 otherwise (same quantity re-sent, delete of an
        absent price, or an insert that fell off a full book).
    """
    depth = px_ticks.shape[0]
    n = min(max(n_arr[0], 0), depth)
    # First position whose price is not strictly better than the new one.
    pos = 0
    while pos < n and _is_better(is_bid, px_ticks[pos], price_ticks):
        pos += 1
    found = pos < n and px_ticks[pos] == price_ticks

    if qty <= 0:
        if not found:
            return 0
        for i in range(pos, n - 1):
            px_ticks[i] = px_ticks[i + 1]
            qty_lots[i] = qty_lots[i + 1]
        n_arr[0] = n - 1
        return 1

    if found:
        if qty_lots[pos] == qty:
            return 0
        qty_lots[pos] = qty
        return 1

    if pos >= depth:
        # Full and worse than every live level (or a zero-depth book): dropped.
        return 0
    last = n if n < depth else depth - 1  # when full, the worst level falls off
    for i in range(last, pos, -1):
        px_ticks[i] = px_ticks[i - 1]
        qty_lots[i] = qty_lots[i - 1]
    px_ticks[pos] = price_ticks
    qty_lots[pos] = qty
    if n < depth:
        n_arr[0] = n + 1
    return 1


@njit(cache=True, nogil=True)
def book_clear(n_arr):
    """Empty a book side by setting its live level count to zero.

    Args:
        n_arr: int64[1] holding the live level count; set to 0 in place. The price and
            quantity arrays are left as they are (their contents past ``n`` are ignored).
    """
    n_arr[0] = 0


@njit(cache=True, nogil=True)
def book_apply(px_ticks, qty_lots, n_arr, is_bid, levels):
    """Apply a batch of absolute level updates to one side, in row order.

    Args:
        px_ticks: int64[depth] prices in ticks, best first; modified in place.
        qty_lots: int64[depth] quantities in lots; modified in place.
        n_arr: int64[1] live level count; updated in place.
        is_bid: Truthy for the bid side, falsy for asks.
        levels: int64[k, 2] rows of (price in ticks, absolute quantity in lots); a quantity
            <= 0 deletes that price. Each row goes through ``book_set_level``.

    Returns:
        int64: Number of rows that changed the book.
    """
    changed = 0
    for k in range(levels.shape[0]):
        changed += book_set_level(px_ticks, qty_lots, n_arr, is_bid, levels[k, 0], levels[k, 1])
    return changed


@njit(cache=True, nogil=True)
def book_crossed(bid_px, bid_n, ask_px, ask_n):
    """Whether the book is crossed or locked.

    Args:
        bid_px: int64[depth] bid prices in ticks, best (highest) first.
        bid_n: Live bid level count (a scalar, e.g. ``bid_n_arr[0]``).
        ask_px: int64[depth] ask prices in ticks, best (lowest) first.
        ask_n: Live ask level count (a scalar).

    Returns:
        bool: True if both sides have at least one level and best bid >= best ask in ticks
        (a locked book counts as crossed); False otherwise.
    """
    if bid_n <= 0 or ask_n <= 0 or bid_px.shape[0] == 0 or ask_px.shape[0] == 0:
        return False
    return bid_px[0] >= ask_px[0]


@njit(cache=True, nogil=True)
def book_update_level(levels, n, side, price_ticks, qty):
    """Set one level of a two-sided book in place and report whether it is now crossed.

    ``book_set_level`` on row pair ``2 * side`` / ``2 * side + 1`` of ``levels`` and live count
    ``n[side]``, then ``book_crossed`` on the result: the per-level form a market-data delta of
    one or two changed levels needs, in one call and without building an array of levels.

    Args:
        levels: int64[4, depth] rows (bid prices, bid quantities, ask prices, ask quantities),
            best first on each side; modified in place.
        n: int64[2] live level counts (bids, asks); updated in place.
        side: 0 for the bid side, 1 for the ask side.
        price_ticks: Price of the level, in ticks.
        qty: New absolute quantity at that price, in lots (<= 0 deletes).

    Returns:
        tuple: ``(crossed, n_bid, n_ask)``: whether the book is crossed or locked after the
        update (as ``book_crossed``), and the live level counts.
    """
    r = 2 * side
    book_set_level(levels[r], levels[r + 1], n[side : side + 1], side == 0, price_ticks, qty)
    nb = n[0]
    na = n[1]
    return nb > 0 and na > 0 and levels[0, 0] >= levels[2, 0], nb, na


#: ``book_apply_levels`` status: every level applied, the book is not crossed
APPLY_OK = 0
#: ``book_apply_levels`` status: a level had a bad value; nothing was applied
APPLY_BAD_VALUE = 1
#: ``book_apply_levels`` status: every level applied and the book is now crossed or locked
APPLY_CROSSED = 2


@njit(cache=True, nogil=True)
def _set_values_checked(levels, n, flat, n_bid_values, n_values):
    """Set the validated (price, quantity) pairs ``flat[:n_values]`` in place, bids (the first
    ``n_bid_values`` values) then asks, each as ``book_set_level``; then the crossed check.
    The shared tail of ``book_apply_levels`` and ``book_apply_packed``: returns ``(status,
    n_bid, n_ask)`` with ``APPLY_OK`` or ``APPLY_CROSSED``."""
    # the rows and counts as views made once (a view per level costs more than the level)
    bid_px = levels[0]
    bid_qty = levels[1]
    ask_px = levels[2]
    ask_qty = levels[3]
    bid_n = n[0:1]
    ask_n = n[1:2]
    for i in range(0, n_bid_values, 2):
        book_set_level(bid_px, bid_qty, bid_n, True, flat[i], flat[i + 1])
    for i in range(n_bid_values, n_values, 2):
        book_set_level(ask_px, ask_qty, ask_n, False, flat[i], flat[i + 1])
    nb = n[0]
    na = n[1]
    if nb > 0 and na > 0 and levels[0, 0] >= levels[2, 0]:
        return APPLY_CROSSED, nb, na
    return APPLY_OK, nb, na


@njit(cache=True, nogil=True)
def book_apply_levels(levels, n, flat, n_bid_levels, max_qty_lots):
    """Apply a many-level delta to a two-sided book in one call: validate, apply, check.

    Every level is validated before any is applied, so a frame with one bad level changes
    nothing. Then the bid levels and the ask levels are applied in order (``book_set_level``
    each, as a chain of ``book_update_level`` calls would) and the result is checked for a
    crossed or locked book (as ``book_crossed``).

    Args:
        levels: int64[4, depth] rows (bid prices, bid quantities, ask prices, ask quantities),
            best first on each side; modified in place unless a level is bad.
        n: int64[2] live level counts (bids, asks); updated in place.
        flat: int64[2 * k] the delta's levels as (price in ticks, absolute quantity in lots)
            pairs, bids first, then asks; a quantity of 0 deletes that price.
        n_bid_levels: How many of the ``k`` pairs are bid levels (the rest are asks).
        max_qty_lots: Largest believable quantity per level; above it the level is bad.

    Returns:
        tuple: ``(status, n_bid, n_ask)``: ``APPLY_OK``, ``APPLY_BAD_VALUE`` (a price <= 0, a
        quantity < 0 or > ``max_qty_lots``: nothing applied) or ``APPLY_CROSSED``, and the
        live level counts after.
    """
    k = flat.shape[0] // 2
    for i in range(k):
        px = flat[2 * i]
        qty = flat[2 * i + 1]
        if px <= 0 or qty < 0 or qty > max_qty_lots:
            return APPLY_BAD_VALUE, n[0], n[1]
    # level i is a bid while i < n_bid_levels (any value of it: all bids, or none)
    return _set_values_checked(levels, n, flat, 2 * max(0, min(n_bid_levels, k)), 2 * k)


@njit(cache=True, nogil=True)
def book_update_checked(levels, n, side, price_ticks, qty, max_qty_lots):
    """Validate one level, set it in place and check the book: a one-level delta in one call.

    What ``book_apply_levels`` does for a single level, without building an array: a level
    with a bad value changes nothing; otherwise it is set (as ``book_update_level``) and the
    result is checked for a crossed or locked book.

    Args:
        levels: int64[4, depth] rows (bid prices, bid quantities, ask prices, ask quantities),
            best first on each side; modified in place unless the level is bad.
        n: int64[2] live level counts (bids, asks); updated in place.
        side: 0 for the bid side, 1 for the ask side.
        price_ticks: Price of the level, in ticks.
        qty: New absolute quantity at that price, in lots (0 deletes).
        max_qty_lots: Largest believable quantity per level; above it the level is bad.

    Returns:
        tuple: ``(status, n_bid, n_ask)``: ``APPLY_OK``, ``APPLY_BAD_VALUE`` (a price <= 0, a
        quantity < 0 or > ``max_qty_lots``: nothing applied) or ``APPLY_CROSSED``, and the
        live level counts after.
    """
    if price_ticks <= 0 or qty < 0 or qty > max_qty_lots:
        return APPLY_BAD_VALUE, n[0], n[1]
    r = 2 * side
    book_set_level(levels[r], levels[r + 1], n[side : side + 1], side == 0, price_ticks, qty)
    nb = n[0]
    na = n[1]
    if nb > 0 and na > 0 and levels[0, 0] >= levels[2, 0]:
        return APPLY_CROSSED, nb, na
    return APPLY_OK, nb, na


#: ``book_apply_packed`` status: the bytes are not the msgpack of ``(bids, asks)`` with int64
#: levels (another type, a value past int64, malformed); nothing was read into the book
APPLY_UNREAD = 3


@njit(cache=True, nogil=True)
def _mp_array_len(buf, pos):
    """The length of the msgpack array header at ``buf[pos]`` and the position after it;
    ``(0, -1)`` if there is no array header there. (Every byte is read as an int64: numba
    keeps a byte unsigned, and unifies signed with unsigned as a float.)"""
    end = len(buf)
    if pos >= end:
        return 0, -1
    b = np.int64(buf[pos])
    if 0x90 <= b <= 0x9F:
        return b - 0x90, pos + 1
    if b == 0xDC and pos + 3 <= end:
        return (np.int64(buf[pos + 1]) << 8) | np.int64(buf[pos + 2]), pos + 3
    if b == 0xDD and pos + 5 <= end:
        v = 0
        for i in range(1, 5):
            v = (v << 8) | np.int64(buf[pos + i])
        return v, pos + 5
    return 0, -1


@njit(cache=True, nogil=True)
def _mp_int(buf, pos):
    """The msgpack integer at ``buf[pos]`` as an int64 and the position after it; ``(0, -1)``
    if it is not an integer, or an unsigned one past int64."""
    end = len(buf)
    if pos >= end:
        return 0, -1
    b = np.int64(buf[pos])
    if b <= 0x7F:  # positive fixint
        return b, pos + 1
    if b >= 0xE0:  # negative fixint
        return b - 256, pos + 1
    # uint8..64 (0xcc..0xcf), int8..64 (0xd0..0xd3): big-endian, 1 << (b & 3) bytes
    if 0xCC <= b <= 0xD3:
        size = 1 << (b & 3)
        if pos + 1 + size > end or (b == 0xCF and np.int64(buf[pos + 1]) >= 0x80):
            return 0, -1
        v = 0
        for i in range(1, size + 1):
            v = (v << 8) | np.int64(buf[pos + i])
        if b >= 0xD0 and size < 8 and v >= 1 << (8 * size - 1):
            v -= 1 << (8 * size)  # a negative signed value (int64's wraps by itself)
        return v, pos + 1 + size
    return 0, -1


@njit(cache=True, nogil=True)
def book_apply_packed(levels, n, packed, max_qty_lots):
    """``book_apply_levels`` of a delta given as ``msgpack((bids, asks))``: validate, apply, check.

    The same rules and results as ``book_apply_levels`` (every level validated before any is
    applied; bids then asks in order; the crossed check), read from the bytes instead of an
    int64 array. Every level is read before anything is applied, so bytes that are not exactly
    two arrays of ``[price, quantity]`` int64 pairs change nothing and say ``APPLY_UNREAD``:
    the caller then takes ``book_apply_levels``' path, whatever that does with such a delta.

    Args:
        levels: int64[4, depth] rows (bid prices, bid quantities, ask prices, ask quantities),
            best first on each side; modified in place unless a level is bad or unread.
        n: int64[2] live level counts (bids, asks); updated in place.
        packed: bytes (or uint8[:]): msgpack of ``(bids, asks)``, each a sequence of
            (price in ticks, absolute quantity in lots) pairs; a quantity of 0 deletes.
        max_qty_lots: Largest believable quantity per level; above it the level is bad.

    Returns:
        tuple: ``(status, n_bid, n_ask)``: ``APPLY_OK``, ``APPLY_BAD_VALUE`` (nothing applied),
        ``APPLY_CROSSED`` or ``APPLY_UNREAD`` (nothing applied), and the live level counts.
    """
    sides, pos = _mp_array_len(packed, 0)
    if sides != 2:
        return APPLY_UNREAD, n[0], n[1]
    # every level read (and validated) once, into pairs; a level takes at least 3 bytes, so
    # the bytes' length bounds the count
    flat = np.empty(len(packed), np.int64)
    m = 0
    n_bid_values = 0
    bad = False
    for side in range(2):
        k, pos = _mp_array_len(packed, pos)
        if pos < 0:
            return APPLY_UNREAD, n[0], n[1]
        for _ in range(k):
            pair, pos = _mp_array_len(packed, pos)
            if pair != 2 or pos < 0:
                return APPLY_UNREAD, n[0], n[1]
            px, pos = _mp_int(packed, pos)
            if pos < 0:
                return APPLY_UNREAD, n[0], n[1]
            qty, pos = _mp_int(packed, pos)
            if pos < 0:
                return APPLY_UNREAD, n[0], n[1]
            if px <= 0 or qty < 0 or qty > max_qty_lots:
                bad = True  # still read the rest: an unreadable level outranks a bad one
            flat[m] = px
            flat[m + 1] = qty
            m += 2
        if side == 0:
            n_bid_values = m
    if pos != len(packed):
        return APPLY_UNREAD, n[0], n[1]
    if bad:
        return APPLY_BAD_VALUE, n[0], n[1]
    return _set_values_checked(levels, n, flat, n_bid_values, m)
