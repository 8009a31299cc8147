"""The Book's one-level delta in one kernel call (``kernels.book.book_update_checked``): the
kernel against ``book_apply_levels`` with that one level (the many-level rule it stands for) and
its ``.py_func``, and the Book's answer to a one-level delta against the per-level path it
replaced (the same updates, invalidations and levels), including values beyond int64."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.book import MAX_LEVEL_LOTS, BookCore
from kernels.book import APPLY_BAD_VALUE, APPLY_OK, book_apply_levels, book_update_checked
from transports.wire.codec import encode
from transports.wire.messages import BookDelta, BookSnapshot, Resync

SUBS = ["strategy.p", "combo", "risk", "leg.x"]
MAX_QTY = 1_000

levels_st = st.lists(st.tuples(st.integers(0, 1), st.integers(-2, 14), st.integers(-2, 1_002)),
                     max_size=30)


@settings(deadline=None, max_examples=80)
@given(depth=st.integers(1, 6), ops=levels_st)
def test_the_kernel_is_book_apply_levels_of_one_level_and_its_py_func(depth, ops) -> None:
    book = [np.zeros((4, depth), np.int64) for _ in range(3)]
    n = [np.zeros(2, np.int64) for _ in range(3)]
    for side, px, qty in ops:
        got = book_update_checked(book[0], n[0], side, px, qty, MAX_QTY)
        py = book_update_checked.py_func(book[1], n[1], side, px, qty, MAX_QTY)
        want = book_apply_levels(book[2], n[2], np.array([px, qty], np.int64),
                                 1 - side, MAX_QTY)
        assert tuple(map(int, got)) == tuple(map(int, py)) == tuple(map(int, want))
        assert n[0].tolist() == n[1].tolist() == n[2].tolist()
        for k in (1, 2):  # the live levels agree (slots past n are stale on purpose)
            for row, side_n in ((0, 0), (1, 0), (2, 1), (3, 1)):
                live = int(n[0][side_n])
                assert book[0][row, :live].tolist() == book[k][row, :live].tolist()


def test_a_bad_level_changes_nothing() -> None:
    book, n = np.zeros((4, 3), np.int64), np.zeros(2, np.int64)
    assert book_update_checked(book, n, 0, 100, 5, MAX_QTY)[0] == APPLY_OK
    before = book.copy()
    for side, px, qty in ((1, 0, 5), (0, 100, -1), (1, 101, MAX_QTY + 1), (0, -3, 0)):
        assert book_update_checked(book, n, side, px, qty, MAX_QTY)[0] == APPLY_BAD_VALUE
    assert (book == before).all() and n.tolist() == [1, 0]


# --- the Book: one-level deltas against the per-level path ----------------------------------------


def _pair() -> tuple[BookCore, BookCore]:
    """Two books with the same snapshot: one fed the one-level deltas, one fed them through
    the per-level path (``_slow``)."""
    books = []
    for _ in range(2):
        b = BookCore("book.x:S", "x", "S", list(SUBS), depth=5, publish_levels=3,
                     touch_only=["risk", "leg.x"])
        b.on_book_snapshot(BookSnapshot("x", "S", 1, 1, 1, [(100, 2), (99, 3)],
                                        [(101, 5), (102, 1)]), 1)
        books.append(b)
    return books[0], books[1]


def _encoded(out: list) -> list:
    return [(d, type(m).__name__, encode(m)) for d, m in out]


def _slow(b: BookCore, m: BookDelta, now_ns: int) -> list:
    """The per-level path the one-level delta took before (``BookCore.on_book_delta`` with its
    one-level branch skipped): the level given as a two-level delta whose second level is the
    same level again (setting a level twice to the same quantity is the same book)."""
    twice = BookDelta(m.venue, m.sym, m.seq, m.ts_event_ns, m.ts_recv_ns, m.bids * 2,
                      m.asks * 2)
    return b.on_book_delta(twice, now_ns)


@settings(deadline=None, max_examples=120)
@given(ops=st.lists(st.tuples(st.integers(0, 1), st.integers(-1, 106),
                              st.sampled_from([0, 0, 1, 7, -1, MAX_LEVEL_LOTS + 1,
                                               2**64 - 1])), max_size=30))
def test_one_level_deltas_publish_what_the_per_level_path_did(ops) -> None:
    fast, slow = _pair()
    for i, (side, px, qty) in enumerate(ops):
        lvl = [(px, qty)]
        m = BookDelta("x", "S", i + 2, 10 * i, 10 * i, lvl if side == 0 else [],
                      lvl if side else [])
        assert _encoded(fast.on_book_delta(m, 5)) == _encoded(_slow(slow, m, 5))
        assert fast.levels() == slow.levels()
        assert (fast.valid, fast.seq, fast.updates, fast.invalidations) == (
            slow.valid, slow.seq, slow.updates, slow.invalidations)
        if not fast.valid:  # a snapshot again, as the feed would after the Resync
            snap = BookSnapshot("x", "S", i + 2, 10 * i, 10 * i, [(100, 2)], [(101, 5)])
            assert _encoded(fast.on_book_snapshot(snap, 5)) == _encoded(
                slow.on_book_snapshot(snap, 5))


def test_a_quantity_beyond_int64_is_a_bad_value_as_before() -> None:
    fast, _ = _pair()
    out = fast.on_book_delta(BookDelta("x", "S", 2, 5, 5, [(100, 2**64 - 1)], []), 5)
    assert fast.invalidations == {"bad_value": 1} and not fast.valid
    assert out[-1] == ("feed.x", Resync("S"))
    assert fast.levels() == ([(100, 2), (99, 3)], [(101, 5), (102, 1)])  # nothing applied
