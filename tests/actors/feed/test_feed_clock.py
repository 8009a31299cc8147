"""FeedClock keeps the best (smallest round trip) version 2 sample as samples come and leave the
window, so the health timer does not walk the window: the answers are those of ``min`` over
the window, in every order of samples, also for a clock pickled before it kept the best; and
the feed's health tick sends what it sent."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.feed import FeedCore
from actors.feed_clock import CLOCK_WINDOW, FeedClock
from transports.wire.messages import FeedHealth, SetTimer, Timer
from transports.wire.venue_msgs import Heartbeat, Pong

# (rtt, venue stamp offset) pairs: from few distinct values (equal samples and ties) or many (a
# best that is the only one of its kind, then leaves the window)
pong_st = st.one_of(st.tuples(st.integers(1, 6), st.integers(-3, 3)),
                    st.tuples(st.integers(1, 10_000), st.integers(-1_000, 1_000)))


def _reference_clock(pongs: list[tuple[int, int]]) -> tuple[int, int]:
    """The clock before: ``min`` over the last ``CLOCK_WINDOW`` (rtt, offset) samples."""
    rtt, offset = min(pongs[-CLOCK_WINDOW:])
    return offset, rtt // 2


def _pong(c: FeedClock, t_ns: int, rtt: int, offset: int) -> None:
    """A version 2 pong received at ``t_ns``, ``rtt`` after its ping, stamped by a venue clock
    ``offset`` ahead of ours half way through."""
    echo = t_ns - rtt
    c.on_pong(Pong(ts=offset + (echo + t_ns) // 2, echo=echo), t_ns)


@settings(max_examples=40, deadline=None)
@given(pongs=st.lists(pong_st, min_size=CLOCK_WINDOW // 2, max_size=3 * CLOCK_WINDOW),
       asks=st.sets(st.integers(0, 3 * CLOCK_WINDOW)), reload_at=st.integers(0, 200))
def test_the_clock_is_the_min_over_the_window_in_any_order(pongs, asks, reload_at) -> None:
    # a best kept wrong (not dropped when it leaves the window, a newer smaller one missed)
    # answers another offset than the min over the window
    c = FeedClock()
    seen: list[tuple[int, int]] = []
    t = 1_000_000
    for i, (rtt, offset) in enumerate(pongs):
        t += 1_000
        _pong(c, t, rtt, offset)
        seen.append((rtt, offset))
        if i == reload_at:  # a checkpoint of the code before: no kept best
            state = pickle.loads(pickle.dumps(c)).__dict__
            state.pop("_best", None)
            c = FeedClock.__new__(FeedClock)
            c.__dict__.update(state)
        if i in asks:
            assert c.clock() == _reference_clock(seen)
    assert c.clock_samples == seen[-CLOCK_WINDOW:]
    assert c.clock() == _reference_clock(seen)


def test_the_best_leaving_the_window_gives_way_to_the_best_left() -> None:
    c = FeedClock()
    _pong(c, 1_000, 10, 5)  # the fastest round trip, once
    for k in range(CLOCK_WINDOW - 1):
        _pong(c, 2_000 + k, 40 + k, -k)
    assert c.clock() == (5, 5)
    _pong(c, 9_000, 90, 1)  # the fastest leaves: the next best is the first slow one
    assert c.clock() == (0, 20)
    _pong(c, 9_500, 30, 2)
    assert c.clock() == (2, 15)


def test_heartbeats_alone_and_version_1_pongs_answer_as_before() -> None:
    c = FeedClock()
    assert c.clock() == (0, 0)
    for k in range(CLOCK_WINDOW + 5):
        c.on_heartbeat(1_000 + k, 1_000 + k + 300 + (k * 7) % 50)
    c.on_pong(Pong(ts=10), 410)  # version 1: a round trip of 400
    assert c.clock() == (200 - min(c.hb_deltas), 200)
    _pong(c, 5_000, 100, 7)  # version 2: it rules from now on
    assert c.clock() == (7, 50)


def _feed() -> FeedCore:
    return FeedCore("feed.x", "x", ["S", "T"], {"S": "book.x:S", "T": "book.x:T"},
                    status_to=["strategy.p"], health_to=["risk", "strategy.p", "leg.x"])


def test_the_health_tick_sends_what_it_did_and_decays_only_synced_resync_counts() -> None:
    f = _feed()
    f.on_start(0)
    f.syms["S"].state = "SYNCED"
    f.syms["S"].recent_resyncs = 2
    f.syms["T"].recent_resyncs = 3  # resyncing: its count waits
    f.on_heartbeat(Heartbeat(ts=50, seqs={}), 100)
    _pong(f.calib, 200, 40, 9)
    out = f.on_timer(Timer("health", 100_000_000), 100_000_000)
    h = FeedHealth("x", "CONNECTING", 0, 0, 0, 0, 100, 100_000_000, 0, 9, 20, 0)
    assert out == [("risk", h), ("strategy.p", h), ("leg.x", h),
                   ("@timer", SetTimer("health", 200_000_000))]
    assert (f.syms["S"].recent_resyncs, f.syms["T"].recent_resyncs) == (1, 3)
    for k in range(3):
        f.on_timer(Timer("health", 200_000_000 + k), 200_000_000 + k)
    assert (f.syms["S"].recent_resyncs, f.syms["T"].recent_resyncs) == (0, 3)
