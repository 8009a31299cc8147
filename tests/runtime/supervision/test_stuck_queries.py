"""Asking a stuck or a dead host (fault catalogue P13, oracle O8): an operator's or the launcher's
query to an actor whose host thread is stuck in a handler, or whose host died, must come back
with an error within its timeout -- never hang the asker -- while every other host answers as
before. The launcher in this process, the simulator as its child gateway; risk's handler blocks
on command (``FaultHook("block")``) until the test releases it; ``on_hung = "halt"`` so the
stuck host is reported, not the process ended."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scripts.launch.test_launch_helpers import ONE_NODE, launched, write_conf
from tests.support.helpers import FaultyCore, eventually
from transports.errors import OpError
from transports.wire.messages import FaultHook

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield  # overrides conftest's per-test ActorRegistry.stop_all: the launcher stops its own


def _answers(cluster: Any, actor: str) -> bool:
    """True if ``actor`` answered a query within 0.5 s, False if the query erred."""
    try:
        return bool(cluster.query(actor, timeout_s=0.5))
    except OpError:
        return False


def test_a_query_to_a_stuck_or_dead_host_errs_within_its_timeout(tmp_path: Path) -> None:
    release = threading.Event()
    conf = write_conf(tmp_path, tempfile.mkdtemp(prefix="cmck-"), ONE_NODE, gateways=True,
                      admin=False, on_hung="halt", flatten_timeout_s=2.0)
    with launched(conf, lambda n, c: FaultyCore(c, release=release) if n == "risk" else c) as lc:
        cluster = lc.cluster
        try:
            assert cluster.query("risk")["state"]  # answering
            cluster.send("risk", FaultHook("block"))  # risk's host thread is now stuck
            with pytest.raises(OpError):
                cluster.query("risk", timeout_s=0.5)
            assert cluster.query("book.shfe:au2606", timeout_s=2.0)["sym"] == "au2606"
            release.set()  # unstuck: it answers again
            eventually(lambda: _answers(cluster, "risk"), 5, step_s=0.05)
            # a dead host: its actor's query comes back (an error, or the rebuilt host's
            # answer), never hangs, and the supervisor's rebuild answers again
            node = lc.runtime.node
            node.hosts[node.group_of("risk")].stop()
            _answers(cluster, "risk")  # comes back: an error or an answer, never a hang
            eventually(lambda: _answers(cluster, "risk"), 10, step_s=0.05)
        finally:
            release.set()
