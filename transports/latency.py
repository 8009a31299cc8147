"""Latency samples per hop, kept in preallocated numpy rings (recording costs ~100 ns)."""

from __future__ import annotations

from typing import Any

import numpy as np


class LatencyRecorder:
    """Named hops, each a ring of the last ``capacity`` samples in ns."""

    def __init__(self, capacity: int = 1 << 18) -> None:
        self.capacity = capacity
        self._rings: dict[str, np.ndarray] = {}
        self._counts: dict[str, int] = {}

    def record(self, hop: str, ns: int) -> None:
        """Add one sample (negative samples, from clock skew across hosts, are clamped to 0)."""
        ring = self._rings.get(hop)
        if ring is None:
            ring = self._rings[hop] = np.zeros(self.capacity, np.int64)
            self._counts[hop] = 0
        n = self._counts[hop]
        ring[n % self.capacity] = ns if ns > 0 else 0
        self._counts[hop] = n + 1

    def reset(self) -> None:
        """Forget every sample (e.g. after a warm-up)."""
        for hop in self._counts:
            self._counts[hop] = 0

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
        """Return count, p50, p99 and max per hop, in µs."""
        out: dict[str, dict[str, Any]] = {}
        for hop in self._rings:
            s = self.samples(hop)
            if len(s) == 0:
                continue
            p50, p99 = np.percentile(s, [50, 99])
            out[hop] = {"count": int(self._counts[hop]), "p50": round(float(p50) / 1e3, 1),
                        "p99": round(float(p99) / 1e3, 1), "max": round(float(s.max()) / 1e3, 1)}
        return out
