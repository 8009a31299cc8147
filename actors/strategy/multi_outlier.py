"""Which venues of a multi-venue pair quote a price nobody else does (a bad print, a broken
feed, a venue in trouble): each venue's mid against the cross-venue median, judged against the
venue's own rolling sigma of that deviation (split off ``actors.strategy.multi`` for size).

Per venue ``k`` the deviation is ``dev_k = (mid_k / median - 1) x 1e4`` basis points, the median
over every usable venue (at least three: with two, neither can be told from the other). The
rolling mean and sigma of ``dev_k`` come from the Numba window kernel
(``kernels.stats.zscore_score_push``, ``outlier_window`` samples, one per update of the venue's
own book, winsorised at ``outlier_sigma`` so an excursion does not widen the sigma that judges
it). Venue ``k`` is an outlier while

    |dev_k - mean_k| > max(outlier_sigma x sigma_k, outlier_min_bps)

(before the window holds ``WARM_SAMPLES`` samples: ``|dev_k| > outlier_min_bps``, and nothing
when the floor is 0). The floor keeps the
opportunities themselves in: in a calm market the sigma is a fraction of a tick, and the
dislocation a strategy lives on would be "many sigmas". An excluded venue takes no new sample
and is re-admitted at its first update back inside the bound.
"""

from __future__ import annotations

import math

import numpy as np

from kernels.stats import zscore_init, zscore_mean_std, zscore_score_push

#: samples of a venue's deviation before its sigma judges (the floor alone judges until then)
WARM_SAMPLES = 100


class OutlierGate:
    """The outlier state of ``n`` venues; ``out[k]`` is True while venue ``k`` is excluded."""

    def __init__(self, n: int, window: int, sigma: float, floor_bps: float) -> None:
        self.n = n
        self.sigma = sigma
        self.floor_bps = floor_bps
        self.out = [False] * n
        self.dev_bps = [0.0] * n  #: the last deviation seen per venue
        self._reset(window)

    def _reset(self, window: int) -> None:
        self.window = window
        self.bufs = [np.zeros(window, np.float64) for _ in range(self.n)]
        self.states = [np.zeros(4, np.float64) for _ in range(self.n)]
        for b, s in zip(self.bufs, self.states, strict=True):
            zscore_init(b, s)
        self.samples = [0] * self.n
        self.warm_after = min(WARM_SAMPLES, window)

    def configure(self, window: int, sigma: float, floor_bps: float) -> None:
        """New parameters (a live change); a new window size starts the windows afresh."""
        self.sigma, self.floor_bps = sigma, floor_bps
        if window != self.window:
            self._reset(window)

    def bound(self, k: int) -> tuple[float, float]:
        """(the mean venue ``k``'s deviation is judged from, the bound |dev - mean| may reach)."""
        if self.samples[k] < self.warm_after:  # the floor alone (none: nothing is judged)
            return 0.0, self.floor_bps if self.floor_bps > 0.0 else math.inf
        mean, std = zscore_mean_std(self.bufs[k], self.states[k])
        return float(mean), max(self.sigma * float(std), self.floor_bps)

    def judge(self, k: int, mid: float, mids: list[float]) -> int:
        """Venue ``k``'s book changed to ``mid`` (``mids``: every usable venue's mid, ``k``'s
        included). Return +1 when it was just excluded, -1 when just re-admitted, else 0."""
        if len(mids) < 3:
            return 0
        s = sorted(mids)
        h = len(s) // 2
        median = s[h] if len(s) % 2 else 0.5 * (s[h - 1] + s[h])
        if median <= 0.0:
            return 0
        dev = (mid / median - 1.0) * 1e4
        self.dev_bps[k] = dev
        mean, bound = self.bound(k)
        bad = abs(dev - mean) > bound
        was = self.out[k]
        self.out[k] = bad
        if not bad:
            warm = self.samples[k] >= self.warm_after
            zscore_score_push(self.bufs[k], self.states[k], dev, self.sigma, warm)
            self.samples[k] += 1
        if bad and not was:
            return 1
        if was and not bad:
            return -1
        return 0

    def snapshot(self) -> dict[str, object]:
        return {"out": list(self.out), "dev_bps": [round(d, 3) for d in self.dev_bps],
                "samples": list(self.samples)}


__all__ = ["WARM_SAMPLES", "OutlierGate"]
