"""Which venue a ccxt gateway serves, and where its fake is (from the engine's config)."""

from __future__ import annotations

from transports.config.engine import AppConfig, VenueConfig
from transports.errors import ConfigError


def find_venue(cfg: AppConfig, venue: str | None, exchange: str | None,
               market: str | None) -> VenueConfig:
    """The ``[[venues]]`` entry to serve: by name, else the one ccxt venue of that exchange
    and market; ``ConfigError`` when none or several match, or the flags contradict it."""
    cands = [v for v in cfg.venues if v.ccxt is not None and (venue is None or v.name == venue)
             and (exchange is None or v.ccxt.exchange == exchange)
             and (market is None or v.ccxt.market == market)]
    if len(cands) != 1:
        what = f"venue {venue!r}" if venue else f"a ccxt venue for {exchange} {market}"
        raise ConfigError(f"{what}: {len(cands)} [[venues]] entries with [venues.ccxt] match"
                          + (" (name one with --venue)" if cands else ""))
    return cands[0]


def fake_base_of(cfg: AppConfig, v: VenueConfig) -> str | None:
    """``http://127.0.0.1:<port>`` of the venue's fake (``ccxt.fake``), if it has a port."""
    assert v.ccxt is not None
    if not v.ccxt.fake:
        return None
    for f in cfg.fakes:
        if f.exchange == v.ccxt.fake:
            if not f.port:
                raise ConfigError(f"[[fakes]] {f.exchange!r} has port 0: pass --fake-url")
            return f"http://127.0.0.1:{f.port}"
    raise ConfigError(f"$.venues.{v.name}.ccxt.fake: no [[fakes]] entry {v.ccxt.fake!r}")


__all__ = ["fake_base_of", "find_venue"]
