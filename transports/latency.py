"""Latency per hop: an HdrHistogram of every sample since the last reset (``transports.hdr``:
constant memory, mergeable across nodes) and a short ring of the most recent samples.

Recording costs ~0.3 µs (the histogram's in-place count and the ring's slot). The histogram
gives the percentiles (``summary_us``) and crosses processes (``encode``/``merge_encoded``: the
multi-process bench and the launcher add the nodes' histograms up); the ring keeps the last
``capacity`` samples in order, for what needs their sequence (the bench's "was the queue still
growing at the end of the run").

Samples are signed. A hop's two stamps may come from different clocks: the venue's and ours
(``md_wire``: the venue's stamp to our receive), or two processes' ``LiveClock`` anchors (a hop
across nodes). Their difference can then be negative by the clocks' disagreement; such a sample
is kept as it is and counted (``negative`` in ``summary_us``, with ``min``) -- folding it into
0, as this recorder once did, drew a bar at 0 that looked like a measured zero latency and hid
the skew. Hops stamped within one dispatch cycle share one clock reading (``recv_to_signal``
when the strategy runs in the Feed's group): 0 there is the cycle's resolution, not a skew.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transports.hdr import LatencyHist


class _Hop:
    __slots__ = ("hist", "n", "ring")

    def __init__(self, capacity: int) -> None:
        self.hist = LatencyHist()
        self.ring = [0] * capacity
        self.n = 0  #: samples since the last reset (the ring holds the last ``capacity``)


class LatencyRecorder:
    """Named hops, each a histogram of its samples (ns) and a ring of the last ``capacity``."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._hops: dict[str, _Hop] = {}

    def record(self, hop: str, ns: int) -> None:
        """Add one sample as it is; a negative one (stamps of two clocks) is counted too."""
        h = self._hops.get(hop)
        if h is None:
            h = self._hops[hop] = _Hop(self.capacity)
        n = h.n
        h.ring[n % self.capacity] = ns
        h.n = n + 1
        h.hist.record(ns)

    def reset(self) -> None:
        """Forget every sample (e.g. after a warm-up)."""
        for h in self._hops.values():
            h.n = 0
            h.hist.reset()

    def hops(self) -> list[str]:
        """The hops recorded so far."""
        return list(self._hops)

    def hist(self, hop: str) -> LatencyHist:
        """``hop``'s histogram (an empty one for a hop never recorded)."""
        h = self._hops.get(hop)
        return h.hist if h is not None else LatencyHist()

    def count(self, hop: str) -> int:
        """How many samples ``hop`` has had since the last reset."""
        h = self._hops.get(hop)
        return h.n if h is not None else 0

    def samples(self, hop: str) -> np.ndarray:
        """The last (up to ``capacity``) samples of ``hop`` in ns, oldest first."""
        h = self._hops.get(hop)
        if h is None:
            return np.zeros(0, np.int64)
        if h.n <= self.capacity:
            return np.asarray(h.ring[: h.n], np.int64)
        i = h.n % self.capacity
        return np.asarray(h.ring[i:] + h.ring[:i], np.int64)

    def dump(self) -> dict[str, np.ndarray]:
        """Every hop's recent samples (``samples``)."""
        return {hop: self.samples(hop) for hop in self._hops}

    def encode(self) -> dict[str, str]:
        """Every hop's histogram, encoded (``LatencyHist.encode``), for another process."""
        return {hop: h.hist.encode() for hop, h in self._hops.items() if h.n}

    def merge_encoded(self, encoded: dict[str, str]) -> None:
        """Add histograms another recorder ``encode``d (another node's) to these hops."""
        for hop, text in encoded.items():
            h = self._hops.get(hop)
            if h is None:
                h = self._hops[hop] = _Hop(self.capacity)
            other = LatencyHist.decode(text)
            h.hist.merge(other)
            h.n += other.count  # the ring holds this node's samples only

    def summary_us(self) -> dict[str, dict[str, Any]]:
        """Return count, p50, p99 and max per hop, in µs; a hop with negative samples (two
        clocks) also has ``negative`` (how many, since the last reset) and ``min``."""
        return {hop: h.hist.summary_us((50, 99), 1) for hop, h in self._hops.items() if h.n}


__all__ = ["LatencyRecorder"]
