"""BookCore: snapshots, deltas, integrity checks and what it publishes."""

from __future__ import annotations

from actors.book import BookCore
from tests.helpers import msgs
from transports.messages import BookDelta, BookInvalid, BookSnapshot, BookUpdate


def _book() -> BookCore:
    return BookCore("book.x:S", "x", "S", ["strategy.p", "combo"], depth=5, publish_levels=3)


def _snap(bids: list[tuple[int, int]], asks: list[tuple[int, int]], seq: int = 1) -> BookSnapshot:
    return BookSnapshot("x", "S", seq, 10, 11, bids, asks)


def test_snapshot_publishes_top_levels_to_every_subscriber() -> None:
    b = _book()
    out = b.on_book_snapshot(_snap([(99, 1), (100, 2), (98, 3), (97, 4)], [(101, 5)]), 12)
    assert [d for d, _ in out] == ["strategy.p", "combo"]
    u = msgs(out, BookUpdate)[0]
    assert u.valid and u.bid_px == [100, 99, 98] and u.bid_qty == [2, 1, 3]
    assert u.ask_px == [101] and (u.ts_event_ns, u.ts_recv_ns, u.ts_book_ns) == (10, 11, 12)


def test_delta_updates_and_deletes_levels() -> None:
    b = _book()
    b.on_book_snapshot(_snap([(100, 2), (99, 1)], [(101, 5), (102, 1)]), 1)
    out = b.on_book_delta(BookDelta("x", "S", 2, 20, 21, [(100, 0), (99, 7)], [(101, 3)]), 22)
    u = msgs(out, BookUpdate)[0]
    assert u.bid_px == [99] and u.bid_qty == [7]
    assert u.ask_px == [101, 102] and u.ask_qty == [3, 1]
    assert b.seq == 2


def test_crossed_book_is_invalid_until_next_snapshot() -> None:
    b = _book()
    b.on_book_snapshot(_snap([(100, 2)], [(101, 5)]), 1)
    out = b.on_book_delta(BookDelta("x", "S", 2, 20, 21, [(101, 1)], []), 22)
    assert msgs(out, BookUpdate)[0].valid is False
    assert b.invalidations == {"crossed": 1}
    # deltas on an invalid book are not applied and publish nothing
    assert b.on_book_delta(BookDelta("x", "S", 3, 20, 21, [(90, 1)], []), 23) == []
    out = b.on_book_snapshot(_snap([(100, 2)], [(101, 5)], seq=9), 24)
    assert msgs(out, BookUpdate)[0].valid is True


def test_bad_values_invalidate() -> None:
    b = _book()
    b.on_book_snapshot(_snap([(100, 2)], [(101, 5)]), 1)
    out = b.on_book_delta(BookDelta("x", "S", 2, 20, 21, [(-5, 1)], []), 22)
    assert msgs(out, BookUpdate)[0].valid is False
    assert b.invalidations == {"bad_value": 1}


def test_feed_invalidation_is_published_once() -> None:
    b = _book()
    b.on_book_snapshot(_snap([(100, 2)], [(101, 5)]), 1)
    out = b.on_book_invalid(BookInvalid("x", "S", "gap", 5), 6)
    assert len(msgs(out, BookUpdate)) == 2 and not msgs(out, BookUpdate)[0].valid
    assert b.on_book_invalid(BookInvalid("x", "S", "gap", 7), 8) == []


def test_a_book_that_rejects_data_asks_its_feed_for_a_snapshot() -> None:
    from transports.messages import Control

    b = _book()
    b.on_book_snapshot(_snap([(100, 2)], [(101, 5)]), 1)
    out = b.on_book_delta(BookDelta("x", "S", 2, 20, 21, [(101, 1)], []), 22)
    assert ("feed.x", Control("resync", "S")) in out
    # an invalidation that came from the feed is not echoed back to it
    b2 = _book()
    b2.on_book_snapshot(_snap([(100, 2)], [(101, 5)]), 1)
    assert all(d != "feed.x" for d, _ in b2.on_book_invalid(BookInvalid("x", "S", "gap", 5), 6))
