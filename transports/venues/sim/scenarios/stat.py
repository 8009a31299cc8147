"""The statistical-pairs market: two contracts whose log prices are cointegrated with a
drifting hedge ratio, and the windows a pair trader could take.

Model (``[sim.stat]``, ``SimStatConfig``), at step ``k`` (``t = k x step_s``)::

    P_B(k)   = px_b x gold(k) / gold_usd_oz         (b_path = "shared": the process's walk)
             = px_b x exp(own seeded walk)           (b_path = "own": rng_for(seed, 8, 0))
    beta_t   = beta + beta_drift_per_s x t
    ln P_A   = alpha + beta_t ln P_B + u_k + d(t)

``u`` is an Ornstein-Uhlenbeck residual (mean reversion ``ou_theta_per_s``, diffusion
``ou_sigma_bps_s``), exactly discretised and drawn from its own stream (``rng_for(seed, 8,
1)``) in blocks, so ``u_k`` depends only on the seed and ``k``. ``d(t)`` is the shared episode
process (``PriceProcess.dislocation``, a size in leg A's price units) divided by A's start price
``exp(alpha + beta ln px_b)``: a log dislocation of leg A.

Truth (this kind's definition of an opportunity): at each observation, for the clip
``(la, lb)`` (``la = max_clip_lots_a``, ``lb`` the beta-weighted match at the start prices) and
the true equilibrium ``m_t = alpha + beta_t ln(.)`` applied to B's executable price::

    A rich (dir -1):  ln vwap_bid_A(la) - (alpha + beta_t ln vwap_ask_B(lb)) - fees
    A cheap (dir +1): (alpha + beta_t ln vwap_bid_B(lb)) - ln vwap_ask_A(la) - fees

``fees`` = both legs' fees as a fraction of each leg's notional at the touch. A window is a
maximal span where one direction is at least ``threshold_bps`` (kept when it lasted
``[sim] min_window_ms``); ``want`` = sell A and buy B for A rich, the reverse for A cheap;
``held`` = short A (A rich) / long A (A cheap): a position already on that side at the window's
start (the previous episode's trade not yet reverted) is already taking it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from transports.config.engine import AppConfig, ContractConfig, PairConfig
from transports.config.sim_scenarios import SimStatConfig
from transports.venues.sim.matching import Book
from transports.venues.sim.process import rng_for
from transports.venues.sim.truth import DirWindows

BLOCK = 4096  #: steps of the OU residual / own walk generated at a time
#: the stream of this model (``rng_for(seed, STREAM, i)``)
STREAM = 8


class _Blocks:
    """A seeded AR(1) path ``x_{k+1} = phi x_k + c + s z_k`` made lazily in blocks, in order."""

    def __init__(self, rng: np.random.Generator, phi: float, c: float, s: float,
                 x0: float) -> None:
        self._rng, self._phi, self._c, self._s = rng, phi, c, s
        self._next_x = x0
        self._blocks: list[np.ndarray] = []

    def at(self, k: int) -> float:
        if k < 0:
            raise IndexError(f"step must be >= 0, got {k}")
        b = k // BLOCK
        while len(self._blocks) <= b:
            z = self._rng.standard_normal(BLOCK)
            out = np.empty(BLOCK)
            x = self._next_x
            for i in range(BLOCK):
                out[i] = x
                x = self._phi * x + self._c + self._s * z[i]
            self._next_x = x
            self._blocks.append(out)
        return float(self._blocks[b][k % BLOCK])


def clip_lots(pair: PairConfig, ca: ContractConfig, cb: ContractConfig, beta: float,
              px_a: float, px_b: float) -> tuple[int, int]:
    """The beta-weighted clip: ``la = max_clip_lots_a`` and ``lb`` the lots of B whose notional
    is closest to ``beta`` x A's (at least 1, at most ``max_clip_lots_b``)."""
    la = pair.max_clip_lots_a
    lb = round(beta * la * ca.multiplier * px_a / (cb.multiplier * px_b))
    return la, max(1, min(pair.max_clip_lots_b, int(lb)))


class StatModel:
    """One stat pair's market (``fairs``) and its truth recorder factory (``truth``)."""

    def __init__(self, pair: PairConfig, cfg: AppConfig) -> None:
        sim = cfg.sim
        st = sim.stat if sim.stat is not None else SimStatConfig()
        self.pair, self.cfg, self.st = pair, cfg, st
        contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
        self.ca, self.cb = contracts[pair.leg_a], contracts[pair.leg_b]
        self.step_s = sim.step_ms / 1000.0
        self.ln_b0 = math.log(st.px_b)
        self.px_a0 = math.exp(st.alpha + st.beta * self.ln_b0)
        dt = self.step_s
        theta = st.ou_theta_per_s
        phi = math.exp(-theta * dt)
        sig = st.ou_sigma_bps_s * 1e-4
        # exact OU step: stationary variance sig^2 / (2 theta)
        s_ou = sig * math.sqrt((1.0 - phi * phi) / (2.0 * theta))
        self._u = _Blocks(rng_for(sim.seed, STREAM, 1), phi, 0.0, s_ou, 0.0)
        vb = st.vol_bps_s * 1e-4
        self._own = _Blocks(rng_for(sim.seed, STREAM, 0), 1.0, -0.5 * vb * vb * dt,
                            vb * math.sqrt(dt), 0.0) if st.b_path == "own" else None
        self.start_ns: int | None = None  #: the process's step 0 (from ``on_refresh``)
        self.step_ns = sim.step_ms * 1_000_000

    # --- prices ---------------------------------------------------------------------------------

    def ln_b(self, proc: Any, k: int) -> float:
        """ln P_B at step ``k``."""
        if self._own is not None:
            return self.ln_b0 + self._own.at(k)
        return self.ln_b0 + math.log(proc.gold_fx(k)[0] / proc.sim.gold_usd_oz)

    def beta_at(self, t_s: float) -> float:
        return self.st.beta + self.st.beta_drift_per_s * t_s

    def fair_b(self, proc: Any, k: int) -> float:
        return math.exp(self.ln_b(proc, k))

    def fair_a(self, proc: Any, k: int) -> float:
        t_s = k * self.step_s
        d = proc.dislocation(t_s) / self.px_a0
        return math.exp(self.st.alpha + self.beta_at(t_s) * self.ln_b(proc, k)
                        + self._u.at(k) + d)

    def fairs(self) -> dict[str, Any]:
        return {self.pair.leg_a: self.fair_a, self.pair.leg_b: self.fair_b}

    def on_refresh(self, venue: str, t_ns: int, k: int, proc: Any,
                   positions: Mapping[str, Mapping[str, int]]
                   ) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
        """Learn where step 0 is (the truth needs ``t`` for ``beta_t``); nothing to publish."""
        if self.start_ns is None:
            self.start_ns = t_ns - k * self.step_ns
        return [], []

    def truth(self) -> StatTruth:
        return StatTruth(self)


class StatTruth:
    """The windows of one stat pair (module docstring)."""

    def __init__(self, model: StatModel) -> None:
        m = model
        self.model = m
        self.name = m.pair.name
        self.a_key, self.b_key = m.pair.leg_a, m.pair.leg_b
        self.tick_a, self.tick_b = float(Decimal(m.ca.tick)), float(Decimal(m.cb.tick))
        self.la, self.lb = clip_lots(m.pair, m.ca, m.cb, m.st.beta, m.px_a0, m.st.px_b)
        self.thr = m.st.threshold_bps * 1e-4
        self.min_ns = m.cfg.sim.min_window_ms * 1_000_000
        va, sa = m.pair.leg_a.split(":", 1)
        vb, sb = m.pair.leg_b.split(":", 1)
        self._want = {-1: [[va, sa, "S"], [vb, sb, "B"]], 1: [[va, sa, "B"], [vb, sb, "S"]]}
        self._held = {-1: [va, sa, -1], 1: [va, sa, 1]}
        self.record = DirWindows(self.name, self.thr, self.min_ns,
                                 lambda d: {"want": self._want[d], "held": self._held[d]})
        self._t0: int | None = None

    def edges(self, ts: int, books: Mapping[str, Book]) -> tuple[float, float] | None:
        """(edge A rich, edge A cheap) in log units net of fees; None when a side is empty."""
        ba, bb = books.get(self.a_key), books.get(self.b_key)
        if ba is None or bb is None:
            return None
        m = self.model
        t0 = m.start_ns if m.start_ns is not None else self._t0
        if t0 is None:
            t0 = self._t0 = ts
        beta = m.beta_at((ts - t0) / 1e9)
        alpha = m.st.alpha
        bid_a, ask_a = ba.vwap("B", self.la), ba.vwap("S", self.la)
        bid_b, ask_b = bb.vwap("B", self.lb), bb.vwap("S", self.lb)
        if not (bid_a and ask_a and bid_b and ask_b):
            return None
        pa = 0.5 * (bid_a + ask_a) * self.tick_a
        pb = 0.5 * (bid_b + ask_b) * self.tick_b
        fee = m.ca.fee_per_lot / (m.ca.multiplier * pa) + m.cb.fee_per_lot / (m.cb.multiplier * pb)
        e_rich = math.log(bid_a * self.tick_a) - (alpha + beta * math.log(ask_b * self.tick_b)) \
            - fee
        e_cheap = (alpha + beta * math.log(bid_b * self.tick_b)) - math.log(ask_a * self.tick_a) \
            - fee
        return e_rich, e_cheap

    def observe(self, ts: int, books: Mapping[str, Book]) -> None:
        """Evaluate the edges now and open, extend or close a window."""
        self.record.observe(ts, self.edges(ts, books))

    @property
    def windows(self) -> list[dict[str, Any]]:
        """The windows kept so far."""
        return self.record.windows

    def finish(self, ts: int) -> None:
        """Close an open window at ``ts`` (end of the run)."""
        self.record.finish(ts)


def build(pair: PairConfig, cfg: AppConfig) -> StatModel:
    """The model of stat pair ``pair`` (``transports.venues.sim.scenarios``)."""
    return StatModel(pair, cfg)


__all__ = ["StatModel", "StatTruth", "build", "clip_lots"]
