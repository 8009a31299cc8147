"""The statistics of a statistical pair (``actors.strategy.stat``): the Kalman hedge, the
z-score of the spread, the Engle-Granger test and the half-life, with their schedule.

Pure state over numpy arrays; every number comes from the samples given, so a replay of the
same book updates gives the same decisions. ``statsmodels``' ``coint`` runs only on the
schedule (``due``/``test``), never per tick.

Per sample (``sample``, every ``stat.sample_ms`` of event time: ``sample_due``) with
``x = ln mid_B``, ``y = ln mid_A``:

1. the Kalman step (``kernels.kalman.kalman_update``): innovation ``e = y - alpha - beta x``
   against the prior; an observation beyond ``gate_sigma`` innovation sigmas is gated (does not
   move the hedge);
2. ``e`` is the spread sample: it joins the half-life ring and, when the filter accepted it,
   the rolling z window (``kernels.stats``, winsorised at ``z_entry``): the window measures the
   spread's ordinary variation, so a dislocation (gated) moves z, not the window;
3. an accepted observation joins the test window ``(x, y)`` (the last ``coint_window``
   accepted ones); each sample's gated flag joins a ring of the same length.

Test (``test``), at the first sample once ``coint_window`` samples were taken after the burn-in
and then every ``coint_every_s`` (a live change of the schedule counts from the last test):
``coint(y, x, trend=coint_trend)`` on the accepted window gives the p-value (1.0 with fewer
than ``MIN_TEST_SAMPLES`` accepted); ``half_life(spread)`` x ``sample_ms`` the half-life in
seconds; ``gated_share`` the share of the last ``coint_window`` samples the filter refused. The
pair is cointegrated while ``p <= coint_pvalue`` and ``gated_share <= MAX_GATED_SHARE`` (a
relationship that no longer explains most prices is not one, whatever the test of the old
accepted samples says).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from statsmodels.tsa.stattools import coint

from kernels.kalman import half_life, kalman_init, kalman_update
from kernels.stats import zscore_init, zscore_score_push
from transports.config.strategies import StatConfig

#: samples the filter runs before its spread joins the z window (the start-up transient)
BURN_IN = 50
#: samples the z window needs before the strategy trades (or the whole window if smaller)
MIN_Z_SAMPLES = 200
#: initial variance of alpha and beta (uninformed, the first samples pin them down)
INIT_VAR = 1.0
#: more gated samples than this share of the test window: not cointegrated
MAX_GATED_SHARE = 0.5
#: fewer accepted samples than this in the test window: not cointegrated (no test)
MIN_TEST_SAMPLES = 30


class StatSignal:
    """The hedge, spread statistics and test verdicts of one pair."""

    def __init__(self, st: StatConfig, z_window: int, z_entry: float) -> None:
        self.theta = np.zeros(2, np.float64)  #: (alpha, beta)
        self.cov = np.zeros((2, 2), np.float64)
        self.zbuf = np.zeros(z_window, np.float64)
        self.zstate = np.zeros(4, np.float64)
        zscore_init(self.zbuf, self.zstate)
        self.z_entry = z_entry
        self.samples = 0  #: samples taken
        self.z_samples = 0  #: spread samples in the z window (after the burn-in)
        self.accepted = 0  #: observations the filter used, all time
        self.gated = 0  #: observations gated, all time
        self.last_sample_ns = 0  #: event time of the last sample (the later leg's)
        self._last_ta = self._last_tb = -1  #: each leg's quote time at the last sample
        self.last_test_ns = 0
        self.tests = 0
        self.pvalue = math.nan
        self.half_life_s = math.nan
        self.gated_share = 0.0
        self.last_e = 0.0
        self.last_q = 0.0
        self.st = st
        self._alloc(st.coint_window)

    def _alloc(self, n: int) -> None:
        """(Re)build the test window rings for ``n`` samples, keeping the newest ones."""
        old = getattr(self, "_xs", None)
        if old is not None:
            xs, ys = self._ordered(self._xs, self._ys, self._head, self._count)
            sp, _ = self._ordered(self._sp, self._sp, self._sp_head, self._sp_count)
            gf, _ = self._ordered(self._gf, self._gf, self._sp_head, self._sp_count)
        self._xs = np.zeros(n, np.float64)
        self._ys = np.zeros(n, np.float64)
        self._head = self._count = 0
        self._sp = np.zeros(n, np.float64)  #: spread samples (half-life)
        self._gf = np.zeros(n, np.float64)  #: 1.0 where the sample was gated
        self._sp_head = self._sp_count = 0
        self._gated_in = 0.0
        if old is not None:
            for x, y in zip(xs[-n:], ys[-n:], strict=True):
                self._push_xy(float(x), float(y))
            for s, g in zip(sp[-n:], gf[-n:], strict=True):
                self._push_sp(float(s), float(g))

    @staticmethod
    def _ordered(a: np.ndarray, b: np.ndarray, head: int, count: int
                 ) -> tuple[np.ndarray, np.ndarray]:
        """The live samples of two rings, oldest first."""
        n = a.shape[0]
        if count < n:
            return a[:count].copy(), b[:count].copy()
        return np.concatenate((a[head:], a[:head])), np.concatenate((b[head:], b[:head]))

    def _push_xy(self, x: float, y: float) -> None:
        n = self._xs.shape[0]
        self._xs[self._head] = x
        self._ys[self._head] = y
        self._head = (self._head + 1) % n
        self._count = min(self._count + 1, n)

    def _push_sp(self, s: float, g: float) -> None:
        n = self._sp.shape[0]
        if self._sp_count == n:
            self._gated_in -= self._gf[self._sp_head]
        self._sp[self._sp_head] = s
        self._gf[self._sp_head] = g
        self._gated_in += g
        self._sp_head = (self._sp_head + 1) % n
        self._sp_count = min(self._sp_count + 1, n)

    def configure(self, st: StatConfig, z_entry: float) -> None:
        """Take a changed ``[pairs.stat]`` (live): the test window is resized keeping its
        newest samples; the schedules keep their next times."""
        resize = st.coint_window != self.st.coint_window
        self.st = st
        self.z_entry = z_entry
        if resize:
            self._alloc(st.coint_window)

    # --- per sample -------------------------------------------------------------------------------

    def sample_due(self, ta: int, tb: int) -> bool:
        """Whether to sample now, the legs' quotes at event times ``ta``, ``tb``: three
        quarters of a period after the last sample (quote times jitter) with both legs quoted
        since it, or two periods after it whatever a quiet leg did."""
        t = ta if ta > tb else tb
        step = self.step_ns
        if t >= self.last_sample_ns + 2 * step:
            return True
        return (t >= self.last_sample_ns + step - (step >> 2) and ta > self._last_ta
                and tb > self._last_tb)

    def sample(self, t_ns: int, x: float, y: float, ta: int = -1, tb: int = -1) -> None:
        """Take one sample at event time ``t_ns`` (``x = ln P_B``, ``y = ln P_A``; ``ta``,
        ``tb`` the legs' quote times, for ``sample_due``)."""
        st = self.st
        self.last_sample_ns = t_ns
        self._last_ta, self._last_tb = ta, tb
        if self.samples == 0:
            kalman_init(self.theta, self.cov, y - x, 1.0, INIT_VAR)
        gate = st.gate_sigma if self.samples >= BURN_IN else 0.0  # no gate while it converges
        e, q, used = kalman_update(self.theta, self.cov, x, y, st.delta, st.obs_var, gate)
        self.samples += 1
        if not math.isfinite(e):
            return
        self.last_e, self.last_q = float(e), float(q)
        if used:
            self.accepted += 1
            self._push_xy(x, y)
        else:
            self.gated += 1
        if self.samples > BURN_IN:
            if used:  # a gated sample is a dislocation: it moves z, not the window
                warm = self.z_samples >= self.z_warm_after
                zscore_score_push(self.zbuf, self.zstate, e, self.z_entry, warm)
                self.z_samples += 1
            self._push_sp(e, 0.0 if used else 1.0)

    @property
    def step_ns(self) -> int:
        """The sampling period."""
        return self.st.sample_ms * 1_000_000

    @property
    def z_warm_after(self) -> int:
        return min(MIN_Z_SAMPLES, self.zbuf.shape[0])

    def due(self, t_ns: int) -> bool:
        """True when a test is due now: ``coint_window`` samples since the burn-in (accepted
        or not: a pair the filter keeps refusing is tested too, and fails) and the schedule."""
        if self._sp_count < self.st.coint_window:
            return False
        return self.tests == 0 or t_ns >= self.last_test_ns + round(self.st.coint_every_s * 1e9)

    def test(self, t_ns: int) -> None:
        """Run the Engle-Granger test and the half-life estimate on the windows now."""
        st = self.st
        xs, ys = self._ordered(self._xs, self._ys, self._head, self._count)
        self.pvalue = 1.0  # too few accepted samples, or a degenerate window: not cointegrated
        if self._count >= MIN_TEST_SAMPLES:
            try:
                self.pvalue = float(coint(ys, xs, trend=st.coint_trend)[1])
            except (ValueError, np.linalg.LinAlgError):  # constant prices
                pass
        if not math.isfinite(self.pvalue):
            self.pvalue = 1.0
        n = self._sp_count
        start = self._sp_head if n == self._sp.shape[0] else 0
        hl = half_life(self._sp, start, n) if n >= 3 else math.nan
        self.half_life_s = float(hl) * st.sample_ms / 1000.0 if math.isfinite(hl) else math.inf
        self.gated_share = float(self._gated_in / n) if n else 0.0
        self.tests += 1
        self.last_test_ns = t_ns

    # --- verdicts ---------------------------------------------------------------------------------

    @property
    def warm(self) -> bool:
        """Tested at least once and the z window is warm."""
        return self.tests > 0 and self.z_samples >= self.z_warm_after

    def cointegrated(self) -> bool:
        return self.pvalue <= self.st.coint_pvalue and self.gated_share <= MAX_GATED_SHARE

    def spread(self, x: float, y: float) -> float:
        """``y - alpha - beta x`` with the current hedge."""
        th = self.theta
        return float(y - th[0] - th[1] * x)

    def mean_std(self) -> tuple[float, float]:
        """The z window's mean and population std (inline: ``kernels.stats`` layout)."""
        zs = self.zstate
        n = zs[0]
        if n < 1.0:
            return 0.0, 0.0
        m2 = zs[3] if zs[3] > 0.0 else 0.0
        return float(zs[2]), math.sqrt(m2 / n)

    def snapshot(self) -> dict[str, Any]:
        return {"alpha": float(self.theta[0]), "beta": float(self.theta[1]),
                "samples": self.samples, "accepted": self.accepted, "gated": self.gated,
                "tests": self.tests, "pvalue": self.pvalue, "half_life_s": self.half_life_s,
                "gated_share": self.gated_share, "test_window": self._count}


__all__ = ["BURN_IN", "INIT_VAR", "MAX_GATED_SHARE", "MIN_TEST_SAMPLES", "MIN_Z_SAMPLES",
           "StatSignal"]
