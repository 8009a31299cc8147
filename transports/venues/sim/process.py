"""The simulator's seeded price process: gold, USDCNH and the domestic leg's dislocations.

Pure and deterministic: the state at step ``k`` depends only on ``SimConfig`` (its seed) and
``k``, never on when or in which order steps are asked for. Gold (USD/ozt) and the FX rate follow
driftless geometric random walks; the domestic fair price is

    fair_a = gold * fx * unit_factor + basis_cny_g + dislocation(t)

where ``dislocation`` is a step function: episodes with exponential inter-arrival times (mean
``dislocation_every_s``) after ``warmup_s``, a random sign, a size uniform in
[0.75, 1.25] x ``dislocation_cny_g``, held ``dislocation_hold_s`` and then back to exactly 0, so
the windows between episodes are clean.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from transports.config.engine import AppConfig
from transports.config.sim import SimConfig
from transports.venues.sim.scenarios import model_for

GRAMS_PER_OZT = 31.1034768
BLOCK = 4096  #: steps generated at a time


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator for ``stream`` of ``seed`` (0: gold/fx path, 1: dislocations,
    2: faults, (3, i): venue i's market maker, 4: the competitor, 5+: scenario models)."""
    ss = np.random.SeedSequence(entropy=seed % 2**64, spawn_key=stream)
    return np.random.Generator(np.random.PCG64(ss))


@dataclass(frozen=True, slots=True)
class Episode:
    """One dislocation episode, in seconds since the start of the process."""

    start_s: float
    end_s: float
    sign: int  #: +1: the domestic leg is rich (spread too high), -1: cheap
    size: float  #: positive, in A's price units (CNY/g)
    taken: bool = False  #: cut short by the competitor (``[sim.competitor]``)

    @property
    def value(self) -> float:
        """The signed dislocation while the episode lasts."""
        return self.sign * self.size


@dataclass(frozen=True, slots=True)
class ProcessState:
    """The process at one step."""

    k: int
    t_s: float
    gold: float  #: USD per troy ounce
    fx: float  #: USDCNH
    dislocation: float  #: CNY per gram
    fair_a: float  #: the domestic leg's fair price (CNY per gram)


class PriceProcess:
    """Seeded, step-indexed price process; blocks of steps are generated lazily in order."""

    def __init__(self, sim: SimConfig, *, keep_blocks: int = 1024) -> None:
        self.sim = sim
        self.step_s = sim.step_ms / 1000.0
        self._rng = rng_for(sim.seed, 0)
        self._disl_rng = rng_for(sim.seed, 1)
        dt = self.step_s
        sg = sim.vol_gold_bps_s * 1e-4
        sf = sim.vol_fx_bps_s * 1e-4
        self._scale = np.array([sg * math.sqrt(dt), sf * math.sqrt(dt)])
        self._drift = np.array([-0.5 * sg * sg * dt, -0.5 * sf * sf * dt])
        self._blocks: dict[int, np.ndarray] = {}  # block index -> (BLOCK, 2) log levels
        self._next_block = 0
        self._next_log = np.array([math.log(sim.gold_usd_oz), math.log(sim.usdcnh)])
        self._keep = keep_blocks
        self._episodes: list[Episode] = []
        self._starts: list[float] = []
        self._ep_cursor = sim.warmup_s
        self._comp_rng = rng_for(sim.seed, 4)  #: the competitor's draws (own stream)

    # --- the random walk ------------------------------------------------------------------------

    def _block(self, b: int) -> np.ndarray:
        while self._next_block <= b:
            z = self._rng.standard_normal((BLOCK, 2))
            inc = z * self._scale + self._drift
            logs = self._next_log + np.vstack([np.zeros(2), np.cumsum(inc[:-1], axis=0)])
            self._next_log = logs[-1] + inc[-1]
            self._blocks[self._next_block] = logs
            self._blocks.pop(self._next_block - self._keep, None)
            self._next_block += 1
        try:
            return self._blocks[b]
        except KeyError:
            raise IndexError(f"step block {b} is no longer kept") from None

    def gold_fx(self, k: int) -> tuple[float, float]:
        """Return (gold USD/ozt, USDCNH) at step ``k`` (k >= 0)."""
        if k < 0:
            raise IndexError(f"step must be >= 0, got {k}")
        row = self._block(k // BLOCK)[k % BLOCK]
        return math.exp(row[0]), math.exp(row[1])

    def path(self, n: int) -> np.ndarray:
        """Return an (n, 3) array of gold, fx and fair_a for steps 0..n-1 (tests, plots)."""
        out = np.empty((n, 3))
        for k in range(n):
            s = self.state(k)
            out[k] = (s.gold, s.fx, s.fair_a)
        return out

    # --- dislocations ---------------------------------------------------------------------------

    def _extend_episodes(self, t_s: float) -> None:
        sim = self.sim
        while self._ep_cursor <= t_s:
            start = self._ep_cursor + float(self._disl_rng.exponential(sim.dislocation_every_s))
            sign = 1 if self._disl_rng.random() < 0.5 else -1
            size = float(self._disl_rng.uniform(0.75, 1.25)) * sim.dislocation_cny_g
            end = start + sim.dislocation_hold_s
            comp = sim.competitor
            taken = False
            if comp is not None and self._comp_rng.random() < comp.share:
                # another arbitrageur closes this one first, a few hundred ms in
                lo, hi = comp.delay_ms_min, max(comp.delay_ms_min, comp.delay_ms_max)
                end = min(end, start + float(self._comp_rng.uniform(lo, hi)) / 1000.0)
                taken = True
            self._episodes.append(Episode(start, end, sign, size, taken))
            self._starts.append(start)
            self._ep_cursor = end

    def episodes_until(self, t_s: float) -> list[Episode]:
        """Return every episode that starts at or before ``t_s``."""
        self._extend_episodes(t_s)
        return self._episodes[: bisect.bisect_right(self._starts, t_s)]

    def dislocation(self, t_s: float) -> float:
        """Return the dislocation (signed, CNY/g) at time ``t_s`` since the start."""
        self._extend_episodes(t_s)
        i = bisect.bisect_right(self._starts, t_s) - 1
        if i >= 0:
            ep = self._episodes[i]
            if ep.start_s <= t_s < ep.end_s:
                return ep.value
        return 0.0

    # --- the whole state ------------------------------------------------------------------------

    def state(self, k: int, *, unit_factor: float = 1.0 / GRAMS_PER_OZT) -> ProcessState:
        """Return the process at step ``k``."""
        gold, fx = self.gold_fx(k)
        t_s = k * self.step_s
        d = self.dislocation(t_s)
        fair_a = gold * fx * unit_factor + self.sim.basis_cny_g + d
        return ProcessState(k, t_s, gold, fx, d, fair_a)


class FairModel:
    """Maps each configured contract to its fair price, from the pairs of the config.

    A pair's ``leg_b`` is quoted around gold, its ``fx`` contract around the process's rate (or
    its inverse when the pair says ``fx_invert``) and its ``leg_a`` around
    gold x rate x unit_factor + basis + dislocation. A contract in no pair is quoted around
    gold when its ``underlying`` is that of some pair's ``leg_b`` (another market of the same
    asset, e.g. a perpetual beside the spot pair); any other gets no market maker (its book
    stays empty).
    """

    def __init__(self, cfg: AppConfig) -> None:
        self._role: dict[str, tuple[str, float]] = {}
        #: non-parity pairs: their scenario models (``transports.venues.sim.scenarios``), the
        #: fair functions of the contracts they quote, and those with venue hooks
        self.models: dict[str, Any] = {}
        self._fns: dict[str, Any] = {}
        for p in cfg.pairs:
            m = model_for(p, cfg)
            if m is not None:
                self.models[p.name] = m
                for key, fn in m.fairs().items():
                    self._fns.setdefault(key, fn)
        self.hooks = [m for m in self.models.values() if hasattr(m, "on_refresh")]
        for p in cfg.pairs:
            if p.kind != "parity":
                continue
            self._role.setdefault(p.leg_b, ("b", 1.0))
            if p.fx:
                self._role.setdefault(p.fx, ("fx_inv" if p.fx_invert else "fx", 1.0))
            self._role[p.leg_a] = ("a" if p.fx else "a_nofx", p.unit_factor)
        under = {f"{c.venue}:{c.sym}": c.underlying for c in cfg.contracts}
        b_assets = {under.get(p.leg_b, "") for p in cfg.pairs} - {""}
        for key, u in under.items():
            if u in b_assets:
                self._role.setdefault(key, ("b", 1.0))

    def quoted(self, key: str) -> bool:
        """True when ``venue:sym`` gets a market maker."""
        return key in self._role or key in self._fns

    def fair(self, key: str, proc: PriceProcess, k: int) -> float | None:
        """Return the fair price of ``venue:sym`` at step ``k`` (None: not quoted)."""
        fn = self._fns.get(key)
        if fn is not None:
            return float(fn(proc, k))
        role = self._role.get(key)
        if role is None:
            return None
        kind, uf = role
        gold, fx = proc.gold_fx(k)
        if kind == "b":
            return gold
        if kind == "fx":
            return fx
        if kind == "fx_inv":
            return 1.0 / fx
        rate = fx if kind == "a" else 1.0
        return gold * rate * uf + proc.sim.basis_cny_g + proc.dislocation(k * proc.step_s)
