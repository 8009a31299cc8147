"""Signed latency histograms on HdrHistogram (``hdrhistogram``): constant memory, mergeable.

Range and precision: 1 ns .. 60 s at 3 significant digits (values up to 2,048 ns exactly, above
that within 0.05 %); a value beyond 60 s is counted at 60 s. The counts take a fixed ~220 KB
whatever the number of samples, and two histograms (two nodes, two runs) add up exactly
(``merge``); ``encode``/``decode`` carry one across processes as an ASCII string (the HdrHistogram
V2 wire format, base64).

Samples are signed: a hop whose two stamps come from two clocks (the venue's and ours, two
processes' anchors) can be negative by their disagreement. HdrHistogram holds no negative
value, so those are kept in a second histogram of their magnitudes, made on the first one; the
percentiles are those of all samples together, ``negative`` counts them and ``min_ns`` is the
most negative.

Recording is the hot path's cost (a few per tick; ``transports.latency`` batches them into
``record_many``, a few µs per thousand samples): ``record`` computes the library's own counts
index (``HdrHistogram.get_counts_array_index``, the same formula, tested against it) and adds 1
in place, ~0.2 µs; the library's ``record_value`` costs ~0.8 µs. The totals and the min/max the
library keeps per record are set from the counts when read (``_sync``), with the library's
``set_internal_tacking_values`` (what its decoder uses).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_NS = 1
HIGHEST_NS = 60_000_000_000  #: 60 s; a longer sample is counted at 60 s
SIGNIFICANT_DIGITS = 3


def _new() -> HdrHistogram:
    return HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)


_PROTO = _new()
# the library's index formula, unrolled with its constants (``_counts_index_for``)
_MASK = _PROTO.sub_bucket_mask
_UNIT = _PROTO.unit_magnitude
_HALF_MAG = _PROTO.sub_bucket_half_count_magnitude
_HALF = _PROTO.sub_bucket_half_count
_SHIFT = _UNIT + _HALF_MAG + 1
COUNTS_LEN = _PROTO.counts_len
del _PROTO


def _index(ns: int) -> int:
    b = (ns | _MASK).bit_length() - _SHIFT
    return ((b + 1) << _HALF_MAG) + (ns >> (b + _UNIT)) - _HALF


def _indices(ns: np.ndarray) -> np.ndarray:
    """``_index`` of non-negative int64 values, vectorised (frexp's exponent is bit_length)."""
    b = np.frexp((ns | _MASK).astype(np.float64))[1].astype(np.int64) - _SHIFT
    return ((b + 1) << _HALF_MAG) + (ns >> (b + _UNIT)) - _HALF


def _view(h: HdrHistogram) -> np.ndarray:
    return np.ctypeslib.as_array(h.counts)


def _sync(h: HdrHistogram) -> int:
    """Set the library's total, min and max from the counts; return the total."""
    # a copy: another thread may be recording into ``h`` (a summary or /metrics read while the
    # hot thread runs), and ``flatnonzero`` over a changing array raises ("number of non-zero
    # array elements changed during function execution": a crypto demo died of it)
    counts = _view(h).copy()
    nz = np.flatnonzero(counts)
    total = int(counts.sum())
    if total:
        h.set_internal_tacking_values(int(nz[0]), int(nz[-1]), total)
    else:
        h.total_count = 0
    return total


def _value_at_rank(h: HdrHistogram, cum: np.ndarray, rank: int) -> int:
    """The value of the ``rank``-th sample (1-based) of ``h``, as HdrHistogram reports a
    percentile (the highest value equivalent to its bucket)."""
    i = int(np.searchsorted(cum, rank))
    return int(h.get_highest_equivalent_value(h.get_value_from_index(i)))


class LatencyHist:
    """One hop's samples in ns (signed), in HdrHistogram's counts."""

    __slots__ = ("_counts", "_neg", "_pos")

    def __init__(self) -> None:
        self._pos = _new()
        self._counts = self._pos.counts
        self._neg: HdrHistogram | None = None  #: magnitudes of the negative samples

    def record(self, ns: int) -> None:
        """Add one sample (ns, may be negative)."""
        if ns < 0:
            self._record_negative(ns)
            return
        if ns > HIGHEST_NS:
            ns = HIGHEST_NS
        b = (ns | _MASK).bit_length() - _SHIFT
        self._counts[((b + 1) << _HALF_MAG) + (ns >> (b + _UNIT)) - _HALF] += 1

    def _record_negative(self, ns: int) -> None:
        if self._neg is None:
            self._neg = _new()
        self._neg.counts[_index(min(-ns, HIGHEST_NS))] += 1

    def record_many(self, ns: Sequence[int] | np.ndarray) -> None:
        """Add many samples at once (ns, may be negative)."""
        a = np.asarray(ns, np.int64)
        if not len(a):
            return
        if a.min() >= 0 and a.max() <= HIGHEST_NS:
            # the usual batch (``LatencyRecorder``'s, every ~1,000 samples): only the buckets
            # up to the largest sample's are added to (no full-length temporaries)
            bc = np.bincount(_indices(a))
            _view(self._pos)[: len(bc)] += bc.astype(np.uint64)
            return
        a = np.clip(a, -HIGHEST_NS, HIGHEST_NS)
        pos, neg = a[a >= 0], -a[a < 0]
        _view(self._pos)[:] += np.bincount(_indices(pos), minlength=COUNTS_LEN).astype(np.uint64)
        if len(neg):
            if self._neg is None:
                self._neg = _new()
            _view(self._neg)[:] += np.bincount(_indices(neg),
                                               minlength=COUNTS_LEN).astype(np.uint64)

    @classmethod
    def of(cls, ns: Iterable[int] | np.ndarray) -> LatencyHist:
        """A histogram of these samples (ns)."""
        h = cls()
        h.record_many(np.fromiter(ns, np.int64) if not isinstance(ns, np.ndarray | list | tuple)
                      else ns)
        return h

    def reset(self) -> None:
        """Forget every sample."""
        _view(self._pos)[:] = 0
        self._neg = None

    # --- reading -------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """How many samples."""
        return int(_view(self._pos).sum()) + self.negative

    @property
    def negative(self) -> int:
        """How many samples were below 0 (two clocks)."""
        return int(_view(self._neg).sum()) if self._neg is not None else 0

    def percentiles_ns(self, percentiles: Sequence[float]) -> list[int]:
        """The value at each percentile (0..100) of all samples, negative ones included, as
        HdrHistogram reports it (the top of the value's bucket); 0 for each if there is none."""
        pos = _view(self._pos)
        pos_cum = np.cumsum(pos)
        n_pos = int(pos_cum[-1])
        neg_cum = np.cumsum(_view(self._neg)) if self._neg is not None else np.zeros(1, np.uint64)
        n_neg = int(neg_cum[-1])
        total = n_pos + n_neg
        out = []
        for p in percentiles:
            if not total:
                out.append(0)
                continue
            # the library's rank for a percentile (``get_target_count_at_percentile``)
            rank = max(1, int(min(p, 100.0) * total / 100 + 0.5))
            if rank <= n_neg:  # the most negative sample is rank 1
                assert self._neg is not None
                out.append(-_value_at_rank(self._neg, neg_cum, n_neg - rank + 1))
            else:
                out.append(_value_at_rank(self._pos, pos_cum, rank - n_neg))
        return out

    def min_ns(self) -> int:
        """The smallest sample (the most negative one if any), to the histogram's precision."""
        if self._neg is not None and _sync(self._neg):
            return -int(self._neg.get_max_value())
        return int(self._pos.get_min_value()) if _sync(self._pos) else 0

    def max_ns(self) -> int:
        """The largest sample, to the histogram's precision."""
        if _sync(self._pos):
            return int(self._pos.get_max_value())
        return -int(self._neg.get_min_value()) if self._neg is not None and _sync(self._neg) else 0

    def summary_us(self, percentiles: Sequence[float] = (50, 99), digits: int = 1
                   ) -> dict[str, Any]:
        """``count``, ``p<q>`` for each percentile (``p99.9`` as ``p999``) and ``max`` in µs
        rounded to ``digits``; with negative samples also ``negative`` and ``min``."""
        out: dict[str, Any] = {"count": self.count}
        for p, v in zip(percentiles, self.percentiles_ns(percentiles), strict=True):
            out[pct_key(p)] = round(v / 1e3, digits)
        out["max"] = round(self.max_ns() / 1e3, digits)
        if self.negative:
            out.update(negative=self.negative, min=round(self.min_ns() / 1e3, digits))
        return out

    # --- merging across processes -------------------------------------------------------------

    def merge(self, other: LatencyHist) -> None:
        """Add ``other``'s samples to these."""
        _view(self._pos)[:] += _view(other._pos)
        if other._neg is not None:
            if self._neg is None:
                self._neg = _new()
            _view(self._neg)[:] += _view(other._neg)

    def encode(self) -> str:
        """The samples as ASCII (HdrHistogram's V2 encoding, base64; the negative ones' after a
        ``;``), for ``decode`` in another process."""
        _sync(self._pos)
        text = self._pos.encode().decode("ascii")
        if self._neg is not None and _sync(self._neg):
            text += ";" + self._neg.encode().decode("ascii")
        return text

    @classmethod
    def decode(cls, text: str) -> LatencyHist:
        """The histogram ``encode`` wrote."""
        h = cls()
        pos, _, neg = text.partition(";")
        h.merge_hdr(HdrHistogram.decode(pos.encode("ascii")), negative=False)
        if neg:
            h.merge_hdr(HdrHistogram.decode(neg.encode("ascii")), negative=True)
        return h

    def merge_hdr(self, other: HdrHistogram, negative: bool = False) -> None:
        """Add a plain HdrHistogram's samples (ns; ``negative``: magnitudes of negative ones)."""
        if negative and self._neg is None:
            self._neg = _new()
        target = self._neg if negative else self._pos
        assert target is not None
        _sync(target)
        target.add(other)  # the library's own merge (it also takes another range)

    @property
    def hdr(self) -> HdrHistogram:
        """The underlying HdrHistogram of the non-negative samples (totals set)."""
        _sync(self._pos)
        return self._pos

    def bucket_counts(self, bounds_ns: Sequence[int]) -> list[int]:
        """Cumulative counts of samples <= each bound (ns), for a Prometheus histogram; negative
        samples are <= every non-negative bound."""
        pos = _view(self._pos)
        cum = np.cumsum(pos)
        n_neg = self.negative
        out = []
        for b in bounds_ns:
            if b < 0:
                out.append(0)  # negative bounds are not used by the exporter
                continue
            i = _index(min(int(b), HIGHEST_NS))
            # a bucket is counted when its whole range is <= b (its top is within the bound)
            top = self._pos.get_highest_equivalent_value(self._pos.get_value_from_index(i))
            j = i if top <= b else i - 1
            out.append(n_neg + (int(cum[j]) if j >= 0 else 0))
        return out

    def sum_ns(self) -> float:
        """The sum of the samples (ns) at the histogram's precision (HdrHistogram's mean, from
        each bucket's middle value, times the count)."""
        total = 0.0
        for h, sign in ((self._pos, 1), (self._neg, -1)):
            if h is not None:
                n = _sync(h)
                total += sign * h.get_mean_value() * n if n else 0.0
        return total


def pct_key(p: float) -> str:
    """The key of a percentile: 50 -> ``p50``, 99.9 -> ``p999``."""
    return "p" + f"{p:g}".replace(".", "")


__all__ = ["HIGHEST_NS", "LOWEST_NS", "SIGNIFICANT_DIGITS", "LatencyHist", "pct_key"]
