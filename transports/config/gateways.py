"""Config of the gateways that are not the built-in simulator: a ccxt venue, the local fakes of
real exchange APIs, and the paper gateway.

A venue says which gateway serves it with ``[venues.ccxt]`` (a ccxt exchange account) or
``[venues.paper]`` (paper fills on another gateway's market data); without either it is a
simulator venue. ``[[fakes]]`` lists the local fake exchanges ``cmc demo`` starts (and the
``cmc fake-exchange`` command serves), so ccxt gateways can be pointed at them.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from transports.config.base import NonNegFloat, NonNegInt, Port, PosFloat, PosInt, Section

Exchange = Literal["binance", "okx", "bybit"]
Market = Literal["spot", "swap"]


class CcxtVenueConfig(Section):
    """One exchange account behind ``cmc gateway ccxt``."""

    exchange: Exchange
    market: Market
    #: credentials: ``<env>_KEY``, ``<env>_SECRET`` (and ``<env>_PASSWORD`` for OKX) from the
    #: environment, or ``credentials_file`` (a TOML file with key/secret/password that only its
    #: owner can read; a group- or world-readable file is refused)
    credentials_env: str = ""
    credentials_file: str = ""
    sandbox: bool = False  #: the exchange's testnet (where ccxt supports it)
    #: point ccxt at the local fake exchange of this name (``[[fakes]]``) instead of the real
    #: API; the gateway does not otherwise know it is talking to a fake
    fake: str = ""
    hb_interval_ms: PosInt = 250
    mark_interval_ms: PosInt = 1000  #: perps: how often ``mark`` is published
    funding_poll_ms: PosInt = 2000  #: perps: how often the funding-payment history is read
    request_timeout_ms: PosInt = 5000  #: ccxt's HTTP timeout; a timed-out order is "unknown"
    reconnect_backoff_ms: PosInt = 250  #: first reconnect delay; doubles, with jitter
    reconnect_backoff_max_ms: PosInt = 10_000
    #: the durable map of engine client ids to exchange client ids (where the exchange limits
    #: their alphabet or length); empty: ``<state_dir>/<venue>-clmap.jsonl``
    clmap_path: str = ""
    state_dir: str = "runs/gateway-state"


class PaperVenueConfig(Section):
    """Paper trading: market data from another gateway, fills simulated against that book."""

    #: the venue (``[[venues]]`` name) whose gateway provides the market data
    md_from: str
    latency_us: NonNegInt = 500  #: one-way order latency added before matching
    taker_bps: NonNegFloat = 5.0
    maker_bps: NonNegFloat = 1.0
    #: a resting order's place in the queue: the share of the level's quantity ahead of it when
    #: it joined (1.0 = behind everything shown)
    queue_ahead: NonNegFloat = 1.0
    hb_interval_ms: PosInt = 250
    #: starting balance of every account, by currency; empty: 1,000,000 of each instrument's
    #: currency and 10 of each spot instrument's base asset
    balances: dict[str, float] = msgspec.field(default_factory=dict)
    #: no heartbeat from the source this long: its books are not current (no fills, no own
    #: heartbeats, so the engine sees the feed stale too)
    source_stale_ms: PosInt = 1500
    snapshot_retry_ms: PosInt = 1000  #: a source snapshot not answered this long is asked again
    source_timeout_s: PosFloat = 30.0  #: the source must list its instruments within this at start


class FakeMarketConfig(Section):
    """One market a fake exchange serves, backed by one simulator venue."""

    market: Market
    venue: str  #: the ``[[venues]]`` / ``[[sim.venues]]`` name whose books back this market


class FakeConfig(Section):
    """One local fake of a real exchange API (``cmc fake-exchange``)."""

    exchange: Literal["binance", "okx"]
    port: Port = 0  #: 0: pick a free port (printed in the READY line)
    markets: list[FakeMarketConfig] = []
    funding_interval_s: PosFloat = 8.0  #: perps: funding settles this often (real: 8 h)
    funding_rate: str = "0.0001"  #: per interval, decimal string
    #: starting balances of every account (API key), by asset
    balances: dict[str, float] = msgspec.field(
        default_factory=lambda: {"USDT": 1_000_000.0, "BTC": 10.0, "ETH": 100.0})
    rate_limit_per_s: PosInt = 50  #: orders per second per account before 429
    retry_after_s: PosInt = 1  #: the Retry-After of a 429
    #: API secret of each API key (= simulator account) the fake checks signatures with; a key
    #: not listed has the secret ``<key>-secret``
    secrets: dict[str, str] = {}


__all__ = ["CcxtVenueConfig", "Exchange", "FakeConfig", "FakeMarketConfig", "Market",
           "PaperVenueConfig"]
