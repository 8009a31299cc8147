"""Fixtures of the ccxt gateway's end-to-end tests: a local fake exchange (a real subprocess),
the real gateway in process, and the engine's side of the protocol on real ZeroMQ sockets."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq
from loguru import logger

from tests.gateway.ccxt_world import Engine, GatewayThread, write_conf
from tests.support.fakes import FakeProcess
from transports.config.engine import AppConfig, load_config


@dataclass
class World:
    """One fake, one gateway, the engine's sockets, and every log line the gateway wrote."""

    d: Path
    conf: Path
    cfg: AppConfig
    fake: FakeProcess
    gw: GatewayThread
    eng: Engine
    ctx: zmq.Context[Any]
    logs: list[str]


def make_world(exchange: str, venue: str, account: str, sym: str, *,
               backoff_ms: int = 1500) -> Iterator[World]:
    """Start fake -> gateway -> engine sockets; yield; stop in reverse."""
    d = Path(tempfile.mkdtemp(prefix="cmct-"))  # short: ipc paths are limited
    conf = write_conf(d / "c.toml", d / "state", backoff_ms=backoff_ms)
    cfg = load_config(str(conf))
    logs: list[str] = []
    sink = logger.add(logs.append, level="DEBUG", format="{level} {name} {message}")
    fake = FakeProcess(exchange, conf).start()
    ctx: zmq.Context[Any] = zmq.Context()
    gw = eng = None
    try:
        gw = GatewayThread(cfg, venue, str(d), fake.http, account=account).start()
        eng = Engine(ctx, cfg, venue, str(d), sym)
        eng.sync()
        yield World(d, conf, cfg, fake, gw, eng, ctx, logs)
    finally:
        if eng is not None:
            eng.close()
        if gw is not None:
            gw.stop()
        ctx.destroy(linger=0)
        fake.stop()
        logger.remove(sink)


@pytest.fixture(scope="module")
def binance_spot() -> Iterator[World]:
    """Binance spot BTCUSDT: fake, gateway, engine."""
    yield from make_world("binance", "binance", "binance-spot", "BTCUSDT")


@pytest.fixture(scope="module")
def binance_usdm() -> Iterator[World]:
    """Binance USDⓈ-M BTCUSDT: fake, gateway, engine."""
    yield from make_world("binance", "binance-usdm", "binance-usdm", "BTCUSDT")


@pytest.fixture(scope="module")
def okx_spot() -> Iterator[World]:
    """OKX spot BTC-USDT: fake, gateway, engine."""
    yield from make_world("okx", "okx", "okx-spot", "BTC-USDT")
