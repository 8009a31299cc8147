"""Journal replication through a real JetStream stream: order, exactly once, resume, failures."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import nats
import pytest

from tests.ha.conftest import arun
from transports.config.ha import HaConfig
from transports.ha.replication import (
    Follower,
    Record,
    ReplicationError,
    Replicator,
    ensure_stream,
)
from transports.ha.replication_service import ReplicationService
from transports.ha.server import NatsServer
from transports.ha.service import HaNode


class Sink:
    """Collects records; ``wait(n)`` blocks (bounded) until ``n`` arrived."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._cv = threading.Condition()

    def __call__(self, rec: Record) -> None:
        with self._cv:
            self.records.append(rec)
            self._cv.notify_all()

    def wait(self, n: int, timeout_s: float = 10.0) -> bool:
        return self.wait_for(lambda recs: len(recs) >= n, timeout_s)

    def wait_for(self, pred: Callable[[list[Record]], bool], timeout_s: float = 10.0) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: pred(self.records), timeout_s)


def _start(cfg: HaConfig, **kw: int) -> tuple[HaNode, ReplicationService]:
    node = HaNode(cfg).start()
    return node, ReplicationService(node, **kw).start()


def test_every_record_once_and_in_order(make_cfg: Callable[..., HaConfig]) -> None:
    node, svc = _start(make_cfg(), epoch=3)
    sink = Sink()
    try:
        follower = svc.follow(sink, start_seq=1)
        sent = []
        for i in range(600):
            data = f"rec-{i}".encode()
            if i % 50 == 0:
                svc.publish_sync(data, "intent")  # after every queued record, acknowledged
            else:
                svc.publish_async(data, "batch")
            sent.append(data)
        svc.flush(10)
        assert sink.wait(600)
        got = sink.records
        assert [r.data for r in got] == sent
        assert [r.seq for r in got] == list(range(1, 601))
        streamed = [r.stream_seq for r in got]  # async records travel packed
        assert streamed == sorted(streamed) and streamed[-1] < 600
        assert {r.epoch for r in got} == {3}
        assert [r.kind for r in got[:2]] == ["intent", "batch"]
        assert follower.gaps == 0 and follower.stale == 0 and not follower.error
        assert follower.lag() == (0, 0.0)
        svc.unfollow(follower)
    finally:
        node.stop()


def test_follower_resumes_from_a_sequence(make_cfg: Callable[..., HaConfig]) -> None:
    node, svc = _start(make_cfg())
    first, second = Sink(), Sink()
    try:
        for i in range(100):
            svc.publish_async(b"%d" % i)
        svc.flush(10)
        f1 = svc.follow(first, start_seq=1)
        assert first.wait(100)
        svc.unfollow(f1)
        resume = f1.last_stream_seq + 1
        for i in range(100, 250):  # published while no follower runs
            svc.publish_async(b"%d" % i)
        svc.flush(10)
        f2 = svc.follow(second, start_seq=resume)
        assert second.wait(150)
        svc.unfollow(f2)
        seen = [int(r.data) for r in first.records + second.records]
        assert seen == list(range(250))  # each once, in order, across the restart

        # the lag is visible against the stream while behind
        async def lag() -> tuple[int, float]:
            return await f2.lag_from_server()

        for _ in range(5):
            svc.publish_async(b"x")
        svc.flush(10)
        behind, ms = node.call(lag(), 5)
        assert behind == 5 and ms >= 0.0
    finally:
        node.stop()


def test_late_records_of_a_deposed_primary_are_dropped(nats_server: NatsServer) -> None:
    async def main() -> None:
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream(timeout=2)
            await ensure_stream(js, "CMC_T")
            old, new = Replicator(js, "CMC_T", epoch=5), Replicator(js, "CMC_T", epoch=9)
            await old.publish_sync(b"a")
            await new.publish_sync(b"b")
            await old.publish_sync(b"late")  # the deposed primary, after the takeover
            await new.publish_sync(b"c")
            got: list[Record] = []
            f = await Follower(js, "CMC_T", got.append).start()
            for _ in range(200):
                if f.last_stream_seq >= 4:
                    break
                await asyncio.sleep(0.01)
            await f.stop()
            assert [r.data for r in got] == [b"a", b"b", b"c"]
            assert f.stale == 1 and f.gaps == 0
        finally:
            await nc.close()

    arun(main())


def test_sync_publish_fails_loudly_when_server_is_down(nats_server: NatsServer,
                                                       make_cfg: Callable[..., HaConfig]) -> None:
    node, svc = _start(make_cfg(op_timeout_ms=300))
    try:
        assert svc.publish_sync(b"ok") == 1
        nats_server.kill()
        with pytest.raises(ReplicationError, match="not acknowledged"):
            svc.publish_sync(b"lost intent")
        svc.publish_async(b"lost batch")
        with pytest.raises(ReplicationError):
            svc.flush(1)
    finally:
        node.stop()


def test_sync_publish_fails_when_server_is_frozen(nats_server: NatsServer,
                                                  make_cfg: Callable[..., HaConfig]) -> None:
    node, svc = _start(make_cfg(op_timeout_ms=300))
    try:
        svc.publish_sync(b"ok")
        nats_server.pause()
        with pytest.raises(ReplicationError):
            svc.publish_sync(b"no ack")
    finally:
        nats_server.resume()
        node.stop()


def test_a_failing_callback_stops_delivery_and_resumes_at_its_message(
        make_cfg: Callable[..., HaConfig]) -> None:
    node, svc = _start(make_cfg())
    try:
        for i in range(300):
            svc.publish_async(b"%d" % i)
        svc.flush(10)
        got: list[int] = []

        def picky(rec: Record) -> None:
            if int(rec.data) == 123:
                raise RuntimeError("cannot apply")
            got.append(int(rec.data))

        f1 = svc.follow(picky)

        async def stopped() -> bool:
            for _ in range(500):
                if f1.error:
                    return True
                await asyncio.sleep(0.01)
            return False

        assert node.call(stopped(), 10)
        svc.unfollow(f1)
        assert "record 124" in f1.error and got == list(range(123))  # nothing skipped
        again = Sink()
        f2 = svc.follow(again, start_seq=f1.last_stream_seq + 1)
        assert again.wait_for(lambda recs: bool(recs) and recs[-1].data == b"299")
        svc.unfollow(f2)
        resumed = [int(r.data) for r in again.records]
        assert resumed[0] <= 123  # the message that failed is delivered again, from its start
        assert resumed == list(range(resumed[0], 300))
    finally:
        node.stop()
