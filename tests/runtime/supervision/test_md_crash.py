"""A feed or a book that crashes in a live node (fault catalogue P01): the supervisor restarts it
from the journal while the market goes on; the book it then offers as usable must be the
venue's book (checked against the simulator's own snapshot at the same sequence number), and
the engine trades again after.

The launcher in this process, the simulator as its child gateway, real ZeroMQ; three handler
errors within the error window crash the actor (``FaultHook("raise")``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from scripts.launch.process import ref_request
from tests.scripts.launch.test_launch_helpers import (
    ONE_NODE,
    launched,
    sim_truth,
    write_conf,
)
from tests.support.helpers import FaultyCore, eventually
from transports.wire.messages import FaultHook

pytestmark = pytest.mark.e2e
BOOK = "book.shfe:au2606"


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield  # overrides conftest's per-test ActorRegistry.stop_all: the launcher stops its own


def _same_seq(launcher: Any, ctx: zmq.Context[Any], sock_dir: str) -> tuple[Any, Any] | None:
    """The engine's book and the venue's snapshot when both are at one sequence number."""
    mine = launcher.cluster.query(BOOK)
    venue = ref_request(ctx, f"ipc://{sock_dir}/shfe-ref", {"t": "snapshot", "sym": "au2606"})
    if not mine["valid"] or mine["seq"] != venue["seq"]:
        return None
    return mine, venue


@pytest.mark.parametrize("crashed", ["feed.shfe", BOOK])
def test_a_crashed_feed_or_book_comes_back_as_the_venues_book(tmp_path: Path,
                                                              crashed: str) -> None:
    sock_dir = tempfile.mkdtemp(prefix="cmcm-")
    conf = write_conf(tmp_path, sock_dir, ONE_NODE, gateways=True, admin=False,
                      flatten_timeout_s=3.0)
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        with launched(conf, lambda n, c: FaultyCore(c) if n == crashed else c) as launcher:
            sup = launcher.runtime.supervisor
            eventually(lambda: sim_truth(ctx, sock_dir)["orders"], 30, step_s=0.1)
            for _ in range(3):
                launcher.cluster.send(crashed, FaultHook("raise"))
            eventually(lambda: sup.snapshot()["actors"][crashed]["restarts"] == 1
                       and sup.snapshot()["actors"][crashed]["state"] == "running", 10)
            # the book offered as usable is the venue's, level for level, at several moments
            for _ in range(3):
                mine, venue = eventually(lambda: _same_seq(launcher, ctx, sock_dir), 10,
                                         step_s=0.002)
                assert [tuple(x) for x in mine["bids"]] == [tuple(x) for x in venue["b"]]
                assert [tuple(x) for x in mine["asks"]] == [tuple(x) for x in venue["a"]]
            # and the strategy trades on it again (an order after the restart reaches the venue)
            n_before = len(sim_truth(ctx, sock_dir)["orders"])
            eventually(lambda: len(sim_truth(ctx, sock_dir)["orders"]) > n_before, 30,
                       step_s=0.1)
    finally:
        ctx.destroy(linger=0)
