"""Latency samples per hop, kept in preallocated numpy rings (recording costs ~100 ns).

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


class LatencyRecorder:
    """Named hops, each a ring of the last ``capacity`` samples in ns."""

    def __init__(self, capacity: int = 1 << 18) -> None:
        self.capacity = capacity
        self._rings: dict[str, np.ndarray] = {}
        self._counts: dict[str, int] = {}
        self._negative: dict[str, int] = {}  #: samples below 0 (two clocks), per hop

    def record(self, hop: str, ns: int) -> None:
        """Add one sample as it is; a negative one (stamps of two clocks) is counted too."""
        ring = self._rings.get(hop)
        if ring is None:
            ring = self._rings[hop] = np.zeros(self.capacity, np.int64)
            self._counts[hop] = 0
            self._negative[hop] = 0
        n = self._counts[hop]
        ring[n % self.capacity] = ns
        self._counts[hop] = n + 1
        if ns < 0:
            self._negative[hop] += 1

    def reset(self) -> None:
        """Forget every sample (e.g. after a warm-up)."""
        for hop in self._counts:
            self._counts[hop] = 0
            self._negative[hop] = 0

    def dump(self) -> dict[str, np.ndarray]:
        """Return a copy of every hop's retained samples."""
        return {hop: self.samples(hop).copy() for hop in self._rings}

    def samples(self, hop: str) -> np.ndarray:
        """Return the retained samples of ``hop`` (ns)."""
        ring = self._rings.get(hop)
        if ring is None:
            return np.zeros(0, np.int64)
        return ring[: min(self._counts[hop], self.capacity)]

    def summary_us(self) -> dict[str, dict[str, Any]]:
        """Return count, p50, p99 and max per hop, in µs; a hop with negative samples (two
        clocks) also has ``negative`` (how many, since the last reset) and ``min``."""
        out: dict[str, dict[str, Any]] = {}
        for hop in self._rings:
            s = self.samples(hop)
            if len(s) == 0:
                continue
            p50, p99 = np.percentile(s, [50, 99])
            out[hop] = {"count": int(self._counts[hop]), "p50": round(float(p50) / 1e3, 1),
                        "p99": round(float(p99) / 1e3, 1), "max": round(float(s.max()) / 1e3, 1)}
            if self._negative.get(hop):
                out[hop].update(negative=self._negative[hop], min=round(float(s.min()) / 1e3, 1))
        return out
