"""The simulator's multi-venue market (搬砖): one asset quoted on every leg of the pair's
``multi.legs`` (``[sim.multi]``, ``SimMultiConfig``), in one price unit.

Prices at step ``k`` (time ``t = k x step``), per venue ``v``:

- ``fair(k) = spot_px x (gold(k) / gold_usd_oz) ^ (vol_bps_s / vol_gold_bps_s)``: the shared
  seeded walk as a unit-free path, rescaled to this market's volatility; every venue the same;
- plus the shared dislocation episodes (``[sim] dislocation_*``, sizes in the asset's price
  units) on ONE venue per episode: episode ``e`` dislocates ``legs[u_e]``, ``u_e`` drawn in
  episode order from the seeded stream ``rng_for(seed, 7)`` (deterministic whatever order the
  steps are asked in);
- plus, on ``outlier_venue`` (a venue name; "" = none), a bad print: ``outlier_bps`` away from
  fair (up on even excursions, down on odd ones) during ``[m x every + every / 2,
  m x every + every / 2 + hold)`` seconds, ``m = 0, 1, ...`` (``outlier_every_s``,
  ``outlier_hold_s``). Not an opportunity: nobody can trade at the fair it left.

Truth (``MultiTruth``): at each observation, for every ordered pair (buy venue b, sell venue s)
of venues not in an outlier excursion (the excursion state of the outlier venue's current
quotes) and the strategy's clip (``kernels.lots.best_lot_pair`` of the two contracts),

    edge(b, s) = VWAP_bid_s(clip_s) - VWAP_ask_b(clip_b) - (clip_b fee_b + clip_s fee_s) /
                 (clip_b x multiplier_b)

in price units per unit of the asset (each venue's ``fee_per_lot``). A window is a maximal span
where the best edge is >= ``[sim] threshold_cny_g``, kept when it lasted ``min_window_ms``;
``want`` lists ``[buy venue, sym, "B"]`` and ``[sell venue, sym, "S"]`` of every pair that was
the best during the window (usually one); ``dir`` is +1 when the best pair at the start buys
the venue listed first in ``multi.legs``, else -1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kernels.lots import best_lot_pair
from transports.config.engine import AppConfig, PairConfig
from transports.config.sim_scenarios import SimMultiConfig
from transports.errors import ConfigError
from transports.venues.sim.matching import Book
from transports.venues.sim.scenarios import FairFn

#: the seeded stream that picks the venue each episode dislocates (``rng_for(seed, 7)``)
VENUE_STREAM = 7


class MultiTruth:
    """Opportunity windows of one multi-venue pair."""

    def __init__(self, model: MultiModel) -> None:
        self.model = model
        self.name = model.pair.name
        self.windows: list[dict[str, Any]] = []
        self.thr = model.cfg.sim.threshold_cny_g
        self.min_ns = model.cfg.sim.min_window_ms * 1_000_000
        self._open = False
        self._start, self._peak, self._last, self._dir = 0, 0.0, 0, 0
        self._want: list[list[Any]] = []

    def best(self, books: Mapping[str, Book]) -> tuple[float, int, int] | None:
        """(edge, buy leg, sell leg) of the best pair now; None when no pair can be priced."""
        m = self.model
        out: tuple[float, int, int] | None = None
        for (b, s), (lb, ls, fee) in m.clips.items():
            if m.in_excursion(b) or m.in_excursion(s):
                continue
            bb, bs = books.get(m.keys[b]), books.get(m.keys[s])
            if bb is None or bs is None:
                continue
            ask, bid = bb.vwap("S", lb), bs.vwap("B", ls)
            if ask is None or bid is None:
                continue
            edge = bid * m.ticks[s] - ask * m.ticks[b] - fee
            if out is None or edge > out[0]:
                out = (edge, b, s)
        return out

    def observe(self, ts: int, books: Mapping[str, Book]) -> None:
        """Evaluate the best pair now and open, extend or close a window."""
        best = self.best(books)
        on = best is not None and best[0] >= self.thr
        if self._open and not on:
            self._close(ts)
        if on:
            assert best is not None
            edge, b, s = best
            m = self.model
            if not self._open:
                self._open, self._start, self._peak = True, ts, edge
                self._dir = 1 if b < s else -1
                self._want = []
            self._peak = max(self._peak, edge)
            for leg in ([m.venues[b], m.syms[b], "B"], [m.venues[s], m.syms[s], "S"]):
                if leg not in self._want:
                    self._want.append(leg)
        self._last = ts

    def _close(self, ts: int) -> None:
        if ts - self._start >= self.min_ns:
            self.windows.append({
                "pair": self.name, "start_ns": self._start, "end_ns": ts, "dir": self._dir,
                "peak_edge": round(float(self._peak), 6), "want": [list(w) for w in self._want],
            })
        self._open = False

    def finish(self, ts: int) -> None:
        """Close an open window at ``ts`` (end of the run)."""
        if self._open:
            self._close(max(ts, self._last))


class MultiModel:
    """One asset on several venues (see the module docstring)."""

    def __init__(self, pair: PairConfig, cfg: AppConfig) -> None:
        if pair.multi is None:
            raise ConfigError(f"pairs.{pair.name}: kind multi needs a [pairs.multi] section")
        contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
        self.pair, self.cfg = pair, cfg
        self.m_cfg: SimMultiConfig = cfg.sim.multi or SimMultiConfig()
        self.keys = list(pair.multi.legs)
        cs = [contracts[k] for k in self.keys]
        self.venues = [c.venue for c in cs]
        self.syms = [c.sym for c in cs]
        self.ticks = [float(Decimal(c.tick)) for c in cs]
        oc = self.m_cfg.outlier_venue
        if oc and oc not in self.venues:
            raise ConfigError(f"sim.multi.outlier_venue: {oc!r} is not a venue of "
                              f"pairs.{pair.name}.multi.legs")
        self.outlier = self.venues.index(oc) if oc else -1
        #: (buy leg, sell leg) -> (buy lots, sell lots, open fees per unit of price)
        self.clips: dict[tuple[int, int], tuple[int, int, float]] = {}
        for b in range(len(cs)):
            for s in range(len(cs)):
                if b == s:
                    continue
                cb, cs_ = cs[b], cs[s]
                lb, ls, _ = best_lot_pair(cb.base_per_lot or cb.multiplier,
                                          cs_.base_per_lot or cs_.multiplier,
                                          pair.max_clip_lots_a, pair.max_clip_lots_b)
                fee = (lb * cb.fee_per_lot + ls * cs_.fee_per_lot) / (lb * cb.multiplier)
                self.clips[(b, s)] = (int(lb), int(ls), float(fee))
        sim = cfg.sim
        self._vol_k = self.m_cfg.vol_bps_s / sim.vol_gold_bps_s if sim.vol_gold_bps_s else 0.0
        from transports.venues.sim.process import rng_for  # (process imports this package)

        self._rng = rng_for(sim.seed, VENUE_STREAM)
        self._ep_venue: list[int] = []  #: the venue of episode e, drawn in episode order
        #: whether the outlier venue's latest quotes were made during an excursion
        self._quoted_out = False

    # --- prices -----------------------------------------------------------------------------------

    def base(self, proc: Any, k: int) -> float:
        """The asset's fair price at step ``k`` (every venue, before episodes and outliers)."""
        path = proc.gold_fx(k)[0] / proc.sim.gold_usd_oz
        return self.m_cfg.spot_px * path ** self._vol_k

    def episode_venue(self, proc: Any, t_s: float) -> tuple[int, float]:
        """(the leg the episode at ``t_s`` dislocates, its signed size); (-1, 0.0) between
        episodes."""
        eps = proc.episodes_until(t_s)
        if not eps:
            return -1, 0.0
        e = len(eps) - 1
        ep = eps[e]
        if not ep.start_s <= t_s < ep.end_s:
            return -1, 0.0
        while len(self._ep_venue) <= e:
            self._ep_venue.append(int(self._rng.integers(len(self.keys))))
        return self._ep_venue[e], ep.value

    def excursion(self, t_s: float) -> int:
        """+1 / -1 while the outlier venue is in an excursion up / down at ``t_s``, else 0."""
        mc = self.m_cfg
        if self.outlier < 0:
            return 0
        x = t_s - 0.5 * mc.outlier_every_s
        if x < 0:
            return 0
        m = math.floor(x / mc.outlier_every_s)
        if x - m * mc.outlier_every_s < mc.outlier_hold_s:
            return 1 if m % 2 == 0 else -1
        return 0

    def in_excursion(self, leg: int) -> bool:
        """Whether leg ``leg``'s current quotes are a bad print."""
        return leg == self.outlier and self._quoted_out

    def fair(self, leg: int, proc: Any, k: int) -> float:
        """Leg ``leg``'s fair price at step ``k``."""
        t_s = k * proc.step_s
        px = self.base(proc, k)
        v, d = self.episode_venue(proc, t_s)
        if v == leg:
            px += d
        if leg == self.outlier:
            x = self.excursion(t_s)
            self._quoted_out = x != 0
            px *= 1.0 + x * self.m_cfg.outlier_bps * 1e-4
        return px

    # --- the model protocol -----------------------------------------------------------------------

    def fairs(self) -> dict[str, FairFn]:
        return {key: (lambda proc, k, leg=n: self.fair(leg, proc, k))
                for n, key in enumerate(self.keys)}

    def truth(self) -> MultiTruth:
        return MultiTruth(self)


def build(pair: PairConfig, cfg: AppConfig) -> MultiModel:
    """The multi-venue market of ``pair``."""
    return MultiModel(pair, cfg)


__all__ = ["VENUE_STREAM", "MultiModel", "MultiTruth", "build"]
