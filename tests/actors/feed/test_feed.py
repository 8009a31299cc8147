"""FeedCore: sequence integrity and resync, driven directly with integer times."""

from __future__ import annotations

from actors.feed import FeedCore
from tests.support.helpers import msgs
from transports.wire.messages import BookDelta, BookInvalid, BookSnapshot
from transports.wire.venue_msgs import Delta, Heartbeat, Snapshot, SnapshotReq


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
    from transports.wire.messages import Resync

    f = _synced(10)
    f.on_delta(_delta(11), 4)
    out = f.handle(Resync("S"), 5)
    assert msgs(out, SnapshotReq) == [SnapshotReq(sym="S")]
    assert f.handle(Resync("S"), 6) == []  # already resyncing
    assert f.handle(Resync("nope"), 6) == []  # not a symbol of this feed
    assert f.resyncs == 1
    # the new snapshot is itself unusable (crossed): another one is fetched, as a retry
    f.on_snapshot(Snapshot(sym="S", seq=12, ts=0, b=[], a=[]), 7)
    out = f.handle(Resync("S"), 8)
    assert msgs(out, SnapshotReq) == [SnapshotReq(sym="S")]
    assert f.resyncs == 1


def test_each_symbol_has_its_own_snapshot_timer_named_by_arg() -> None:
    from transports.wire.messages import SetTimer, Timer

    f = FeedCore("feed.x", "x", ["S", "T"], {"S": "book.x:S", "T": "book.x:T"}, [], [],
                 snapshot_retry_ms=1000)
    out = f.on_start(0)
    # one constant key, the symbol in arg: two timers, neither replacing the other
    assert [m for m in msgs(out, SetTimer) if m.key == "snap"] == [
        SetTimer("snap", 1_000_000_000, "S"), SetTimer("snap", 1_000_000_000, "T")]
    out = f.on_snapshot(Snapshot(sym="S", seq=1, ts=0, b=[], a=[]), 5)
    assert SetTimer("snap", 0, "S") in msgs(out, SetTimer)  # S's timer cancelled, T's kept
    # T's snapshot did not come: its timer asks again for T only and re-arms itself
    out = f.handle(Timer("snap", 1_000_000_000, "T"), 1_000_000_000)
    assert msgs(out, SnapshotReq) == [SnapshotReq(sym="T")]
    assert msgs(out, SetTimer) == [SetTimer("snap", 2_000_000_000, "T")]
    # a late timer of a symbol already synced asks for nothing
    assert f.handle(Timer("snap", 1_000_000_000, "S"), 1_000_000_000) == []


def test_undecodable_frame_resyncs_synced_symbols() -> None:
    f = _synced(10)
    from transports.wire.messages import BadFrame

    out = f.on_bad_frame(BadFrame("md", "junk"), 5)
    assert msgs(out, SnapshotReq) == [SnapshotReq(sym="S")]
    assert f.rejects == 1


def _timer(out: list, key: str) -> int:
    from transports.wire.messages import SetTimer

    due = [m.due_ns for _, m in out if isinstance(m, SetTimer) and m.key == key]
    return due[-1] if due else -1


def test_no_heartbeat_makes_the_feed_stale_and_reconnects_with_growing_backoff() -> None:
    from transports.wire.messages import Reconnect, Timer

    f = FeedCore("feed.x", "x", ["S"], {"S": "book.x:S"}, [], ["risk"], stale_after_ms=1000,
                 backoff_ms=200, backoff_max_ms=5000, seed=1)
    f.on_start(0)
    f.on_snapshot(Snapshot(sym="S", seq=1, ts=0, b=[], a=[]), 1)
    assert f.on_timer(Timer("health", 900_000_000), 900_000_000) is not None
    assert f.state != "STALE"
    out = f.on_timer(Timer("health", 1_100_000_000), 1_100_000_000)
    assert f.state == "STALE" and f.stale_periods == 1
    assert msgs(out, BookInvalid)[0].reason == "stale"
    assert [m.key for m in msgs(out, Reconnect)] == ["md", "ref"]
    first = _timer(out, "reconnect") - 1_100_000_000
    assert 100_000_000 <= first <= 200_000_000  # 200 ms with jitter on its upper half
    delays = [first]
    t = 1_100_000_000
    for _ in range(5):
        t += delays[-1]
        out = f.on_timer(Timer("reconnect", t), t)
        delays.append(_timer(out, "reconnect") - t)
    assert delays[-1] > delays[0] * 4  # exponential
    assert max(delays) <= 5_000_000_000
    # the venue talks again: each book comes back only through a fresh snapshot
    out = f.on_heartbeat(Heartbeat(ts=t, seqs={"S": 1}), t + 1)
    assert msgs(out, SnapshotReq) == [SnapshotReq(sym="S")]
    assert f.syms["S"].state == "RESYNCING"


def test_jitter_is_deterministic_per_seed() -> None:
    from transports.wire.messages import Timer

    def run(seed: int) -> int:
        f = FeedCore("feed.x", "x", ["S"], {"S": "b"}, [], [], stale_after_ms=10, seed=seed)
        f.on_start(0)
        return _timer(f.on_timer(Timer("health", 50_000_000), 50_000_000), "reconnect")

    assert run(3) == run(3)


def test_a_quiet_book_is_flagged_once_and_cleared_by_the_next_delta() -> None:
    from transports.wire.messages import Timer

    f = FeedCore("feed.x", "x", ["S"], {"S": "book.x:S"}, [], [], book_stale_after_ms=500)
    f.on_start(0)
    f.on_snapshot(Snapshot(sym="S", seq=1, ts=0, b=[], a=[]), 0)
    f.on_heartbeat(Heartbeat(ts=0, seqs={"S": 1}), 400_000_000)
    out = f.on_timer(Timer("health", 600_000_000), 600_000_000)
    assert [m.reason for m in msgs(out, BookInvalid)] == ["book_stale"]
    f.on_heartbeat(Heartbeat(ts=0, seqs={"S": 1}), 650_000_000)
    assert msgs(f.on_timer(Timer("health", 700_000_000), 700_000_000), BookInvalid) == []
    assert f.on_delta(_delta(2), 710_000_000)[0][1].seq == 2
    assert f.syms["S"].quiet is False and f.resyncs == 0


def test_clock_offset_and_latency_from_the_fastest_ping() -> None:
    from transports.wire.venue_msgs import Pong

    f = _synced()
    offset = 5_000_000  # the venue's clock runs 5 ms ahead of ours
    # a slow round trip, then a fast one: the fast one wins
    f.on_pong(Pong(ts=1_000 + 900_000 + offset, echo=1_000), 1_000 + 2_000_000)
    f.on_pong(Pong(ts=3_000_000 + 50_000 + offset, echo=3_000_000), 3_000_000 + 100_000)
    got_offset, one_way = f.clock()
    assert got_offset == offset and one_way == 50_000
    assert f.snapshot()["clock_offset_us"] == 5000.0


def test_a_version_1_pong_gives_the_round_trip_and_heartbeats_the_offset() -> None:
    """A v1 gateway answers ``{"t":"pong","ts": <the ping's ts>}``: the round trip is known,
    the venue's time is not; the offset then comes from the heartbeats less one way."""
    from transports.wire.venue_msgs import Heartbeat, Pong

    f = _synced()
    offset = 5_000_000  # the venue's clock runs 5 ms ahead of ours
    f.on_pong(Pong(ts=1_000), 1_000 + 400_000)  # round trip 400 µs
    assert f.calib.clock_samples == [] and f.calib.rtt_samples == [400_000]
    sent = 10_000_000  # a heartbeat stamped by the venue, received one way (200 µs) later
    f.on_heartbeat(Heartbeat(ts=sent + offset, seqs={}), sent + 200_000)
    assert f.clock() == (offset, 200_000)


def test_repeated_resyncs_back_off_instead_of_hammering_the_venue() -> None:
    f = _synced(10)
    seq = 10
    asked = 0
    for i in range(6):
        seq += 2  # a gap every time
        out = f.on_delta(_delta(seq), 100 + i)
        asked += len(msgs(out, SnapshotReq))
        f.on_snapshot(Snapshot(sym="S", seq=seq, ts=0, b=[], a=[]), 200 + i)
    assert f.resyncs == 6
    assert asked < 6  # the later ones wait for the backoff timer


def test_a_delta_next_in_line_is_still_buffered_while_resyncing() -> None:
    """The in-order path is taken only by a synced book: the very first delta (seq 1, next
    after the initial 0) and one next in line after a gap wait for the snapshot."""
    f = _feed()
    f.on_start(0)
    assert f.on_delta(_delta(1), 1) == []  # next in line, but no snapshot yet
    assert f.syms["S"].buffer[0].seq == 1
    out = f.on_snapshot(Snapshot(sym="S", seq=0, ts=0, b=[], a=[]), 2)
    assert [m.seq for m in msgs(out, BookDelta)] == [1]
    f.on_delta(_delta(3), 3)  # a gap: resyncing again, last_seq stays 1
    assert f.syms["S"].state == "RESYNCING"
    assert f.on_delta(_delta(2), 4) == []  # next after last_seq, buffered all the same
    assert [d.seq for d in f.syms["S"].buffer] == [3, 2]


def test_a_feed_pickled_before_its_clock_helper_loads_and_goes_on_alike() -> None:
    """A checkpoint pickled by the code before ``FeedClock`` held the clock samples on the
    core itself: it loads with them in ``calib`` and answers as the feed it was."""
    import pickle

    from actors.feed_clock import FeedClock
    from transports.wire.venue_msgs import Heartbeat, Pong

    def traffic(f: FeedCore, t0: int) -> list:
        out = f.on_pong(Pong(ts=t0 + 61_000 + 5_000_000, echo=t0 + 1_000), t0 + 100_000)
        out += f.on_heartbeat(Heartbeat(ts=t0 + 5_000_000, seqs={"S": 1}), t0 + 300_000)
        return [*out, *f.on_delta(_delta(2 + t0 // 10_000_000), t0 + 400_000), f.clock()]

    live = _synced()
    traffic(live, 0)
    old_state = pickle.loads(pickle.dumps(live)).__dict__
    calib = old_state.pop("calib")
    old_state.update(clock_samples=calib.clock_samples, hb_deltas=calib.hb_deltas,
                     rtt_samples=calib.rtt_samples)  # as the old code pickled it
    loaded = FeedCore.__new__(FeedCore)
    loaded.__setstate__(old_state)
    assert isinstance(loaded.calib, FeedClock) and not hasattr(loaded, "clock_samples")
    assert loaded.calib.clock_samples == live.calib.clock_samples != []
    assert loaded.calib.hb_deltas == live.calib.hb_deltas != []
    for t0 in (10_000_000, 20_000_000):
        assert traffic(loaded, t0) == traffic(live, t0)
    assert loaded.snapshot() == live.snapshot()
