"""``stats.summarize``: latency from the schedule, counts that add up, and ``sustained``
telling a steady run from one whose backlog grows (made-up stamps, no clock)."""

from __future__ import annotations

import numpy as np

from scripts.bench.orders.stats import outstanding_series, schedule_ns, split, summarize

RATE = 1000.0
N = 3000  # three seconds


def _steady(service_ns: int = 200_000) -> tuple[np.ndarray, ...]:
    sched = schedule_ns(1_000_000_000, RATE, N)
    sent = sched + 10_000
    ack = sent + service_ns
    return sched, sent, ack, ack + 5_000


def test_schedule_is_open_loop_at_the_rate() -> None:
    s = schedule_ns(0, 10_000.0, 5)
    assert list(s) == [0, 100_000, 200_000, 300_000, 400_000]


def test_a_steady_run_is_sustained_and_its_counts_add_up() -> None:
    r = summarize(RATE, *_steady())
    assert r["scheduled"] == r["sent"] == r["acked"] == r["done"] == N and r["failed"] == 0
    assert r["sustained"] is True
    assert abs(r["achieved_rate"] - RATE) < 1
    # scheduled -> ack is send lag + service (210 µs), within HDR's precision
    assert 209 <= r["latency"]["p50_us"] <= 211 and r["latency"]["n"] == N
    assert sum(s["offered"] for s in r["per_second"]) == N
    assert sum(s["acked"] for s in r["per_second"]) == N


def test_latency_counts_from_the_schedule_so_a_late_sender_is_not_hidden() -> None:
    sched, _, _, _ = _steady()
    # the sender stalls 50 ms once, then sends everything it owes at once
    sent = sched.copy()
    late = (sched >= sched[1000]) & (sched < sched[1000] + 50_000_000)
    sent[late] = sched[1000] + 50_000_000
    ack = sent + 100_000
    r = summarize(RATE, sched, sent, ack, ack)
    assert r["latency"]["max_us"] >= 50_000  # the first late order waited the whole stall
    assert r["service"]["max_us"] < 200  # what the venue alone would have shown


def test_a_growing_backlog_is_not_sustained() -> None:
    sched = schedule_ns(0, RATE, N)
    # the pipeline serves at 80 % of the offered rate: acks fall further behind every second
    ack = (np.arange(N) * (1e9 / (0.8 * RATE))).astype(np.int64) + 100_000
    r = summarize(RATE, sched, sched.copy(), ack, ack)
    assert r["sustained"] is False
    assert r["backlog_last_s"] > 2 * r["backlog_first_s"]
    assert r["achieved_rate"] < 0.85 * RATE


def test_unacked_and_failed_orders_break_sustained_and_are_counted() -> None:
    sched, sent, ack, done = _steady()
    ack[5] = done[5] = -1  # never answered
    r = summarize(RATE, sched, sent, ack, done, failed=1)
    assert (r["acked"], r["done"], r["failed"], r["sustained"]) == (N - 1, N - 1, 1, False)


def test_outstanding_is_scheduled_minus_acked_at_each_point() -> None:
    sched = np.array([0, 10, 20, 30])
    ack = np.array([15, 16, -1, 35])
    grid, out = outstanding_series(sched, ack, 0, 40, 10)
    assert list(grid) == [0, 10, 20, 30, 40]
    assert list(out) == [1, 2, 1, 2, 1]


def test_a_queue_that_stood_from_the_first_second_is_not_sustained() -> None:
    """The pipeline fell half a second behind at once, then kept pace: its backlog is flat
    (the growth test alone passes it) but half a second of orders is queued all along."""
    sched = schedule_ns(1_000_000_000, RATE, 4 * int(RATE))  # 4 s: one-second windows
    sent = sched + 10_000
    ack = sched + 500_000_000
    r = summarize(RATE, sched, sent, ack, ack)
    assert r["backlog_last_s"] <= 2 * r["backlog_first_s"] + 2  # not growing...
    assert abs(r["achieved_rate"] - RATE) < 1  # ...at the full rate...
    assert r["sustained"] is False  # ...yet 500 orders wait: not keeping up
    r = summarize(RATE, sched, sent, sched + 50_000_000, sched + 50_000_000)
    assert r["sustained"] is True  # 50 orders waiting (50 ms): within MAX_QUEUE_S


def test_split_cuts_each_round_trip_where_the_executor_took_it() -> None:
    sent = np.array([0, 1_000_000, 2_000_000, 3_000_000])
    routed = sent + np.array([100_000, 200_000, 300_000, 0])
    routed[3] = -1  # denied before a cycle stamped it: not in either part
    ack = routed + 500_000
    ack[3] = -1
    s = split(sent, routed, ack)
    assert s["to_executor"]["n"] == s["executor_to_ack"]["n"] == 3
    assert 199 <= s["to_executor"]["p50_us"] <= 201
    assert 499 <= s["executor_to_ack"]["p50_us"] <= 501
