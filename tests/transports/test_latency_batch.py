"""The latency recorder buffers samples and counts them in batches (``transports.latency``):
every read must still see every sample since the last reset, counted exactly where a
one-by-one record would have put it, once, even while another thread records."""

from __future__ import annotations

import random
import threading

import numpy as np

from transports.hdr import HIGHEST_NS, LatencyHist
from transports.latency import FOLD_EVERY, LatencyRecorder


def _one_by_one(values: list[int]) -> LatencyHist:
    h = LatencyHist()
    for v in values:
        h.record(v)
    return h


def _same(a: LatencyHist, b: LatencyHist) -> bool:
    return (a.hdr.equals(b.hdr) and a.count == b.count and a.negative == b.negative
            and a.min_ns() == b.min_ns() and a.max_ns() == b.max_ns())


def test_batched_counts_equal_one_by_one_records() -> None:
    """Across several folds and a partial batch: the histogram of one-by-one records (signed
    samples, beyond the 60 s bound, beyond int64), the count, and the last ``capacity`` in
    order."""
    rng = random.Random(11)
    values = [int(rng.lognormvariate(10, 3)) * rng.choice((1, 1, 1, -1))
              for _ in range(3 * FOLD_EVERY + 77)]
    values[5:8] = [HIGHEST_NS + 1, -HIGHEST_NS - 5, 1 << 70]  # clamped like ``record``
    rec = LatencyRecorder(capacity=100)
    record = rec.recorder("md_wire")
    for v in values:
        record(v)
    assert rec.count("md_wire") == len(values)
    expected = [min(max(v, -HIGHEST_NS), HIGHEST_NS) for v in values]
    assert _same(rec.hist("md_wire"), _one_by_one(expected))
    assert rec.samples("md_wire").tolist() == values[-100:]
    assert rec.summary_us()["md_wire"]["count"] == len(values)
    # a read in the middle of a batch, then more samples: nothing counted twice
    for v in values[:10]:
        rec.record("md_wire", v)
    assert _same(rec.hist("md_wire"), _one_by_one(expected + expected[:10]))


def test_reset_forgets_pending_samples_and_the_bound_recorder_stays_valid() -> None:
    rec = LatencyRecorder(capacity=8)
    record = rec.recorder("hop")
    for v in range(1, FOLD_EVERY + 10):  # one fold and some pending
        record(v)
    rec.reset()
    assert rec.count("hop") == 0 and rec.hist("hop").count == 0
    assert rec.samples("hop").tolist() == []
    for v in (5, 6, 7):
        record(v)
    assert rec.count("hop") == 3 and rec.hist("hop").count == 3
    assert rec.samples("hop").tolist() == [5, 6, 7]
    assert rec.hops() == ["hop"]


def test_encode_and_merge_carry_pending_samples() -> None:
    """A node's histogram sent to another process includes what was not folded yet."""
    a = LatencyRecorder()
    for v in range(1, 51):
        a.record("tick_to_order", v * 1_000)
    merged = LatencyRecorder()
    merged.merge_encoded(a.encode())
    assert merged.count("tick_to_order") == 50
    assert _same(merged.hist("tick_to_order"), _one_by_one([v * 1_000 for v in range(1, 51)]))


def test_a_reader_during_recording_counts_every_sample_once() -> None:
    """One thread records (folding every ``FOLD_EVERY``) while another reads the histogram,
    the count and the samples: at the end, each sample is counted exactly once and every read
    was consistent (counts never fall, the histogram never holds more than was recorded)."""
    rec = LatencyRecorder(capacity=64)
    n = 20 * FOLD_EVERY + 3
    values = (np.arange(n, dtype=np.int64) * 7919 % 5_000_000).tolist()
    done = threading.Event()
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not done.is_set():
                c = rec.count("hop")
                h = rec.hist("hop").count
                seen.append((c, h))
                rec.samples("hop")
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    record = rec.recorder("hop")
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        for v in values:
            record(v)
    finally:
        done.set()
        t.join(10)
    assert errors == []
    assert all(h <= n and c <= n for c, h in seen)
    assert [c for c, _ in seen] == sorted(c for c, _ in seen)
    assert rec.count("hop") == n
    assert _same(rec.hist("hop"), _one_by_one(values))
    assert rec.samples("hop").tolist() == values[-64:]
