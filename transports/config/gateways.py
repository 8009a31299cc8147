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


class CtpVenueConfig(Section):
    """One CTP futures account behind ``cmc gateway ctp`` (openctp-ctp)."""

    md_front: str  #: e.g. "tcp://180.168.146.187:10211"
    td_front: str  #: the trading front
    broker_id: str = ""  #: empty: ``<credentials_env>_BROKER_ID`` from the environment
    user_id: str = ""  #: empty: ``<credentials_env>_USER_ID``
    app_id: str = ""  #: empty: ``<credentials_env>_APP_ID``
    #: the password and AuthCode come only from the environment (``<env>_PASSWORD``,
    #: ``<env>_AUTH_CODE``), never from the config file, and are never logged
    credentials_env: str = "CTP"
    #: subscribe these instrument ids for market data; empty: every instrument of ``[[contracts]]``
    #: on this venue
    symbols: list[str] = []
    hb_interval_ms: PosInt = 250
    query_interval_ms: PosInt = 1100  #: CTP allows about one query a second per session
    login_timeout_s: PosFloat = 30.0
    #: the durable map of engine client ids to (FrontID, SessionID, OrderRef) and OrderSysID;
    #: empty: ``<state_dir>/<venue>-ctp-orders.jsonl``
    clmap_path: str = ""
    state_dir: str = "runs/gateway-state"
    #: where the CTP API keeps its flow files (``*.con``), per venue below it
    flow_dir: str = "runs/gateway-state/ctp-flow"


class IbContractConfig(Section):
    """One contract behind ``cmc gateway ib``: the engine's symbol and how IB names it (by
    ``con_id``, else ``local_symbol`` on ``exchange``)."""

    sym: str  #: the engine's symbol (``[[contracts]] sym``), e.g. "GCZ6"
    con_id: NonNegInt = 0  #: IB's contract id; 0: resolve ``local_symbol``
    local_symbol: str = ""  #: e.g. "GCZ6"
    exchange: str = ""  #: e.g. "COMEX", "CME"
    sec_type: str = "FUT"
    currency: str = "USD"


class IbVenueConfig(Section):
    """One IB account behind ``cmc gateway ib`` (ib-async to TWS or IB Gateway)."""

    host: str = "127.0.0.1"
    port: Port = 7497  #: TWS paper 7497, live 7496; IB Gateway paper 4002, live 4001
    client_id: NonNegInt = 17  #: the API client id (orderIds are per client id)
    account: str = ""  #: e.g. "DU1234567"; empty: the login's only account
    contracts: list[IbContractConfig] = []
    depth_rows: PosInt = 5  #: ``reqMktDepth`` rows per side
    smart_depth: bool = False
    connect_timeout_s: PosFloat = 10.0
    request_timeout_s: PosFloat = 10.0  #: contract details, executions, open orders, summary
    #: a fill is held this long for its commission report (docs/venues/ib.md, "Fees")
    commission_wait_ms: NonNegInt = 500
    fok: Literal["FOK", "IOC_AON"] = "FOK"  #: FOK as IB's tif FOK, or IOC + allOrNone
    gtc_tif: Literal["DAY", "GTC"] = "DAY"  #: what the protocol's GTC becomes at IB
    hb_interval_ms: PosInt = 250
    reconnect_backoff_ms: PosInt = 500  #: first reconnect delay after TWS is lost; doubles
    reconnect_backoff_max_ms: PosInt = 10_000
    #: the durable map of engine client ids to IB order ids; empty:
    #: ``<state_dir>/<venue>-ib-orders.jsonl``
    clmap_path: str = ""
    state_dir: str = "runs/gateway-state"


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


__all__ = ["CcxtVenueConfig", "CtpVenueConfig", "Exchange", "FakeConfig", "FakeMarketConfig",
           "IbContractConfig", "IbVenueConfig", "Market", "PaperVenueConfig"]
