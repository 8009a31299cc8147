"""The contracts the unit tests trade: SHFE gold (au2606) and COMEX gold (GCZ6), built once.

Each test file used to spell these out itself; the builders take overrides for what a test
needs to differ (fees, limits), so the common facts (tick, multiplier, grams per lot) have one
home."""

from __future__ import annotations

from typing import Any

from transports.config.engine import ContractConfig

MS = 1_000_000
#: grams of gold in one COMEX GC lot (100 troy oz)
G_PER_GC = 3110.34768


def au(**overrides: Any) -> ContractConfig:
    """SHFE gold: 0.02 CNY/g ticks, 1000 g a lot."""
    fields: dict[str, Any] = dict(venue="shfe", sym="au2606", tick="0.02", multiplier=1000.0,
                                  unit="g", ccy="CNY", underlying="gold", base_per_lot=1000.0)
    return ContractConfig(**{**fields, **overrides})


def gc(**overrides: Any) -> ContractConfig:
    """COMEX gold: 0.10 USD/ozt ticks, 100 ozt a lot."""
    fields: dict[str, Any] = dict(venue="comex", sym="GCZ6", tick="0.10", multiplier=100.0,
                                  unit="ozt", ccy="USD", underlying="gold", base_per_lot=G_PER_GC)
    return ContractConfig(**{**fields, **overrides})


__all__ = ["G_PER_GC", "MS", "au", "gc"]
