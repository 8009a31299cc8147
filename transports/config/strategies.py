"""Per-kind strategy settings: the sub-sections of a ``[[pairs]]`` entry whose ``kind`` is not
``parity`` (``[pairs.basis]``, ``[pairs.funding]``, ``[pairs.multi]``, ``[pairs.stat]``).

A pair of kind ``basis`` must have a ``basis`` section (and so on); a section for another kind
is an error (``transports.config.engine._validate``). Every field here is live: ``cmc admin set
pairs.<pair>.basis.rate 0.03`` and ``cmc replay --set pairs.<pair>.basis.rate=0.03`` change it.
The formulas are in ``docs/strategies.md``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from transports.config.base import NonNegFloat, NonNegInt, PosFloat, PosInt, Section


class BasisConfig(Section):
    """Cash-and-carry (期现): leg A the future, leg B the spot (an index ETF, a spot market).

    Fair future ``F* = S x (1 + rate x days / 365) - dividends`` with ``S`` leg B's price in
    A's units (``unit_factor``, FX) and ``days`` to leg A's ``expiry``. No entry unless the net
    edge beats ``cost_multiple`` x the cost estimate (fees of both legs, the expected impact from
    the rolling bid-ask spread, financing per day held), all in basis points of ``S``.
    """

    rate: float = 0.02  #: annual financing rate (fraction); ``rate_from`` overrides it
    rate_from: str = ""  #: "venue:sym" of a rate feed quoted as an annual fraction; "" = ``rate``
    dividends: float = 0.0  #: expected dividends/income to expiry, in A's price units (points)
    cost_multiple: Annotated[float, msgspec.Meta(ge=1.0)] = 1.2  #: the documents' 1.2x rule
    financing_bps_per_day: NonNegFloat = 0.0  #: carry cost of holding the position, per day
    expected_hold_days: NonNegFloat = 1.0  #: days of financing the cost estimate charges
    impact_window: PosInt = 200  #: book updates in the rolling bid-ask average (impact)
    no_entry_days: NonNegInt = 3  #: no entries in the last N trading days before expiry
    #: "converge": hold to convergence (close at expiry's fair / when the basis is back at
    #: fair); "bound": close early once the basis crosses back inside the cost bound
    exit: Annotated[str, msgspec.Meta(pattern=r"^(converge|bound)$")] = "bound"
    reverse: bool = True  #: trade reverse carry (sell spot, buy future) too


class FundingConfig(Section):
    """Funding-rate arbitrage (资金费率): leg A spot, leg B the perpetual.

    Positive funding stays above ``entry_rate`` for ``consecutive`` observations: buy spot, sell
    the perpetual (collect funding); below ``-entry_rate``: the reverse (when ``reverse``).
    Entries only within ``lead_s`` before the funding time; exit when the rate flips past
    ``exit_rate``, the basis breaks ``max_basis_bps``, or margin use crosses ``max_margin_pct``
    (of ``margin_capital``). The core: ``actors.strategy.funding``.
    """

    entry_rate: NonNegFloat = 0.0001  #: per funding interval (0.0001 = 1 bp)
    exit_rate: float = 0.0  #: close when the rate crosses back through this (sign-adjusted)
    consecutive: PosInt = 3  #: observations (marks) in a row beyond ``entry_rate``
    lead_s: NonNegFloat = 60.0  #: enter only this long (or less) before the funding time
    max_basis_bps: NonNegFloat = 50.0  #: |perp/spot - 1| beyond this: no entry, close held
    max_margin_pct: Annotated[float, msgspec.Meta(gt=0, le=100)] = 80.0  #: of margin capital
    reverse: bool = False  #: also trade negative funding (needs borrowable spot)
    #: the capital margin use is measured against, in the perpetual's currency: margin use =
    #: |perp lots| x multiplier x mark x the contract's ``margin_rate`` / this; 0 = not checked
    margin_capital: NonNegFloat = 0.0


class MultiConfig(Section):
    """One asset across many venues (搬砖): ``legs`` lists every ``venue:sym`` (at least three,
    leg A and leg B among them); each tick the best buy-venue/sell-venue pair by executable edge
    net of each venue's fees trades, a venue whose mid is beyond ``outlier_sigma`` from the
    cross-venue median is excluded until it comes back, and inventory bounds what is sold."""

    legs: Annotated[list[str], msgspec.Meta(min_length=3)]
    outlier_sigma: PosFloat = 5.0  #: deviation from the median, in rolling sigmas
    outlier_window: PosInt = 500  #: samples of each venue's deviation kept for its sigma
    #: the smallest deviation from the median (bps) that excludes a venue, whatever its sigma:
    #: in a calm market the sigma is a fraction of a tick and the dislocations traded on would
    #: otherwise be "outliers" themselves
    outlier_min_bps: NonNegFloat = 50.0
    #: on a flatten, a sub-pair with an excluded venue waits this long for it to come back
    #: before it closes against the bad price anyway
    flatten_wait_s: NonNegFloat = 5.0
    #: base units (coins) each venue holds at start ("venue:sym" -> amount); a venue not named
    #: may be sold short (a derivative); a spot venue sells only what it holds
    inventory_base: dict[str, NonNegFloat] = {}
    spot: list[str] = []  #: the legs that are spot (sell only what is held)


class StatConfig(Section):
    """Statistical pairs: spread ``ln P_A - beta ln P_B - alpha`` with (alpha, beta) from a
    Kalman filter, an Engle-Granger test at start and every ``coint_every_s`` (no entries while
    the p-value is above ``coint_pvalue``), z-score entry/exit (the pair's ``z_entry`` /
    ``z_exit``) and stops on z decay or residual drift."""

    #: Kalman state noise: each coefficient's random-walk variance per sample is
    #: delta / (1 - delta) (how fast alpha and beta may drift)
    delta: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 1e-5
    obs_var: PosFloat = 1e-6  #: Kalman observation noise variance
    coint_pvalue: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.05
    coint_window: PosInt = 1000  #: samples the cointegration test uses
    coint_every_s: PosFloat = 10.0  #: re-test on this schedule
    max_half_life_s: PosFloat = 30.0  #: no entries when the spread reverts slower than this
    z_stop: PosFloat = 4.0  #: close when |z| grows beyond this (the pair broke)
    max_hold_s: PosFloat = 60.0  #: close when the trade has not reverted in this long
    sample_ms: PosInt = 20  #: one sample of the spread per this much time
    #: Kalman innovation gate: an observation beyond this many innovation sigmas does not
    #: update (alpha, beta) (a dislocation must not drag the hedge); 0 = never gate
    gate_sigma: NonNegFloat = 4.0
    #: the Engle-Granger regression's deterministic terms: "c" constant, "ct" constant and
    #: a linear trend (a hedge ratio drifting within the test window)
    coint_trend: Annotated[str, msgspec.Meta(pattern=r"^(c|ct)$")] = "c"


__all__ = ["BasisConfig", "FundingConfig", "MultiConfig", "StatConfig"]
