"""``cmc demo --scenario NAME``: the simulator markets of each strategy kind, as configs in
``conf/scenarios/NAME.toml`` (shipped with the package)."""

from __future__ import annotations

from importlib import resources

from transports.errors import ConfigError

#: scenario -> what it shows (``cmc demo --help`` and the error for an unknown name)
SCENARIOS = {
    "gold": "SHFE gold against COMEX gold through USDCNH, edge trigger (parity)",
    "gold-competitor": "the gold pair with a competitor closing half the dislocations first",
    "basis": "an index future against its ETF: cash-and-carry with carry and dividends",
    "funding": "BTC spot against its perpetual with a funding schedule",
    "multi-venue": "one asset on three venues with different fees and an outlier venue",
    "stat-arb": "a cointegrated pair whose hedge ratio drifts (Kalman, Engle-Granger)",
}


def scenario_conf(name: str) -> str:
    """The path of scenario ``name``'s config; ``ConfigError`` naming the known ones."""
    if name not in SCENARIOS:
        raise ConfigError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    path = resources.files("conf").joinpath("scenarios", f"{name}.toml")
    if not path.is_file():
        raise ConfigError(f"scenario {name!r}: its config {path} is missing")
    return str(path)


__all__ = ["SCENARIOS", "scenario_conf"]
