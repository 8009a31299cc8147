"""``baseline.ipc_rtt``: the machine's ipc round trip between this process and a real
child process, briefly: every round trip is answered and counted, the keys the docs promise.
No number is asserted beyond "a round trip takes time"."""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

import zmq

from scripts.bench.orders.baseline import ipc_rtt


def test_the_ipc_baseline_counts_every_round_trip() -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    sock_dir = tempfile.mkdtemp(prefix="cmc-")  # short: ipc paths are limited to ~100 bytes
    try:
        r = ipc_rtt(ctx, sock_dir, n=50, interval_ns=200_000)
    finally:
        ctx.destroy(linger=0)
        shutil.rmtree(sock_dir, ignore_errors=True)
    assert set(r) == {"n", "p50_us", "p99_us", "p999_us"}
    assert r["n"] == 50  # every round trip answered (a lost echo raises, never a sample)
    assert 0 < r["p50_us"] <= r["p99_us"] <= r["p999_us"]
