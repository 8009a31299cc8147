"""Shared fixtures: a numba cache dir, pykka cleanup, a ZeroMQ context that closes its sockets."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
import zmq

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "cmc-numba-cache"))


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Start the demo runs the collected modules list in ``POOLED_DEMOS`` (``demo_pool``)."""
    from tests.support import demo_pool, demo_runs

    specs, seen = [], set()
    for item in items:
        mod = getattr(item, "module", None)
        if mod is not None and id(mod) not in seen:
            seen.add(id(mod))
            specs.extend(getattr(mod, "POOLED_DEMOS", ()))
            if getattr(mod, "demo_run", None) is demo_runs.demo_run:
                specs.append(demo_runs.DEMO_8)
    if specs:
        demo_pool.start(specs)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.support import demo_pool

    demo_pool.POOL.close()
    if getattr(session.config, "workerinput", None) is None and session.config.pluginmanager.\
            hasplugin("dsession"):
        demo_pool.remove_shared(os.getpid())  # the xdist controller: every worker is done


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(timeout=5)


@pytest.fixture
def ctx() -> Iterator[zmq.Context[Any]]:
    c: zmq.Context[Any] = zmq.Context()
    yield c
    # actors own sockets of this context: stop them before the context goes
    pykka.ActorRegistry.stop_all(timeout=5)
    from actors.runtime import link_auth

    link_auth.detach(c)  # a test's node-link ZAP thread owns a socket of this context
    c.destroy(linger=0)


@pytest.fixture
def sock_dir() -> Iterator[str]:
    # ipc paths are limited to ~100 bytes, so keep them short (tmp_path can be long)
    d = tempfile.mkdtemp(prefix="cmct-")
    yield d


@pytest.fixture
def runtime(tmp_path: Path, sock_dir: str, ctx: zmq.Context[Any]) -> Iterator[Any]:
    """A live node of the demo config (no venues), supervised, its risk core wrapped in
    ``FaultyCore`` (``FaultHook("raise")`` makes it raise); stopped at the end."""
    from actors.runtime.node_runtime import NodeRuntime
    from tests.support.helpers import FaultyCore
    from transports.clock import LiveClock
    from transports.config.engine import load_config

    run = tmp_path / "run"
    run.mkdir()
    rt = NodeRuntime(load_config(), "engine", ctx, LiveClock(), sock_dir, run,
                     wrap=lambda a, c: FaultyCore(c) if a == "risk" else c)
    rt.start()
    yield rt
    rt.stop()
