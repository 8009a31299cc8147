"""The funding scenario (资金费率): a BTC spot market (leg A) and its perpetual (leg B) with a
funding schedule, and the ground truth of the funding-rate strategy (``actors.strategy.funding``).

Prices (``[sim.funding]``, ``SimFundingConfig``), in the contracts' price units:

    spot(k) = spot_px x (gold(k) / gold_usd_oz) ^ (vol_bps_s / vol_gold_bps_s)
    perp(k) = spot(k) x (1 + premium_per_rate x rate(k))

``gold`` is the shared seeded walk (``PriceProcess.gold_fx``), used as a unit-free path and
rescaled to the scenario's volatility. Funding time ``n`` (n = 1, 2, ...) is ``n x interval_s``
after the start of the process; ``rate(k)`` is the rate of the next funding time after step
``k``. Rates come in regimes of ``regime_intervals`` funding times, each drawn uniformly from
``rates`` by the seeded stream ``rng_for(seed, 6)`` (in order, so the draw is the same whatever
asks first).

The venue hook (``on_refresh``, at every refresh of the perpetual's venue): funding times that
have passed are settled first: each account holding the perpetual (the positions from the
venue's fills) is sent ``funding`` (protocol v2, oe) with
``paid = -lots x base_per_lot x mark x rate`` in the contract's currency (longs pay a positive
rate, shorts receive it) and ``ts`` the funding time; the simulator's truth records each
(``SimTruth.record_funding``, by ``SimCore``). Then a ``mark`` (protocol v2, md topic
``md.<sym>``) is published: the perpetual's fair price and the spot's (index) in the perpetual's
ticks, the rate of the next funding time as a decimal string, and that time.

Ground truth (``FundingTruth``), by the strategy's own rule and the pair's ``[pairs.funding]``:
for each funding time ``T`` that passed whose rate is beyond ``entry_rate`` (below
``-entry_rate`` counts only with ``reverse``) and whose marks were beyond it on that side for at
least ``consecutive`` marks in a row up to ``T - lead_s``, the window is ``[T - lead_s, T]``.
``want``: buy spot and sell the perpetual (positive funding) or the reverse; ``held``: the
perpetual already held short (long) counts, a position entered before the window.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from transports.config.engine import AppConfig, PairConfig
from transports.config.sim_scenarios import SimFundingConfig
from transports.config.strategies import FundingConfig
from transports.wire.venue_msgs import Funding, Mark, md_topic

#: the seeded stream of the regime draws (``transports.venues.sim.process.rng_for``)
RATE_STREAM = 6


def rate_str(rate: float) -> str:
    """A rate as the protocol's plain decimal string (``5e-05`` -> ``"0.00005"``); ``float`` of
    it gives ``rate`` back exactly."""
    return format(Decimal(repr(rate)).normalize(), "f")


class FundingTruth:
    """The funding windows of one pair (filled by the model as funding times pass)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.windows: list[dict[str, Any]] = []

    def observe(self, ts: int, books: Any) -> None:
        """Nothing to measure on the books: the windows follow the funding schedule."""

    def finish(self, ts: int) -> None:
        """A funding time that did not pass within the run makes no window."""


class FundingModel:
    """The spot and perpetual prices, the funding schedule, marks and payments of one pair."""

    def __init__(self, pair: PairConfig, cfg: AppConfig) -> None:
        from transports.venues.sim.process import rng_for  # process imports this package

        sim = cfg.sim
        self.s = sim.funding if sim.funding is not None else SimFundingConfig()
        self.rule = pair.funding if pair.funding is not None else FundingConfig()
        self.pair = pair.name
        contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
        self.spot_key, self.perp_key = pair.leg_a, pair.leg_b
        self.spot_venue, self.spot_sym = pair.leg_a.split(":", 1)
        self.perp_venue, self.perp_sym = pair.leg_b.split(":", 1)
        cp = contracts[pair.leg_b]
        self.perp_tick = float(Decimal(cp.tick))
        self.perp_base = cp.base_per_lot or cp.multiplier
        self.perp_ccy = cp.ccy
        self.g0 = sim.gold_usd_oz
        self.vol_k = self.s.vol_bps_s / sim.vol_gold_bps_s if sim.vol_gold_bps_s > 0 else 0.0
        self.step_ns = sim.step_ms * 1_000_000
        self.interval_ns = round(self.s.interval_s * 1e9)
        self.lead_ns = round(self.rule.lead_s * 1e9)
        self._rng = rng_for(sim.seed, RATE_STREAM)
        self._regimes: list[float] = []
        self.start_ns: int | None = None  #: the process's step 0 in venue time (first refresh)
        self.settled = 0  #: funding times settled
        #: (mark ts, signed streak after it) since shortly before the last funding time's lead
        self._marks: list[tuple[int, int]] = []
        self._streak = 0
        self._truths: list[FundingTruth] = []

    # --- the schedule and prices --------------------------------------------------------------

    def rate_of(self, n: int) -> float:
        """The funding rate (per interval) of funding time ``n`` (>= 1)."""
        r = (n - 1) // self.s.regime_intervals
        rates = self.s.rates
        while len(self._regimes) <= r:
            self._regimes.append(float(rates[int(self._rng.integers(len(rates)))]))
        return self._regimes[r]

    def next_n(self, k: int) -> int:
        """The next funding time after step ``k`` (one at step ``k`` itself has passed)."""
        return k * self.step_ns // self.interval_ns + 1

    def spot(self, proc: Any, k: int) -> float:
        gold, _ = proc.gold_fx(k)
        return self.s.spot_px * (gold / self.g0) ** self.vol_k

    def perp(self, proc: Any, k: int) -> float:
        return self.spot(proc, k) * (1.0 + self.s.premium_per_rate * self.rate_of(self.next_n(k)))

    def fairs(self) -> dict[str, Any]:
        return {self.spot_key: self.spot, self.perp_key: self.perp}

    def truth(self) -> FundingTruth:
        t = FundingTruth(self.pair)
        self._truths.append(t)
        return t

    # --- the venue hook -----------------------------------------------------------------------

    def on_refresh(self, venue: str, t_ns: int, k: int, proc: Any,
                   positions: Any) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
        """At the perpetual venue's refresh: settle passed funding times, publish the mark.

        ``positions`` (account -> sym -> signed lots) is the simulator's record of fills on
        every venue, so the perpetual's symbol must not also be traded elsewhere by an
        account of the perpetual's venue."""
        if venue != self.perp_venue:
            return [], []
        if self.start_ns is None:
            self.start_ns = t_ns - k * self.step_ns
        start = self.start_ns
        oe: list[tuple[str, Any]] = []
        mark = self.perp(proc, k)
        due = self.next_n(k) - 1
        while self.settled < due:
            n = self.settled + 1
            self.settled = n
            rate = self.rate_of(n)
            when = start + n * self.interval_ns
            for account in sorted(positions):
                lots = positions[account].get(self.perp_sym, 0)
                if lots:
                    paid = round(-lots * self.perp_base * mark * rate, 8)
                    oe.append((account, Funding(sym=self.perp_sym, ts=when, rate=rate_str(rate),
                                                paid=paid, ccy=self.perp_ccy)))
            self._window(when, rate)
        n = self.next_n(k)
        rate = self.rate_of(n)
        e = self.rule.entry_rate
        if rate > e:
            self._streak = self._streak + 1 if self._streak > 0 else 1
        elif rate < -e:
            self._streak = self._streak - 1 if self._streak < 0 else -1
        else:
            self._streak = 0
        self._marks.append((t_ns, self._streak))
        tick = self.perp_tick
        msg = Mark(sym=self.perp_sym, ts=t_ns, mark_px=round(mark / tick),
                   index_px=round(self.spot(proc, k) / tick), funding_rate=rate_str(rate),
                   next_funding_ts=start + n * self.interval_ns)
        return [(md_topic(self.perp_sym), msg)], oe

    def _window(self, when: int, rate: float) -> None:
        """Funding time ``when`` passed at ``rate``: a window when the rule would have entered."""
        rule = self.rule
        start = when - self.lead_ns
        streak = 0  # the streak of the last mark at or before the lead time
        keep = 0
        for i, (ts, s) in enumerate(self._marks):
            if ts > start:
                break
            streak, keep = s, i
        del self._marks[:keep]  # later funding times look at later marks only
        side = 1 if rate > 0 else -1
        if abs(rate) <= rule.entry_rate or (side < 0 and not rule.reverse) \
                or streak * side < rule.consecutive:
            return
        sv, ss, pv, ps = self.spot_venue, self.spot_sym, self.perp_venue, self.perp_sym
        w = {"pair": self.pair, "start_ns": start, "end_ns": when, "dir": side,
             "peak_edge": abs(rate),
             "want": [[sv, ss, "B" if side > 0 else "S"], [pv, ps, "S" if side > 0 else "B"]],
             "held": [pv, ps, -side], "rate": rate}
        for t in self._truths:
            t.windows.append(dict(w))


def build(pair: PairConfig, cfg: AppConfig) -> FundingModel:
    """The model of funding pair ``pair`` (``transports.venues.sim.scenarios``)."""
    return FundingModel(pair, cfg)


__all__ = ["RATE_STREAM", "FundingModel", "FundingTruth", "build", "rate_str"]
