"""The simulator's scenario sections: what each strategy kind's market needs beyond the gold
pair (``[sim.basis]``, ``[sim.funding]``, ``[sim.multi]``, ``[sim.stat]``) and a competitor
who closes dislocations first (``[sim.competitor]``).

A pair of kind ``basis`` (``funding``, ``multi``, ``stat``) is simulated with its section (the
defaults when absent); the shared episode process (``[sim] dislocation_*``, sizes in leg A's
price units) dislocates leg A. Read by ``transports.venues.sim.scenarios``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from transports.config.base import NonNegFloat, PosFloat, PosInt, Rate, Section


class SimCompetitorConfig(Section):
    """Another arbitrageur: it closes ``share`` of the dislocation episodes after a delay
    uniform in [``delay_ms_min``, ``delay_ms_max``] (the episode ends then)."""

    share: Rate = 0.5
    delay_ms_min: PosInt = 100
    delay_ms_max: PosInt = 400


class SimBasisConfig(Section):
    """An index future (leg A) over its spot/ETF (leg B): ``F = S (1 + rate days/365) - D``."""

    spot_px: PosFloat = 4000.0  #: leg B's start price, in B's price units
    rate: float = 0.025  #: the true financing rate (annual)
    dividends: float = 12.0  #: expected dividends to expiry, in A's price units
    vol_bps_s: NonNegFloat = 8.0
    #: days to leg A's expiry at the start of the run, decreasing with time; 0 = from the
    #: contract's ``expiry`` and the run's real start (what the strategy sees on its clock)
    days_to_expiry: NonNegFloat = 0.0


class SimFundingConfig(Section):
    """A BTC spot (leg A) and its perpetual (leg B) with a funding schedule: every
    ``interval_s`` from the simulator's start the perpetual pays ``rate`` (per interval) from
    longs to shorts (a negative rate the other way); the rate follows regimes of
    ``regime_intervals`` intervals drawn from ``rates`` (seeded). Spot follows the shared walk
    rescaled to ``spot_px`` and ``vol_bps_s``; the perpetual is spot x (1 + premium_per_rate x
    the next funding time's rate). The perpetual's venue publishes a ``mark`` at each refresh
    and sends ``funding`` to the accounts holding it
    (``transports.venues.sim.scenarios.funding``)."""

    spot_px: PosFloat = 60000.0
    interval_s: PosFloat = 8.0
    rates: Annotated[list[float], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: [0.0003, -0.0002, 0.00005])
    regime_intervals: PosInt = 3
    premium_per_rate: float = 1.0  #: the perpetual's premium over spot = this x the rate
    vol_bps_s: NonNegFloat = 8.0


class SimMultiConfig(Section):
    """One asset on several venues: episodes dislocate one venue at a time (drawn per episode);
    ``outlier_venue`` jumps ``outlier_bps`` away every ``outlier_every_s`` for
    ``outlier_hold_s`` (a bad print, not an opportunity)."""

    spot_px: PosFloat = 60000.0
    outlier_venue: str = ""
    outlier_bps: PosFloat = 300.0
    outlier_every_s: PosFloat = 9.0
    outlier_hold_s: PosFloat = 1.5
    vol_bps_s: NonNegFloat = 8.0


class SimStatConfig(Section):
    """A cointegrated pair: ``ln P_A = alpha + beta_t ln P_B + u_t + d_t`` with ``u`` an
    Ornstein-Uhlenbeck residual, ``beta_t`` drifting ``beta_drift_per_s`` per second and ``d``
    the shared dislocation episodes (``[sim] dislocation_*``, sizes in A's price units, divided
    by A's start price into log units). Windows (``transports.venues.sim.scenarios.stat``):
    the executable log-spread against the true equilibrium, net of both legs' fees, at least
    ``threshold_bps``."""

    px_b: PosFloat = 100.0
    alpha: float = 0.2
    beta: PosFloat = 1.0
    beta_drift_per_s: float = 0.0002
    ou_theta_per_s: PosFloat = 0.5
    ou_sigma_bps_s: NonNegFloat = 2.0  #: OU diffusion (stationary std = this / sqrt(2 theta))
    vol_bps_s: NonNegFloat = 8.0  #: leg B's volatility when ``b_path = "own"``
    #: leg B's path: "shared" (the process's gold walk as a unit-free factor) or "own" (its
    #: own seeded walk at ``vol_bps_s``)
    b_path: Annotated[str, msgspec.Meta(pattern=r"^(shared|own)$")] = "shared"
    threshold_bps: NonNegFloat = 10.0  #: ground-truth windows: net log edge beyond fees


__all__ = ["SimBasisConfig", "SimCompetitorConfig", "SimFundingConfig", "SimMultiConfig",
           "SimStatConfig"]
