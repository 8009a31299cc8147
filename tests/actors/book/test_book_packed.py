"""BookCore's many-level path (the delta's levels as msgpack bytes, ``book_apply_packed``): the
same updates as the reference book through checkpoints, and levels the bytes cannot carry as
int64 pairs still decided (or refused) by the array path, as before."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from actors.book import BookCore
from actors.runtime.checkpoint import dumps
from tests.actors.book.test_book import _book_events, _ReferenceBook
from tests.support.helpers import msgs
from transports.wire.codec import encode
from transports.wire.messages import BookDelta, BookSnapshot, BookUpdate


def _book() -> BookCore:
    b = BookCore("book.x:S", "x", "S", ["strategy.p", "combo"], depth=20, publish_levels=3)
    b.on_book_snapshot(BookSnapshot("x", "S", 1, 10, 11, [(100 - k, 1) for k in range(6)],
                                    [(101 + k, 1) for k in range(6)]), 12)
    return b


def _update(out: list) -> BookUpdate:
    return msgs(out, BookUpdate)[0]


def _stream_with_checkpoints(seed: int, n: int) -> None:
    """The reference book's updates, byte for byte, while the core is checkpointed and loaded
    now and then; every update is what the book holds."""
    rng = random.Random(seed)
    depth = rng.choice([1, 3, 5, 20])
    publish = rng.choice([1, 3, 10])
    subs = ["s", "combo", "risk"]
    new = BookCore("book.x:S", "x", "S", subs, depth=depth, publish_levels=publish)
    ref = _ReferenceBook("x", "S", subs, depth, publish, {"risk"})
    for m in _book_events(rng, n, rng.choice([1, 3_000_000])):
        if rng.random() < 0.08:
            new = pickle.loads(dumps(new))  # a checkpoint (the row views stay views)
        got, want = new.handle(m, 7), ref.handle(m, 7)
        assert [(d, encode(u)) for d, u in got] == [(d, encode(u)) for d, u in want], m
        for _, u in got:
            if isinstance(u, BookUpdate):  # what it publishes is what the book holds
                bids, asks = new.levels()
                assert list(zip(u.bid_px, u.bid_qty, strict=True)) == bids[:publish]
                assert list(zip(u.ask_px, u.ask_qty, strict=True)) == asks[:publish]


@pytest.mark.parametrize("seed", range(12))
def test_same_updates_through_checkpoints(seed: int) -> None:
    _stream_with_checkpoints(seed, 300)


@pytest.mark.parametrize("odd", [True, np.int64(5), np.int32(5)])
def test_levels_msgpack_cannot_carry_as_int64_are_decided_by_the_array_path(odd) -> None:
    # a bool or a numpy int is a quantity of its value, as the array path always read it
    bids = [(100, 3), (99, odd), (98, 2)]
    a, b = _book(), _book()
    got = a.on_book_delta(BookDelta("x", "S", 2, 20, 21, bids, [(101, 4)]), 22)
    want = b.on_book_delta(BookDelta("x", "S", 2, 20, 21, [(px, int(q)) for px, q in bids],
                                     [(101, 4)]), 22)
    assert [(d, encode(u)) for d, u in got] == [(d, encode(u)) for d, u in want]
    assert a.levels() == b.levels()


@pytest.mark.parametrize("huge", [2**63, 2**64, -(2**63) - 1])
def test_a_level_past_int64_raises_as_before_and_changes_nothing(huge: int) -> None:
    b = _book()
    before = b.levels()
    with pytest.raises(OverflowError):
        b.on_book_delta(BookDelta("x", "S", 2, 20, 21, [(100, 3), (99, huge), (98, 2)], []), 22)
    assert b.levels() == before and b.seq == 1
    # and the next delta is published from the book as it is
    u = _update(b.on_book_delta(BookDelta("x", "S", 2, 20, 21, [(100, 3), (97, 0), (96, 0)],
                                          []), 22))
    assert (u.bid_px, u.bid_qty) == ([100, 99, 98], [3, 1, 1])
