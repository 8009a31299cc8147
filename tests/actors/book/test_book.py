"""BookCore: snapshots, deltas, integrity checks and what it publishes."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.book import MAX_LEVEL_LOTS, TOUCH_REFRESH_NS, BookCore
from kernels.book import book_apply, book_clear, book_crossed
from tests.support.helpers import msgs
from transports.wire.codec import encode
from transports.wire.messages import BookDelta, BookInvalid, BookSnapshot, BookUpdate, Resync


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
    b = _book()
    b.on_book_snapshot(_snap([(100, 2)], [(101, 5)]), 1)
    out = b.on_book_delta(BookDelta("x", "S", 2, 20, 21, [(101, 1)], []), 22)
    assert ("feed.x", Resync("S")) in out
    # an invalidation that came from the feed is not echoed back to it
    b2 = _book()
    b2.on_book_snapshot(_snap([(100, 2)], [(101, 5)]), 1)
    assert all(d != "feed.x" for d, _ in b2.on_book_invalid(BookInvalid("x", "S", "gap", 5), 6))


# --- the two-sided array book against the original one-array-per-side algorithm ------------------


class _ReferenceBook:
    """BookCore as it was before the hot-path work (quiet books as they are now: flagged by the
    feed, cleared by the next applied delta or a snapshot), plus the touch-only rule written
    plainly: a ``touch`` subscriber hears an update when the (validity, best bid, best ask) it
    reads differs from the last it heard, it is invalid, a snapshot, or the last it heard is
    ``TOUCH_REFRESH_NS`` old (receive time)."""

    def __init__(self, venue, sym, subscribers, depth, publish_levels=10, touch=()) -> None:
        self.venue, self.sym, self.subscribers = venue, sym, subscribers
        self.touch = set(touch)
        self.heard = None  # (valid, bid, ask, ts_recv_ns) the touch subscribers last heard
        self.publish_levels = min(publish_levels, depth)
        self.bid_px, self.bid_qty = np.zeros(depth, np.int64), np.zeros(depth, np.int64)
        self.ask_px, self.ask_qty = np.zeros(depth, np.int64), np.zeros(depth, np.int64)
        self.bid_n, self.ask_n = np.zeros(1, np.int64), np.zeros(1, np.int64)
        self.valid = self.quiet = False
        self.seq = self.updates = self.last_event_ns = 0
        self.invalidations: dict = {}

    def _apply(self, bids, asks):
        for levels in (bids, asks):
            for px, qty in levels:
                if px <= 0 or qty < 0 or qty > MAX_LEVEL_LOTS:
                    return "bad_value"
        if bids:
            book_apply(self.bid_px, self.bid_qty, self.bid_n, True,
                       np.asarray(bids, np.int64).reshape(-1, 2))
        if asks:
            book_apply(self.ask_px, self.ask_qty, self.ask_n, False,
                       np.asarray(asks, np.int64).reshape(-1, 2))
        if book_crossed(self.bid_px, self.bid_n[0], self.ask_px, self.ask_n[0]):
            return "crossed"
        return ""

    def _publish(self, ts_event_ns, ts_recv_ns, now_ns):
        nb = min(int(self.bid_n[0]), self.publish_levels)
        na = min(int(self.ask_n[0]), self.publish_levels)
        upd = BookUpdate(self.venue, self.sym, self.valid and not self.quiet, ts_event_ns,
                         ts_recv_ns, now_ns, self.bid_px[:nb].tolist(),
                         self.bid_qty[:nb].tolist(), self.ask_px[:na].tolist(),
                         self.ask_qty[:na].tolist())
        seen = (upd.valid, upd.bid_px[0] if upd.bid_px else 0,
                upd.ask_px[0] if upd.ask_px else 0)
        h = self.heard
        if (h is None or not upd.valid or seen != h[:3] or ts_recv_ns < h[3]
                or ts_recv_ns - h[3] >= TOUCH_REFRESH_NS):
            self.heard = (*seen, ts_recv_ns)
            return [(s, upd) for s in self.subscribers]
        return [(s, upd) for s in self.subscribers if s not in self.touch]

    def _invalidate(self, reason, ts_recv_ns, now_ns, ask_resync=True):
        self.invalidations[reason] = self.invalidations.get(reason, 0) + 1
        was_valid = self.valid
        self.valid = False
        out = self._publish(0, ts_recv_ns, now_ns) if was_valid else []
        if ask_resync:
            out.append((f"feed.{self.venue}", Resync(self.sym)))
        return out

    def handle(self, m, now_ns):
        if isinstance(m, BookSnapshot):
            self.heard = None
            book_clear(self.bid_n)
            book_clear(self.ask_n)
            why = self._apply(m.bids, m.asks)
            if why:
                return self._invalidate(why, m.ts_recv_ns, now_ns)
            self.valid, self.quiet = True, False
        elif isinstance(m, BookDelta):
            if not self.valid:
                return []
            why = self._apply(m.bids, m.asks)
            if why:
                return self._invalidate(why, m.ts_recv_ns, now_ns)
            self.quiet = False  # a book that moves is no longer quiet
        else:
            if m.reason == "book_stale":
                if not self.valid or self.quiet:
                    return []
                self.quiet = True
                self.invalidations["book_stale"] = self.invalidations.get("book_stale", 0) + 1
                return self._publish(0, m.ts_recv_ns, now_ns)
            return self._invalidate(m.reason, m.ts_recv_ns, now_ns, ask_resync=False)
        self.seq = m.seq
        self.updates += 1
        self.last_event_ns = m.ts_event_ns
        return self._publish(m.ts_event_ns, m.ts_recv_ns, now_ns)


def _book_events(rng: random.Random, n: int, step_ns: int = 1) -> list:
    """``n`` random book events; receive times ``step_ns`` apart."""
    mid = 1000
    out = []
    for i in range(n):
        t = i * step_ns
        mid += rng.randint(-2, 2)
        r = rng.random()

        def lv(side: int, mid: int = mid) -> tuple[int, int]:
            px = mid - rng.randint(1, 8) if side == 0 else mid + rng.randint(1, 8)
            if rng.random() < 0.1:
                px = mid + rng.randint(-3, 3)  # may cross
            return px, rng.choice([0, 0, 1, 5, 50, rng.randint(0, 99)])

        if r < 0.08:
            bids = [(mid - 1 - k, rng.randint(1, 9)) for k in range(rng.randint(0, 12))]
            asks = [(mid + 1 + k, rng.randint(1, 9)) for k in range(rng.randint(0, 12))]
            out.append(BookSnapshot("x", "S", i, t, t, bids, asks))
        elif r < 0.11:
            out.append(BookInvalid("x", "S", rng.choice(["gap", "book_stale", "stale"]), t))
        elif r < 0.2:
            # a maker refreshing its ladder: many levels in one delta (one kernel call)
            bids = [lv(0) for _ in range(rng.randint(3, 24))]
            asks = [lv(1) for _ in range(rng.randint(0, 24))]
            if rng.random() < 0.1:
                bids.insert(rng.randint(0, len(bids)), (mid, -1))
        else:
            bids = [lv(0) for _ in range(rng.choice([0, 1, 1, 1, 2, 3]))]
            asks = [lv(1) for _ in range(rng.choice([0, 0, 1, 2]))]
            if rng.random() < 0.02:
                bids.append(rng.choice([(0, 5), (mid, -1), (mid, MAX_LEVEL_LOTS + 1)]))
            out.append(BookDelta("x", "S", i, t, t, bids, asks))
    return out


def _book_both(seed: int, n: int) -> None:
    rng = random.Random(seed)
    depth = rng.choice([1, 2, 3, 5, 20])
    publish = rng.choice([1, 3, 10])
    subs = rng.choice([["s"], ["s", "combo"], ["s", "combo", "risk"],
                       ["s", "combo", "risk", "leg.x"], ["risk", "s", "leg.x"]])
    touch = {"risk", "leg.x"}  # what the default topology calls touch-only
    new = BookCore("book.x:S", "x", "S", subs, depth=depth, publish_levels=publish)
    ref = _ReferenceBook("x", "S", subs, depth, publish, touch)
    # receive times from 1 ns to 40 ms apart: some runs pass the touch refresh
    step_ns = rng.choice([1, TOUCH_REFRESH_NS // 7, TOUCH_REFRESH_NS // 2 + 1])
    for m in _book_events(rng, n, step_ns):
        got, want = new.handle(m, 7), ref.handle(m, 7)
        assert [(d, encode(u)) for d, u in got] == [(d, encode(u)) for d, u in want], m
        for _, u in got:
            if isinstance(u, BookUpdate):
                assert all(type(v) is int for v in u.bid_px + u.bid_qty + u.ask_px + u.ask_qty)
        assert (new.valid, new.quiet, new.seq, new.updates, new.last_event_ns) == \
            (ref.valid, ref.quiet, ref.seq, ref.updates, ref.last_event_ns)
        assert new.invalidations == ref.invalidations
        assert new.levels() == (
            list(zip(ref.bid_px[:ref.bid_n[0]].tolist(), ref.bid_qty[:ref.bid_n[0]].tolist(),
                     strict=True)),
            list(zip(ref.ask_px[:ref.ask_n[0]].tolist(), ref.ask_qty[:ref.ask_n[0]].tolist(),
                     strict=True)))


def test_same_updates_as_the_one_array_per_side_book() -> None:
    for seed in range(40):
        _book_both(seed, 400)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_same_updates_on_random_streams(seed: int) -> None:
    _book_both(seed, 150)


def test_a_quiet_book_is_unusable_until_it_moves_again() -> None:
    b = _book()
    b.on_book_snapshot(_snap([(100, 2)], [(101, 5)]), 1)
    out = b.on_book_invalid(BookInvalid("x", "S", "book_stale", 5), 6)
    assert msgs(out, BookUpdate)[0].valid is False
    assert all(d != "feed.x" for d, _ in out)  # no resync: the data is intact
    out = b.on_book_delta(BookDelta("x", "S", 2, 20, 21, [(100, 3)], []), 22)
    u = msgs(out, BookUpdate)[0]
    assert u.valid is True and u.bid_qty == [3]


def test_the_feed_it_asks_is_named_by_the_topology() -> None:
    from actors.topology import Topology

    class Renamed(Topology, frozen=True):
        @staticmethod
        def feed(venue: str) -> str:
            return f"md/{venue}"

    b = BookCore("book.x:S", "x", "S", ["strategy.p"], depth=5, topo=Renamed())
    b.on_book_snapshot(_snap([(100, 2)], [(101, 5)]), 1)
    out = b.on_book_delta(BookDelta("x", "S", 2, 20, 21, [(101, 1)], []), 22)
    assert ("md/x", Resync("S")) in out and not [d for d, _ in out if d.startswith("feed.")]


def test_a_many_level_delta_with_one_bad_level_changes_nothing() -> None:
    b = _book()
    b.on_book_snapshot(_snap([(100, 2), (99, 1)], [(101, 5), (102, 1)]), 1)
    before = b.levels()
    bids = [(100 - k, 3) for k in range(5)] + [(94, MAX_LEVEL_LOTS + 1)]
    out = b.on_book_delta(BookDelta("x", "S", 2, 20, 21, bids, [(101, 0), (103, 4)]), 22)
    assert msgs(out, BookUpdate)[0].valid is False and ("feed.x", Resync("S")) in out
    assert b.invalidations == {"bad_value": 1} and b.levels() == before and b.seq == 1


def test_a_many_level_delta_that_crosses_invalidates() -> None:
    b = _book()
    b.on_book_snapshot(_snap([(100, 2)], [(101, 5), (102, 1)]), 1)
    out = b.on_book_delta(BookDelta("x", "S", 2, 20, 21, [(99, 1), (98, 1), (101, 1)], []), 22)
    assert msgs(out, BookUpdate)[0].valid is False and b.invalidations == {"crossed": 1}
    out = b.on_book_delta(BookDelta("x", "S", 3, 20, 21, [(97, 1), (96, 1), (95, 1)], []), 23)
    assert out == []  # nothing is applied or published until the next snapshot
    # a clean ladder refresh on a valid book publishes the whole result once
    b.on_book_snapshot(_snap([(100, 2)], [(101, 5)], seq=9), 24)
    out = b.on_book_delta(BookDelta("x", "S", 10, 30, 31, [(100, 0), (99, 4), (98, 3)],
                                    [(101, 6), (103, 2)]), 32)
    u = msgs(out, BookUpdate)[0]
    assert u.valid and u.bid_px == [99, 98] and u.bid_qty == [4, 3]
    assert u.ask_px == [101, 103] and u.ask_qty == [6, 2] and b.seq == 10
