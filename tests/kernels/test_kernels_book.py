"""Property tests for the L2 book kernels against dict/list reference models."""

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels import book_apply, book_clear, book_crossed, book_set_level, book_update_level
from kernels.book import (
    APPLY_BAD_VALUE,
    APPLY_CROSSED,
    APPLY_OK,
    APPLY_UNREAD,
    _mp_int,
    book_apply_levels,
    book_apply_packed,
)
from tests.support.oracles import walk_book

SETTINGS = settings(deadline=None, max_examples=200)

ops_st = st.lists(
    st.tuples(st.integers(90, 110), st.one_of(st.just(0), st.integers(-1, 6))),
    max_size=60,
)


@pytest.fixture(scope="module", autouse=True)
def _warm():
    kernels.warm_up()


def _ref_set(ref, depth, is_bid, price, qty):
    """Dict model: apply, then keep only the best ``depth`` prices. Returns changed flag."""
    before = dict(ref)
    if qty <= 0:
        ref.pop(price, None)
    else:
        ref[price] = qty
    keep = set(sorted(ref, reverse=is_bid)[:depth])
    for p in list(ref):
        if p not in keep:
            del ref[p]
    return int(ref != before)


def _assert_side_equals(px, qty, n_arr, ref, is_bid):
    n = int(n_arr[0])
    want_px = sorted(ref, reverse=is_bid)
    assert n == len(ref)
    assert px[:n].tolist() == want_px
    assert qty[:n].tolist() == [ref[p] for p in want_px]
    diffs = np.diff(px[:n])
    assert (diffs < 0).all() if is_bid else (diffs > 0).all()
    assert (qty[:n] > 0).all()


@SETTINGS
@given(depth=st.integers(1, 6), is_bid=st.booleans(), ops=ops_st)
def test_book_matches_dict_model(depth, is_bid, ops):
    px = np.zeros(depth, np.int64)
    qty = np.zeros(depth, np.int64)
    n_arr = np.zeros(1, np.int64)
    ref = {}
    for price, q in ops:
        want = _ref_set(ref, depth, is_bid, price, q)
        got = book_set_level(px, qty, n_arr, is_bid, price, q)
        assert got == want
        _assert_side_equals(px, qty, n_arr, ref, is_bid)


@SETTINGS
@given(depth=st.integers(1, 6), is_bid=st.booleans(), ops=ops_st, batch=ops_st)
def test_book_apply_equals_sequential_set_level(depth, is_bid, ops, batch):
    side_a = (np.zeros(depth, np.int64), np.zeros(depth, np.int64), np.zeros(1, np.int64))
    for price, q in ops:
        book_set_level(*side_a, is_bid, price, q)
    side_b = tuple(a.copy() for a in side_a)
    levels = np.array(batch, dtype=np.int64).reshape(-1, 2)
    changed = book_apply(*side_a, int(is_bid), levels)
    want = sum(book_set_level(*side_b, is_bid, int(p), int(q)) for p, q in levels)
    assert changed == want
    n = int(side_a[2][0])
    assert n == side_b[2][0]
    assert np.array_equal(side_a[0][:n], side_b[0][:n])
    assert np.array_equal(side_a[1][:n], side_b[1][:n])
    book_clear(side_a[2])
    assert side_a[2][0] == 0
    assert walk_book(side_a[0], side_a[1], side_a[2][0], 5) == (0.0, 0, 0)


def test_book_full_insert_rules():
    px, qty, n_arr = np.zeros(2, np.int64), np.zeros(2, np.int64), np.zeros(1, np.int64)
    assert book_apply(px, qty, n_arr, True, np.array([[100, 1], [99, 2]], np.int64)) == 2
    assert book_set_level(px, qty, n_arr, True, 98, 5) == 0  # full, worse than all: dropped
    assert book_set_level(px, qty, n_arr, True, 101, 5) == 1  # full, better: 99 falls off
    assert px.tolist() == [101, 100] and qty.tolist() == [5, 1] and n_arr[0] == 2
    assert book_set_level(px, qty, n_arr, True, 101, 5) == 0  # same qty: no change
    assert book_set_level(px, qty, n_arr, True, 97, 0) == 0  # delete absent level
    assert book_set_level(px, qty, n_arr, True, 101, 0) == 1
    assert n_arr[0] == 1 and px[0] == 100
    empty = np.zeros(0, np.int64)
    assert book_set_level(empty, empty, np.zeros(1, np.int64), False, 100, 1) == 0


def _side_st(is_bid):
    return st.lists(
        st.tuples(st.integers(1, 10_000), st.integers(1, 50)),
        max_size=8,
        unique_by=lambda lv: lv[0],
    ).map(lambda lvs: sorted(lvs, reverse=is_bid))


@SETTINGS
@given(is_bid=st.booleans(), data=st.data(), clip=st.integers(0, 200))
def test_walk_book_matches_reference(is_bid, data, clip):
    levels = data.draw(_side_st(is_bid))
    depth = len(levels) + data.draw(st.integers(0, 3))  # spare capacity past n
    px = np.full(depth, -7, np.int64)
    qty = np.full(depth, 99, np.int64)
    for i, (p, q) in enumerate(levels):
        px[i], qty[i] = p, q
    vwap, filled, worst = walk_book(px, qty, len(levels), clip)

    per_lot = [p for p, q in levels for _ in range(q)][:clip]
    assert filled == len(per_lot)
    assert filled <= clip
    if not per_lot:
        assert (vwap, filled, worst) == (0.0, 0, 0)
        return
    assert vwap == pytest.approx(sum(per_lot) / len(per_lot), rel=1e-12)
    assert worst == per_lot[-1]
    best = levels[0][0]
    lo, hi = (worst, best) if is_bid else (best, worst)
    assert lo - 1e-9 <= vwap <= hi + 1e-9
    if filled < clip:
        assert filled == sum(q for _, q in levels)


@SETTINGS
@given(bids=_side_st(True), asks=_side_st(False))
def test_book_crossed_matches_reference(bids, asks):
    bid_px = np.array([p for p, _ in bids] or [0], np.int64)
    ask_px = np.array([p for p, _ in asks] or [0], np.int64)
    want = bool(bids and asks and bids[0][0] >= asks[0][0])
    assert book_crossed(bid_px, len(bids), ask_px, len(asks)) == want
    if bids:
        locked = np.array([bids[0][0]], np.int64)
        assert book_crossed(bid_px, len(bids), locked, 1)


# --- book_update_level: the Book's per-level call on a two-sided array ----------------------------


two_sided_ops_st = st.lists(
    st.tuples(st.integers(0, 1), st.integers(90, 110), st.one_of(st.just(0), st.integers(-1, 6))),
    max_size=60,
)


@SETTINGS
@given(depth=st.integers(1, 6), ops=two_sided_ops_st)
def test_book_update_level_equals_one_side_kernels_and_py_func(depth, ops):
    levels = np.zeros((4, depth), np.int64)
    n = np.zeros(2, np.int64)
    levels_py, n_py = levels.copy(), n.copy()
    sides = [(np.zeros(depth, np.int64), np.zeros(depth, np.int64), np.zeros(1, np.int64))
             for _ in range(2)]
    for side, price, q in ops:
        got = book_update_level(levels, n, side, price, q)
        py = book_update_level.py_func(levels_py, n_py, side, price, q)
        book_set_level(*sides[side], side == 0, price, q)
        (bid_px, bid_qty, bid_n), (ask_px, ask_qty, ask_n) = sides
        crossed = book_crossed(bid_px, bid_n[0], ask_px, ask_n[0])
        assert got == (crossed, int(bid_n[0]), int(ask_n[0]))
        assert tuple(bool(v) if i == 0 else int(v) for i, v in enumerate(py)) == got
        assert type(got[0]) is bool and type(got[1]) is int and type(got[2]) is int
        for row, arr in ((0, bid_px), (1, bid_qty), (2, ask_px), (3, ask_qty)):
            live = int(n[row // 2])
            assert np.array_equal(levels[row, :live], arr[:live])
            assert np.array_equal(levels_py[row, :live], arr[:live])
        # the rows are ordinary sides for the one-side kernels
        assert walk_book(levels[0], levels[1], n[0], 3) == walk_book(bid_px, bid_qty, bid_n[0], 3)


# --- book_apply_levels: a many-level delta in one call -------------------------------------------


class _RefBook:
    """A plain Python two-sided book: dicts of price -> lots, the best ``depth`` kept."""

    def __init__(self, depth):
        self.depth = depth
        self.sides = ({}, {})

    def apply(self, bids, asks, max_qty):
        if any(px <= 0 or q < 0 or q > max_qty for px, q in bids + asks):
            return APPLY_BAD_VALUE
        for side, lvs in ((0, bids), (1, asks)):
            for px, q in lvs:
                _ref_set(self.sides[side], self.depth, side == 0, px, q)
        b, a = self.sides
        crossed = bool(b) and bool(a) and max(b) >= min(a)
        return APPLY_CROSSED if crossed else APPLY_OK

    def rows(self):
        b, a = self.sides
        bp, ap = sorted(b, reverse=True), sorted(a)
        return bp, [b[p] for p in bp], ap, [a[p] for p in ap]


def _live_rows(levels, n):
    nb, na = int(n[0]), int(n[1])
    return (levels[0, :nb].tolist(), levels[1, :nb].tolist(), levels[2, :na].tolist(),
            levels[3, :na].tolist())


MAX_QTY = 50
level_st = st.tuples(st.integers(-1, 30), st.integers(-1, MAX_QTY + 1))
# mostly good levels (prices 1..30 on both sides, so deltas cross now and then), a bad one rarely
good_level_st = st.tuples(st.integers(1, 30), st.integers(0, 9))
delta_st = st.tuples(
    st.lists(st.one_of(good_level_st, good_level_st, good_level_st, level_st), max_size=24),
    st.lists(st.one_of(good_level_st, good_level_st, good_level_st, level_st), max_size=24),
)


@settings(deadline=None, max_examples=60)
@given(depth=st.integers(1, 24), deltas=st.lists(delta_st, max_size=12))
def test_book_apply_levels_matches_a_python_book_and_py_func(depth, deltas):
    levels = np.zeros((4, depth), np.int64)
    n = np.zeros(2, np.int64)
    levels_py, n_py = levels.copy(), n.copy()
    ref = _RefBook(depth)
    for bids, asks in deltas:
        flat = np.array([v for lv in bids + asks for v in lv], np.int64)
        before = _live_rows(levels, n)
        got = book_apply_levels(levels, n, flat, len(bids), MAX_QTY)
        py = book_apply_levels.py_func(levels_py, n_py, flat, len(bids), MAX_QTY)
        want = ref.apply(bids, asks, MAX_QTY)
        assert got[0] == want
        assert tuple(int(v) for v in py) == got == (want, int(n[0]), int(n[1]))
        assert _live_rows(levels, n) == ref.rows() == _live_rows(levels_py, n_py)
        if want == APPLY_BAD_VALUE:
            assert _live_rows(levels, n) == before  # a bad level changes nothing
        if want == APPLY_CROSSED:
            assert book_crossed(levels[0], n[0], levels[2], n[1])
            # the Book drops a crossed book until a snapshot: start the next delta empty
            n[:] = 0
            n_py[:] = 0
            ref = _RefBook(depth)


def test_book_apply_levels_equals_a_chain_of_book_update_level():
    # a maker refreshing its ladder: 12 bid and 12 ask levels, some deletes, on a full book
    depth = 20
    a, na_ = np.zeros((4, depth), np.int64), np.zeros(2, np.int64)
    b, nb_ = a.copy(), na_.copy()
    bids = [(1000 - k, k % 4) for k in range(12)]
    asks = [(1001 + k, (k + 1) % 4) for k in range(12)]
    for _ in range(3):
        flat = np.array([v for lv in bids + asks for v in lv], np.int64)
        got = book_apply_levels(a, na_, flat, len(bids), 10_000_000)
        for px, q in bids:
            res = book_update_level(b, nb_, 0, px, q)
        for px, q in asks:
            res = book_update_level(b, nb_, 1, px, q)
        assert got == (APPLY_OK, res[1], res[2]) and res[0] is False
        assert _live_rows(a, na_) == _live_rows(b, nb_)
        bids = [(px - 1, q + 1) for px, q in bids]
    empty = np.zeros(0, np.int64)
    assert book_apply_levels(a, na_, empty, 0, 10) == (APPLY_OK, int(na_[0]), int(na_[1]))


# --- book_apply_packed: the same delta read from its msgpack bytes -------------------------------

_pack = msgspec.msgpack.encode


@settings(deadline=None, max_examples=50)
@given(depth=st.integers(1, 24), deltas=st.lists(delta_st, max_size=12))
def test_book_apply_packed_is_book_apply_levels_of_the_same_levels(depth, deltas):
    # the Book's many-level path: any difference from the array kernel (a level misread, a
    # bad level applied, a side or an order mixed up) fails here
    levels, n = np.zeros((4, depth), np.int64), np.zeros(2, np.int64)
    want_levels, want_n = levels.copy(), n.copy()
    py_levels, py_n = levels.copy(), n.copy()
    for bids, asks in deltas:
        flat = np.array([v for lv in bids + asks for v in lv], np.int64)
        before = _live_rows(levels, n)
        want = book_apply_levels(want_levels, want_n, flat, len(bids), MAX_QTY)
        got = book_apply_packed(levels, n, _pack((bids, asks)), MAX_QTY)
        py = book_apply_packed.py_func(py_levels, py_n, _pack((bids, asks)), MAX_QTY)
        assert got == want and tuple(int(v) for v in py) == got
        after = _live_rows(levels, n)
        assert after == _live_rows(want_levels, want_n) == _live_rows(py_levels, py_n)
        if got[0] == APPLY_BAD_VALUE:
            assert after == before
        if got[0] == APPLY_CROSSED:
            for a in (n, want_n, py_n):
                a[:] = 0


INT64 = st.integers(-(2**63), 2**63 - 1)
EDGES = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
         2**63 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1,
         -(2**63)]


@settings(deadline=None, max_examples=100)
@given(v=st.one_of(INT64, st.sampled_from(EDGES)))
def test_every_msgpack_form_of_an_int64_reads_back(v):
    buf = _pack(v)
    assert _mp_int(buf, 0) == (v, len(buf))
    assert _mp_int(buf + b"\x00", 0) == (v, len(buf))
    if len(buf) > 1:
        assert _mp_int(buf[:-1], 0)[1] == -1  # truncated: not read past the end


@pytest.mark.parametrize("bids", [
    [(100, 2**63)],  # past int64: the array path raises, as it always did
    [(100, True)], [(100.0, 1)], [(100, None)], [(100, 1, 2)], [(100,)], [[100, [1]]],
])
def test_levels_that_are_not_int64_pairs_are_left_unread(bids):
    levels, n = np.zeros((4, 4), np.int64), np.zeros(2, np.int64)
    book_apply_packed(levels, n, _pack(([(99, 1)], [(101, 1)])), MAX_QTY)
    before = _live_rows(levels, n)
    got = book_apply_packed(levels, n, _pack(([*bids, (98, 1)], [(102, 1)])), MAX_QTY)
    assert got == (APPLY_UNREAD, 1, 1) and _live_rows(levels, n) == before


@settings(deadline=None, max_examples=100)
@given(blob=st.one_of(st.binary(max_size=40),
                      st.builds(lambda d, cut: _pack(d)[:cut], delta_st, st.integers(0, 60)),
                      st.builds(lambda d, tail: _pack(d) + tail, delta_st,
                                st.binary(min_size=1, max_size=4))))
def test_any_bytes_are_applied_whole_or_not_at_all(blob):
    # malformed, truncated or trailing bytes never read past the buffer or half-apply a delta
    levels, n = np.zeros((4, 6), np.int64), np.zeros(2, np.int64)
    book_apply_packed(levels, n, _pack(([(9, 1)], [(11, 1)])), MAX_QTY)
    before = _live_rows(levels, n)
    got = book_apply_packed(levels, n, blob, MAX_QTY)
    if got[0] in (APPLY_UNREAD, APPLY_BAD_VALUE):
        assert _live_rows(levels, n) == before
    try:
        bids, asks = msgspec.msgpack.decode(blob)
        ok = all(len(lv) == 2 and all(type(v) is int for v in lv) for lv in bids + asks)
    except (msgspec.DecodeError, TypeError, ValueError):
        ok = False
    if not ok:
        assert got[0] == APPLY_UNREAD
