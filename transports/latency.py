"""Latency per hop: an HdrHistogram of every sample since the last reset (``transports.hdr``:
constant memory, mergeable across nodes) and a short ring of the most recent samples.

Recording is on the hot path (every venue frame's ``md_wire``, every order's hops), so a sample
is only appended to the hop's pending buffer (~0.07 µs, a C-level append); every ``FOLD_EVERY``
samples, and before anything reads the hop, the pending ones are counted into the histogram in
one vectorised step (``LatencyHist.record_many``, ~20 µs for 1,024) and join the ring of the
last ``capacity``. So every read sees every sample since the last reset, counted exactly as if
each had been counted when it was recorded (the same buckets). The histogram gives the
percentiles (``summary_us``) and crosses processes (``encode``/``merge_encoded``: the
multi-process bench and the launcher add the nodes' histograms up); the ring keeps the last
``capacity`` samples in order, for what needs their sequence (the bench's "was the queue still
growing at the end of the run").

Threads: one thread records a hop (the host that owns it); another may read it meanwhile (a
summary, ``/metrics``, the bench a quarter into a run). The recorder only appends (atomic);
moving the pending samples into the histogram and the ring (the recorder's fold or a reader's)
and every read of them happen under the hop's lock, so each sample is counted once and a read
never sees one twice or half-moved. The recorder takes the lock once per ``FOLD_EVERY`` samples.

Samples are signed. A hop's two stamps may come from different clocks: the venue's and ours
(``md_wire``: the venue's stamp to our receive), or two processes' ``LiveClock`` anchors (a hop
across nodes). Their difference can then be negative by the clocks' disagreement; such a sample
is kept as it is and counted (``negative`` in ``summary_us``, with ``min``) -- folding it into
0, as this recorder once did, drew a bar at 0 that looked like a measured zero latency and hid
the skew. Hops stamped within one dispatch cycle share one clock reading (``recv_to_signal``
when the strategy runs in the Feed's group): 0 there is the cycle's resolution, not a skew.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np

from transports.hdr import HIGHEST_NS, LatencyHist

#: samples a hop buffers before they are counted into its histogram in one step: the
#: recorder's one pause per this many samples is ~20 µs
FOLD_EVERY = 1024


class _Hop:
    """One hop: the samples counted in ``hist`` (the last ``capacity`` of them in ``recent``)
    and the ones recorded since (``pending``)."""

    __slots__ = ("capacity", "folded", "hist", "lock", "pending", "recent")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.hist = LatencyHist()
        self.pending = array("q")  #: recorded, not yet in ``hist`` (oldest first)
        self.recent = array("q")  #: the last ``capacity`` samples in ``hist`` (oldest first)
        self.folded = 0  #: samples ``hist`` counts since the last reset
        self.lock = threading.Lock()

    def record(self, ns: int) -> None:
        """Add one sample (ns, signed; beyond ±60 s it counts as ±60 s, ``transports.hdr``)."""
        p = self.pending
        try:
            p.append(ns)
        except OverflowError:  # beyond int64 (a hostile venue stamp): the histogram's bound
            p.append(HIGHEST_NS if ns > 0 else -HIGHEST_NS)
        if len(p) >= FOLD_EVERY:
            self.fold()

    def fold(self) -> LatencyHist:
        """Count the pending samples into the histogram and the ring; return the histogram."""
        with self.lock:
            p = self.pending
            k = len(p)
            if k:
                chunk = p[:k]  # a copy: ``p`` itself must stay resizable for the recorder
                del p[:k]  # what the recorder appended meanwhile stays pending
                self.hist.record_many(np.frombuffer(chunk, np.int64))
                self.folded += k
                r = self.recent
                r.extend(chunk)
                if len(r) > self.capacity:
                    del r[: len(r) - self.capacity]
        return self.hist

    def count(self) -> int:
        with self.lock:
            return self.folded + len(self.pending)

    def samples(self) -> np.ndarray:
        with self.lock:
            both = self.recent + self.pending
        return np.frombuffer(both[-self.capacity:] if self.capacity else array("q"),
                             np.int64).copy()

    def reset(self) -> None:
        with self.lock:
            del self.pending[:]
            del self.recent[:]
            self.folded = 0
            self.hist.reset()


class LatencyRecorder:
    """Named hops, each a histogram of its samples (ns) and a ring of the last ``capacity``."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._hops: dict[str, _Hop] = {}

    def _hop(self, hop: str) -> _Hop:
        h = self._hops.get(hop)
        if h is None:
            h = self._hops[hop] = _Hop(self.capacity)
        return h

    def record(self, hop: str, ns: int) -> None:
        """Add one sample as it is; a negative one (stamps of two clocks) is counted too."""
        h = self._hops.get(hop)
        if h is None:
            h = self._hops[hop] = _Hop(self.capacity)
        h.record(ns)

    def recorder(self, hop: str) -> Callable[[int], None]:
        """``record`` bound to ``hop``, for a caller that records one hop per message (the
        feed's ``md_wire``): no lookup per sample. Valid across ``reset``; the hop exists
        (``hops``, ``dump``) from this call on, so ask for it with the first sample."""
        return self._hop(hop).record

    def reset(self) -> None:
        """Forget every sample (e.g. after a warm-up)."""
        for h in list(self._hops.values()):
            h.reset()

    def hops(self) -> list[str]:
        """The hops recorded so far."""
        return list(self._hops)

    def hist(self, hop: str) -> LatencyHist:
        """``hop``'s histogram, every sample counted (an empty one for a hop never recorded)."""
        h = self._hops.get(hop)
        return h.fold() if h is not None else LatencyHist()

    def count(self, hop: str) -> int:
        """How many samples ``hop`` has had since the last reset."""
        h = self._hops.get(hop)
        return h.count() if h is not None else 0

    def samples(self, hop: str) -> np.ndarray:
        """The last (up to ``capacity``) samples of ``hop`` in ns, oldest first."""
        h = self._hops.get(hop)
        return h.samples() if h is not None else np.zeros(0, np.int64)

    def dump(self) -> dict[str, np.ndarray]:
        """Every hop's recent samples (``samples``)."""
        return {hop: h.samples() for hop, h in list(self._hops.items())}

    def encode(self) -> dict[str, str]:
        """Every hop's histogram, encoded (``LatencyHist.encode``), for another process."""
        return {hop: h.fold().encode() for hop, h in list(self._hops.items()) if h.count()}

    def merge_encoded(self, encoded: dict[str, str]) -> None:
        """Add histograms another recorder ``encode``d (another node's) to these hops."""
        for hop, text in encoded.items():
            h = self._hop(hop)
            other = LatencyHist.decode(text)
            with h.lock:
                h.hist.merge(other)
                h.folded += other.count  # the ring holds this node's samples only

    def summary_us(self) -> dict[str, dict[str, Any]]:
        """Return count, p50, p99 and max per hop, in µs; a hop with negative samples (two
        clocks) also has ``negative`` (how many, since the last reset) and ``min``."""
        return {hop: h.fold().summary_us((50, 99), 1) for hop, h in list(self._hops.items())
                if h.count()}


__all__ = ["FOLD_EVERY", "LatencyRecorder"]
