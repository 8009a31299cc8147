"""The source book keeper: the protocol's sequencing rules, and a property test against the
simulator's own matching book as the venue (drops, duplicates, restarts, snapshots)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from transports.venues.paper.book import LevelChange, Outcome, SourceBook
from transports.venues.sim.matching import MM_ACCOUNT, Book, Order, maker_quotes
from transports.wire.venue_msgs import Delta, Snapshot


def _snap(seq: int, b: list[tuple[int, int]], a: list[tuple[int, int]]) -> Snapshot:
    return Snapshot(sym="X", seq=seq, ts=seq, b=b, a=a)


def _delta(seq: int, b: Sequence[tuple[int, int]] = (),
           a: Sequence[tuple[int, int]] = ()) -> Delta:
    return Delta(sym="X", seq=seq, ts=seq, b=list(b), a=list(a))


def _synced() -> SourceBook:
    book = SourceBook("X")
    assert book.on_snapshot(_snap(5, [(99, 10), (98, 4)], [(101, 7)])) is not None
    return book


def test_snapshot_then_deltas_in_sequence_apply_and_report_level_changes() -> None:
    book = SourceBook("X")
    assert not book.synced
    assert book.on_delta(_delta(1, [(99, 3)]))[0] is Outcome.BUFFERED  # before any snapshot
    changes = book.on_snapshot(_snap(5, [(99, 10)], [(101, 7)]))
    assert book.synced and book.seq == 5
    assert sorted(changes or []) == sorted([LevelChange("B", 99, 0, 10),
                                            LevelChange("S", 101, 0, 7)])
    out, ch = book.on_delta(_delta(6, [(99, 0), (98, 2)], [(101, 9)]))
    assert out is Outcome.APPLIED and book.seq == 6
    assert sorted(ch) == sorted([LevelChange("B", 99, 10, 0), LevelChange("B", 98, 0, 2),
                                 LevelChange("S", 101, 7, 9)])
    assert book.best("B") == 98 and book.qty("B", 99) == 0
    assert book.sorted_levels("B") == [(98, 2)]


def test_a_duplicate_is_ignored_and_a_gap_starts_a_resync_keeping_the_delta() -> None:
    book = _synced()
    assert book.on_delta(_delta(5, [(99, 1)]))[0] is Outcome.DUPLICATE
    assert book.qty("B", 99) == 10 and book.duplicates == 1
    assert book.on_delta(_delta(7, [(99, 1)]))[0] is Outcome.GAP  # 6 is missing
    assert not book.synced and book.resyncs == 1
    assert book.on_delta(_delta(8, [(98, 0)]))[0] is Outcome.BUFFERED
    # a snapshot at 6 plus the buffered 7 and 8 continue without a hole
    changes = book.on_snapshot(_snap(6, [(99, 10), (98, 4)], [(101, 7)]))
    assert changes is not None and book.synced and book.seq == 8
    assert book.levels["B"] == {99: 1}
    # deltas after it apply as usual
    assert book.on_delta(_delta(9, [(99, 2)]))[0] is Outcome.APPLIED


def test_a_snapshot_with_a_hole_after_it_is_not_applied() -> None:
    book = _synced()
    book.on_delta(_delta(8, [(99, 1)]))  # gap: 6, 7 missing; 8 buffered
    assert book.on_snapshot(_snap(6, [(99, 3)], [(101, 7)])) is None  # 7 still missing
    assert not book.synced
    assert book.on_snapshot(_snap(9, [(99, 3)], [(101, 7)])) is not None  # a later one does
    assert book.synced and book.seq == 9 and book.levels["B"] == {99: 3}


def test_a_sequence_reset_and_silent_gaps_from_heartbeats_resync() -> None:
    book = _synced()
    assert book.on_delta(_delta(1, [(99, 1)]))[0] is Outcome.GAP  # the source restarted
    assert book.on_snapshot(_snap(1, [(99, 1)], [(101, 7)])) is not None
    assert book.seq == 1
    assert not book.on_heartbeat_seq(1)  # in step
    book.on_delta(_delta(2, [(99, 2)]))
    book.on_delta(_delta(3, [(99, 3)]))
    assert book.on_heartbeat_seq(4)  # a delta we never saw
    assert not book.synced
    assert not book.on_heartbeat_seq(9)  # resyncing: heartbeats change nothing
    assert book.on_snapshot(_snap(9, [(99, 1)], [(101, 7)])) is not None
    book.on_delta(_delta(10, [(99, 2)]))
    assert book.on_heartbeat_seq(1)  # back to 1 below last: a reset


def test_a_crossed_source_book_is_not_trusted() -> None:
    book = _synced()
    out, _ = book.on_delta(_delta(6, [(101, 5)]))  # a bid at the ask: locked
    assert out is Outcome.GAP and not book.synced
    assert book.on_snapshot(_snap(6, [(102, 1)], [(101, 7)])) is None  # crossed snapshot
    assert not book.synced


# --- the property: whatever the wire loses, the kept book ends equal to the venue's -----------


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       plan=st.lists(st.sampled_from(["ok", "ok", "ok", "drop", "dup", "restart", "hb"]),
                     min_size=5, max_size=60))
def test_kept_book_equals_the_venue_book_after_drops_duplicates_and_restarts(
        seed: int, plan: list[str]) -> None:
    rng = np.random.default_rng(seed)
    venue = Book("X")
    kept = SourceBook("X")
    fair = 1000.0

    def requote(t: int) -> Delta | None:
        nonlocal fair
        fair += float(rng.normal(0, 2))
        venue.remove_account(MM_ACCOUNT)
        bids, asks = maker_quotes(fair, 1.0, spread_ticks=1, levels=5, level_qty=10, rng=rng)
        for side, ladder in (("B", bids), ("S", asks)):
            for px, q in ladder:
                venue.submit(Order("mm", MM_ACCOUNT, "", "X", side, px, q, "GTC", t))
        return venue.take_delta(t)

    def resync_if_needed() -> None:
        if not kept.synced:
            kept.on_snapshot(venue.snapshot(0))

    resync_if_needed()
    for t, step in enumerate(plan, start=1):
        if step == "restart" and venue.seq >= 2:
            # a restart takes longer than a heartbeat interval, so the last heartbeat before it
            # came; without it a restart right after a loss is ambiguous by the protocol itself
            kept.on_heartbeat_seq(venue.seq)
            venue.reset_seq()
        d = requote(t)
        if step == "hb":
            kept.on_heartbeat_seq(venue.seq)
        if d is None:
            continue
        if step != "drop":
            kept.on_delta(d)
        if step == "dup":
            assert kept.on_delta(d)[0] in (Outcome.DUPLICATE, Outcome.BUFFERED)
        if rng.random() < 0.3:  # the snapshot reply comes some time after the resync started
            resync_if_needed()
    kept.on_heartbeat_seq(venue.seq)  # the last heartbeat finds any loss not yet found
    resync_if_needed()
    assert kept.synced
    assert kept.sorted_levels("B") == venue.levels("B")
    assert kept.sorted_levels("S") == venue.levels("S")
