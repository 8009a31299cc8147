"""Contain every exception: a ``SystemExit`` or a ``RecursionError`` raised in a handler is one
crash of that actor under its restart policy (restarted at once, not after ``errors_to_crash``),
never a node whose actors are dead while its process lives on (issue 12, failure 5).

A live engine: the launcher in this process, the simulator as its child gateway, real ZeroMQ.
Checked against the venue: orders keep reaching it after each crash."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from tests.scripts.launch.test_launch_helpers import ONE_NODE, launched, sim_truth, write_conf
from tests.support.helpers import FaultyCore, eventually
from transports.wire.messages import FaultHook

pytestmark = pytest.mark.e2e
STRATEGY = "strategy.au-gc"


def _wrap(name: str, core: Any) -> Any:
    return FaultyCore(core) if name.startswith("strategy.") else core


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield  # the engine lives for the module


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fatal")
    sock_dir = tempfile.mkdtemp(prefix="cmcf-")
    conf = write_conf(tmp, sock_dir, ONE_NODE, gateways=True, admin=False,
                      flatten_timeout_s=5.0)
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        with launched(conf, _wrap) as launcher:
            yield {"l": launcher, "ctx": ctx, "sock": sock_dir}
    finally:
        ctx.destroy(linger=0)


def _ioc_orders(e: dict[str, Any]) -> int:
    return sum(o["tif"] == "IOC" for o in sim_truth(e["ctx"], e["sock"])["orders"])


@pytest.mark.parametrize("kind", ["exit", "recurse"])
def test_a_fatal_error_in_a_handler_is_one_crash_and_trading_goes_on(
        engine: dict[str, Any], kind: str) -> None:
    e = engine
    sup = e["l"].runtime.supervisor
    eventually(lambda: _ioc_orders(e) >= 1, 25, step_s=0.2)  # the engine trades
    before = sup.snapshot()["actors"][STRATEGY]
    e["l"].cluster.tell(STRATEGY, FaultHook(kind))  # ONE error: a crash at once

    def restarted() -> bool:
        st = sup.snapshot()["actors"][STRATEGY]
        return st["restarts"] == before["restarts"] + 1 and st["state"] == "running"

    eventually(restarted, 2.0, step_s=0.005)
    last = sup.snapshot()["actors"][STRATEGY]["last"]
    assert ("SystemExit" if kind == "exit" else "RecursionError") in last
    host = e["l"].runtime.node.host_of(STRATEGY)
    assert host.is_alive()
    assert e["l"].cluster.query("risk")["state"] == "ACTIVE"  # within the restart intensity
    # the restarted strategy trades again: new orders reach the venue
    n0 = _ioc_orders(e)
    eventually(lambda: _ioc_orders(e) > n0, 25, step_s=0.2)
