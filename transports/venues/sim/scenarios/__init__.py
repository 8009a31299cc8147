"""What the simulator needs per strategy kind: the fair price of each contract a pair uses and
the ground-truth opportunity windows by the kind's own definition.

A pair of kind ``parity`` is the gold pair of ``transports.venues.sim.process.FairModel`` and
``transports.venues.sim.truth.PairTruth``. Every other kind has a module here (``basis``,
``funding``, ``multi``, ``stat``) with ``build(pair, cfg) -> KindModel``. The shared
``PriceProcess`` gives each model its random walk (``gold_fx``: the asset's path, scaled by the
model to its own start price), the episode process (``dislocation``) and the step length.

A window is a dict with ``pair``, ``start_ns``, ``end_ns``, ``dir`` and ``peak_edge`` as the
parity truth writes it, plus ``want``: the entry orders that count as trading it, a list of
``[venue, sym, side]`` (an order of the account on that venue, attempt 0 of a combo, inside the
window), and optionally ``held``: ``[venue, sym, sign]`` — the window also counts as traded
when the account's position in that symbol (from the venue's fills) already has that sign at
the window's start (a funding window taken by a position entered before it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from transports.config.engine import AppConfig, PairConfig
from transports.venues.sim.matching import Book

#: (process, step) -> the contract's fair price in its price units (not ticks)
FairFn = Callable[[Any, int], float]


class KindTruth(Protocol):
    """Opportunity windows of one pair, measured on the simulator's own books."""

    name: str

    def observe(self, ts: int, books: Mapping[str, Book]) -> None:
        """Evaluate the pair now (after every refresh and order) and open/extend/close."""

    def finish(self, ts: int) -> None:
        """Close an open window at the end of the run."""

    @property
    def windows(self) -> list[dict[str, Any]]:
        """The closed windows so far."""


class KindModel(Protocol):
    """One pair's market in the simulator."""

    def fairs(self) -> dict[str, FairFn]:
        """Contract key (``venue:sym``) -> its fair price function."""

    def truth(self) -> KindTruth:
        """A fresh truth recorder for the pair."""


class StartAware(Protocol):
    """Optional: a model whose prices depend on wall time (a future's days to expiry) is told
    the run's start by ``SimCore`` before the first refresh."""

    def set_start(self, start_ns: int) -> None:
        """The simulator's start time (ns since the epoch)."""


class VenueHooks(Protocol):
    """Optional, for kinds whose venues do more than quote (funding: marks and payments):
    ``on_refresh`` is called at each refresh of ``venue`` with the step and the positions
    (account -> sym -> signed lots) and returns (md items ``(topic, msg)`` to publish,
    oe items ``(account, msg)`` to send)."""

    def on_refresh(self, venue: str, t_ns: int, k: int, proc: Any,
                   positions: Mapping[str, Mapping[str, int]]
                   ) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
        """Called at every refresh of ``venue``."""


def model_for(pair: PairConfig, cfg: AppConfig) -> KindModel | None:
    """The model of a non-parity pair (None for ``parity``: the gold model handles it)."""
    if pair.kind == "parity":
        return None
    mod = importlib.import_module(f"transports.venues.sim.scenarios.{pair.kind}")
    return mod.build(pair, cfg)  # type: ignore[no-any-return]


__all__ = ["FairFn", "KindModel", "KindTruth", "StartAware", "VenueHooks", "model_for"]
