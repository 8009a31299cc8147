"""The simulator's cash-and-carry market: an index future (leg A, in index points) over its ETF or
spot (leg B), with a financing rate and dividends (``[sim.basis]``, ``SimBasisConfig``).

Prices at step ``k`` (time ``t = k x step``):

- spot ``S_B(k) = spot_px x (gold(k) / gold_usd_oz) ^ (vol_bps_s / vol_gold_bps_s)``: the shared
  seeded walk as a unit-free path, rescaled to the basis volatility; in A's points
  ``S(k) = S_B(k) x unit_factor``;
- future ``F(k) = S(k) x (1 + rate x days / 365) - dividends + dislocation(t)`` with the TRUE
  rate and dividends, ``dislocation`` the shared episodes (``[sim] dislocation_cny_g`` is their
  size in index points here), ``days`` from the run's time to leg A's expiry
  (``kernels.carry.expiry_ns``, the strategy's convention): the real start of the run, told by
  the simulator (``set_start``; a model driven by hand learns it at its first ``on_refresh``),
  or ``[sim.basis] days_to_expiry`` at the start when set (deterministic).

Truth (``BasisTruth``): for the strategy's clip (``kernels.lots.best_lot_pair``), at each
observation, with the true carry and the round-trip fees of both legs (A's points per unit):

    future rich (dir -1: sell A, buy B):  bid_A - F*(ask_B) - fees
    future cheap (dir +1: buy A, sell B): F*(bid_B) - ask_A - fees   (when the pair trades
                                                                      reverse carry)

A window is a maximal span where one is >= ``[sim] threshold_cny_g`` (A's points), kept when it
lasted ``min_window_ms``; ``want`` names the entry orders of its direction on both legs and
``held`` the short (rich) or long (cheap) future already held at its start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kernels.carry import NS_PER_DAY, expiry_ns
from kernels.lots import best_lot_pair
from transports.config.engine import AppConfig, PairConfig
from transports.config.sim_scenarios import SimBasisConfig
from transports.errors import ConfigError
from transports.venues.sim.matching import Book
from transports.venues.sim.scenarios import FairFn
from transports.venues.sim.truth import DirWindows

#: days to expiry of a future quoted before the run's start is known (a model driven without
#: ``on_refresh``, e.g. by hand in a test)
FALLBACK_DAYS = 90.0


class BasisTruth:
    """Opportunity windows of one cash-and-carry pair."""

    def __init__(self, model: BasisModel) -> None:
        m = model
        self.model = m
        self.name = m.pair.name
        self.thr = m.cfg.sim.threshold_cny_g
        self.record = DirWindows(self.name, self.thr, m.cfg.sim.min_window_ms * 1_000_000,
                                 self._orders)

    def edges(self, ts: int, books: Mapping[str, Book]) -> tuple[float, float] | None:
        """(future rich edge, future cheap edge) in A's points at ``ts``; None when a book is
        missing or too thin for the clip."""
        m = self.model
        ba, bb = books.get(m.a_key), books.get(m.b_key)
        if ba is None or bb is None:
            return None
        bid_a, ask_a = ba.vwap("B", m.la), ba.vwap("S", m.la)
        bid_b, ask_b = bb.vwap("B", m.lb), bb.vwap("S", m.lb)
        k = 1.0 + m.b_cfg.rate * m.days_at(ts) / 365.0
        d, su, ta, fee = m.b_cfg.dividends, m.s_unit, m.tick_a, m.fee_rt
        rich = cheap = -math.inf
        if bid_a is not None and ask_b is not None:
            rich = bid_a * ta - (ask_b * su * k - d) - fee
        if ask_a is not None and bid_b is not None:
            cheap = (bid_b * su * k - d) - ask_a * ta - fee
        return rich, cheap

    def observe(self, ts: int, books: Mapping[str, Book]) -> None:
        """Evaluate the edges now and open, extend or close a window (reverse carry only when
        the pair trades it)."""
        self.record.observe(ts, self.edges(ts, books), plus=self.model.reverse)

    def _orders(self, direction: int) -> dict[str, Any]:
        """The orders that trade a window of ``direction`` (-1: the future is rich)."""
        m, rich = self.model, direction < 0
        return {"want": [[m.a_venue, m.a_sym, "S" if rich else "B"],
                         [m.b_venue, m.b_sym, "B" if rich else "S"]],
                "held": [m.a_venue, m.a_sym, -1 if rich else 1]}

    @property
    def windows(self) -> list[dict[str, Any]]:
        """The windows kept so far."""
        return self.record.windows

    def finish(self, ts: int) -> None:
        """Close an open window at ``ts`` (end of the run)."""
        self.record.finish(ts)


class BasisModel:
    """An index future and its spot/ETF with carry and dividends (see the module docstring)."""

    def __init__(self, pair: PairConfig, cfg: AppConfig) -> None:
        if pair.fx:
            raise ConfigError(f"pairs.{pair.name}.fx: the simulated basis market has no FX "
                              "(quote the spot in the future's currency)")
        contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
        ca, cb = contracts[pair.leg_a], contracts[pair.leg_b]
        if not ca.expiry:
            raise ConfigError(f"pairs.{pair.name}.leg_a: {pair.leg_a} has no expiry")
        self.pair, self.cfg = pair, cfg
        self.b_cfg: SimBasisConfig = cfg.sim.basis or SimBasisConfig()
        self.reverse = pair.basis.reverse if pair.basis is not None else True
        self.a_key, self.b_key = pair.leg_a, pair.leg_b
        self.a_venue, self.a_sym = ca.venue, ca.sym
        self.b_venue, self.b_sym = cb.venue, cb.sym
        la, lb, _ = best_lot_pair(ca.base_per_lot, cb.base_per_lot, pair.max_clip_lots_a,
                                  pair.max_clip_lots_b)
        self.la, self.lb = int(la), int(lb)
        self.tick_a = float(Decimal(ca.tick))
        self.s_unit = float(Decimal(cb.tick)) * pair.unit_factor  #: one tick of B in A's points
        self.fee_rt = 2.0 * (self.la * ca.fee_per_lot + self.lb * cb.fee_per_lot) / (
            self.la * ca.multiplier)
        self.expiry_at_ns = expiry_ns(ca.expiry)
        self.step_ns = cfg.sim.step_ms * 1_000_000
        self.start_ns: int | None = None  #: the run's start, from the first refresh
        sim = cfg.sim
        self._vol_k = self.b_cfg.vol_bps_s / sim.vol_gold_bps_s if sim.vol_gold_bps_s else 0.0

    # --- prices -----------------------------------------------------------------------------------

    def spot_b(self, proc: Any, k: int) -> float:
        """Leg B's fair price (B's units) at step ``k``."""
        path = proc.gold_fx(k)[0] / proc.sim.gold_usd_oz
        return self.b_cfg.spot_px * path ** self._vol_k

    def days(self, k: int) -> float:
        """Days to expiry at step ``k``."""
        d0 = self.b_cfg.days_to_expiry
        if d0 > 0:
            return max(d0 - k * self.step_ns / NS_PER_DAY, 0.0)
        if self.start_ns is None:  # never in a run: the first refresh (of the spot) told it
            return FALLBACK_DAYS
        return self.days_at(self.start_ns + k * self.step_ns)

    def days_at(self, ts: int) -> float:
        """Days to expiry at the absolute time ``ts`` (ns)."""
        d0 = self.b_cfg.days_to_expiry
        if d0 > 0:
            elapsed = ts - self.start_ns if self.start_ns is not None else 0
            return max(d0 - elapsed / NS_PER_DAY, 0.0)
        left = self.expiry_at_ns - ts
        return left / NS_PER_DAY if left > 0 else 0.0

    def future(self, proc: Any, k: int) -> float:
        """Leg A's fair price (index points) at step ``k``: the carry plus the dislocation."""
        s = self.spot_b(proc, k) * self.pair.unit_factor
        b = self.b_cfg
        return s * (1.0 + b.rate * self.days(k) / 365.0) - b.dividends + \
            proc.dislocation(k * proc.step_s)

    # --- the model protocol -----------------------------------------------------------------------

    def fairs(self) -> dict[str, FairFn]:
        return {self.b_key: self.spot_b, self.a_key: self.future}

    def truth(self) -> BasisTruth:
        return BasisTruth(self)

    def set_start(self, start_ns: int) -> None:
        """The run's start, told by the simulator before any refresh (``SimCore``)."""
        self.start_ns = start_ns

    def on_refresh(self, venue: str, t_ns: int, k: int, proc: Any,
                   positions: Mapping[str, Mapping[str, int]]
                   ) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
        """Learn the run's start (``t_ns - k x step``) at the first refresh; nothing to send."""
        if self.start_ns is None:
            self.start_ns = t_ns - k * self.step_ns
        return [], []


def build(pair: PairConfig, cfg: AppConfig) -> BasisModel:
    """The basis market of ``pair``."""
    return BasisModel(pair, cfg)


__all__ = ["BasisModel", "BasisTruth", "build"]
