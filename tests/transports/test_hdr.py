"""The HDR latency histograms: the library's own bucketing, signed samples, merge across
processes, constant memory, and the recorder built on them."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
from hdrh.histogram import HdrHistogram

from transports.hdr import HIGHEST_NS, LOWEST_NS, SIGNIFICANT_DIGITS, LatencyHist
from transports.latency import LatencyRecorder

VALUES = [0, 1, 2, 1023, 2047, 2048, 2049, 4095, 4096, 25_340, 999_999, 1_000_001,
          123_456_789, 59_999_999_999, HIGHEST_NS]


def _lib(values: list[int]) -> HdrHistogram:
    h = HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)
    for v in values:
        assert h.record_value(v)
    return h


def test_record_is_the_librarys_bucketing() -> None:
    """The fast in-place record lands every value where the library's record_value does."""
    rng = random.Random(7)
    values = VALUES + [int(rng.lognormvariate(10, 3)) % HIGHEST_NS for _ in range(5000)]
    ours = LatencyHist()
    for v in values:
        ours.record(v)
    assert ours.hdr.equals(_lib(values))
    bulk = LatencyHist.of(values)  # the vectorised path too
    assert bulk.hdr.equals(_lib(values))


def test_percentiles_match_the_library_and_numpy() -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(10, 1, 20_000).astype(np.int64)
    ours = LatencyHist.of(values)
    lib = _lib(values.tolist())
    qs = (50, 90, 99, 99.9, 100)
    assert ours.percentiles_ns(qs) == [lib.get_value_at_percentile(q) for q in qs]
    for q, v in zip(qs, ours.percentiles_ns(qs), strict=True):
        exact = float(np.percentile(values, q))
        assert abs(v - exact) <= 0.002 * exact + 2, (q, v, exact)  # 3 significant digits
    assert ours.count == len(values)
    assert ours.max_ns() == lib.get_max_value()


def test_negative_samples_are_kept_counted_and_ranked() -> None:
    """Two clocks' stamps: negative samples count in the percentiles, with their own count and
    the minimum; never folded into 0."""
    h = LatencyHist()
    for ns in (-3_000, 5_000, 7_000, -1_000, 9_000):
        h.record(ns)
    assert h.count == 5 and h.negative == 2
    assert h.percentiles_ns([0, 20, 40, 60, 100]) == [-3_001, -3_001, -1_000, 5_003, 9_007]
    assert h.min_ns() == -3_001 and h.max_ns() == 9_007  # bucket tops
    s = h.summary_us((50, 99), 1)
    assert (s["count"], s["negative"], s["min"], s["p50"]) == (5, 2, -3.0, 5.0)
    only_neg = LatencyHist.of([-10, -20])
    assert only_neg.max_ns() == -10 and only_neg.min_ns() == -20
    assert "negative" not in LatencyHist.of([1, 2]).summary_us()


def test_beyond_the_range_is_counted_at_its_top() -> None:
    h = LatencyHist.of([HIGHEST_NS * 10, -HIGHEST_NS * 10, 5])
    assert h.count == 3 and h.negative == 1
    assert h.max_ns() >= HIGHEST_NS


def test_merge_and_encode_across_a_process() -> None:
    """Another process encodes its histogram; decoded and merged here it is the histogram of
    both processes' samples."""
    code = ("from transports.hdr import LatencyHist; "
            "print(LatencyHist.of([100, 200, -50, 3_000_000]).encode())")
    text = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()
    assert text.isascii() and ";" in text  # the negative samples travel too
    here = LatencyHist.of([400, 500])
    here.merge(LatencyHist.decode(text))
    both = LatencyHist.of([100, 200, -50, 3_000_000, 400, 500])
    assert here.hdr.equals(both.hdr)
    assert (here.count, here.negative) == (6, 1)
    assert here.percentiles_ns([0, 50, 100]) == both.percentiles_ns([0, 50, 100])


def test_memory_is_constant() -> None:
    """A million samples take the counts a single one does: no list grows."""
    one = LatencyHist.of([5])
    many = LatencyHist.of(np.arange(1_000_000, dtype=np.int64) * 977)
    assert len(many.hdr.counts) == len(one.hdr.counts)
    assert many.count == 1_000_000
    rec = LatencyRecorder(capacity=8)
    for i in range(100):
        rec.record("hop", i)
    assert rec.count("hop") == 100
    assert rec.samples("hop").tolist() == list(range(92, 100))  # the last 8, oldest first
    assert rec.summary_us()["hop"]["count"] == 100


def test_prometheus_buckets_and_sum() -> None:
    h = LatencyHist.of([500, 1_500, 1_500, 20_000, -10])
    assert h.bucket_counts([0, 1_000, 2_000, 100_000]) == [1, 2, 4, 5]
    assert abs(h.sum_ns() - (500 + 1_500 + 1_500 + 20_000 - 10)) <= 20


def test_recorder_merges_nodes() -> None:
    """The launcher's view: node recorders' histograms added up per hop."""
    a, b = LatencyRecorder(), LatencyRecorder()
    for i in range(1, 101):
        a.record("tick_to_order", i * 1_000)
        b.record("tick_to_order", i * 1_000 + 100_000)
    b.record("md_wire", -2_000)
    merged = LatencyRecorder()
    merged.merge_encoded(a.encode())
    merged.merge_encoded(b.encode())
    s = merged.summary_us()
    assert s["tick_to_order"]["count"] == 200
    assert 99.0 <= s["tick_to_order"]["p50"] <= 101.0
    assert s["md_wire"]["negative"] == 1 and s["md_wire"]["min"] == -2.0
    merged.reset()
    assert merged.summary_us() == {}


def test_report_percentiles_use_the_histogram() -> None:
    from scripts.report.data import latency_percentiles

    r = latency_percentiles({"send→ack": [100.0, 200.0, 300.0], "empty": [], "skew": [-5.0, 1.0]})
    assert set(r) == {"send→ack", "skew"}
    assert r["send→ack"]["count"] == 3
    assert 200.0 <= r["send→ack"]["p50"] <= 200.2  # the top of 200 µs's bucket (3 digits)
    assert r["skew"]["negative"] == 1 and r["skew"]["min"] == -5.0
