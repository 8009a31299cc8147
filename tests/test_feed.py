"""FeedCore: sequence integrity and resync, driven directly with integer times."""

from __future__ import annotations

from actors.feed import FeedCore
from tests.helpers import msgs
from transports.messages import BookDelta, BookInvalid, BookSnapshot
from transports.venue_msgs import Delta, Heartbeat, Snapshot, SnapshotReq


def _feed() -> FeedCore:
    return FeedCore("feed.x", "x", ["S"], {"S": "book.x:S"}, ["strategy.p"], ["risk"])


def _delta(seq: int) -> Delta:
    return Delta(sym="S", seq=seq, ts=seq, b=[(100, seq)], a=[])


def _synced(seq: int = 10) -> FeedCore:
    f = _feed()
    out = f.on_start(0)
    assert msgs(out, SnapshotReq) == [SnapshotReq(sym="S")]
    f.on_snapshot(Snapshot(sym="S", seq=seq, ts=0, b=[(100, 1)], a=[(101, 1)]), 1)
    return f


def test_start_requests_snapshot_and_buffers_until_it_arrives() -> None:
    f = _feed()
    f.on_start(0)
    assert f.on_delta(_delta(11), 1) == []  # buffered while resyncing
    assert f.on_delta(_delta(12), 2) == []
    out = f.on_snapshot(Snapshot(sym="S", seq=10, ts=0, b=[], a=[]), 3)
    assert [type(m) for _, m in out if not isinstance(m, str)][:3] == [BookSnapshot, BookDelta,
                                                                       BookDelta]
    assert [m.seq for m in msgs(out, BookDelta)] == [11, 12]
    assert f.syms["S"].state == "SYNCED"


def test_deltas_inside_the_snapshot_are_dropped() -> None:
    f = _feed()
    f.on_start(0)
    for s in (9, 10, 11):
        f.on_delta(_delta(s), s)
    out = f.on_snapshot(Snapshot(sym="S", seq=10, ts=0, b=[], a=[]), 20)
    assert [m.seq for m in msgs(out, BookDelta)] == [11]


def test_in_order_delta_goes_to_the_book() -> None:
    f = _synced(10)
    out = f.on_delta(_delta(11), 5)
    assert out == [("book.x:S", BookDelta("x", "S", 11, 11, 5, [(100, 11)], []))]


def test_duplicate_is_ignored_and_counted() -> None:
    f = _synced(10)
    f.on_delta(_delta(11), 5)
    assert f.on_delta(_delta(11), 6) == []
    assert f.on_delta(_delta(5), 7) == []
    assert f.duplicates == 2
    assert f.resyncs == 0


def test_gap_invalidates_at_once_and_resyncs_once() -> None:
    f = _synced(10)
    out = f.on_delta(_delta(12), 5)
    assert msgs(out, BookInvalid)[0].reason == "gap"
    assert msgs(out, SnapshotReq) == [SnapshotReq(sym="S")]
    assert f.gaps == 1 and f.resyncs == 1
    # more deltas while resyncing are buffered, not re-requested
    assert f.on_delta(_delta(13), 6) == []
    out = f.on_snapshot(Snapshot(sym="S", seq=12, ts=0, b=[], a=[]), 7)
    assert [m.seq for m in msgs(out, BookDelta)] == [13]
    assert f.resyncs == 1


def test_snapshot_older_than_buffer_with_hole_retries() -> None:
    f = _synced(10)
    f.on_delta(_delta(15), 5)  # gap -> resync, buffer [15]
    out = f.on_snapshot(Snapshot(sym="S", seq=12, ts=0, b=[], a=[]), 6)  # 13, 14 missing
    assert msgs(out, SnapshotReq) == [SnapshotReq(sym="S")]
    assert f.syms["S"].state == "RESYNCING"
    assert f.resyncs == 2


def test_heartbeat_reveals_a_silent_gap() -> None:
    f = _synced(10)
    out = f.on_heartbeat(Heartbeat(ts=1, seqs={"S": 11}), 5)
    assert msgs(out, BookInvalid)[0].reason == "gap_hb"
    assert f.on_heartbeat(Heartbeat(ts=1, seqs={"S": 10}), 6) == []


def test_sequence_reset_is_a_full_resync_not_a_duplicate() -> None:
    f = _synced(500)
    out = f.on_delta(_delta(1), 5)
    assert msgs(out, BookInvalid)[0].reason == "seq_reset"
    assert f.duplicates == 0
    out = f.on_snapshot(Snapshot(sym="S", seq=0, ts=0, b=[], a=[]), 6)
    assert [m.seq for m in msgs(out, BookDelta)] == [1]
    assert f.syms["S"].last_seq == 1


def test_book_rejection_triggers_one_resync() -> None:
    from transports.messages import Control

    f = _synced(10)
    out = f.on_control(Control("resync", "S"), 5)
    assert msgs(out, SnapshotReq) == [SnapshotReq(sym="S")]
    assert f.on_control(Control("resync", "S"), 6) == []  # already resyncing
    assert f.resyncs == 1


def test_undecodable_frame_resyncs_synced_symbols() -> None:
    f = _synced(10)
    from transports.messages import BadFrame

    out = f.on_bad_frame(BadFrame("md", "junk"), 5)
    assert msgs(out, SnapshotReq) == [SnapshotReq(sym="S")]
    assert f.rejects == 1
