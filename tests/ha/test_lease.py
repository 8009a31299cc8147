"""The lease against a real nats-server: CAS, expiry, takeover, fencing token, local deadline.

Expiry rules run on a ``TestClock`` (no waiting); takeovers by a live standby run in real time
with every wait bounded. Takeover *time* is measured by the bench, never asserted here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import nats

from tests.ha.conftest import arun
from transports.clock import TestClock
from transports.config.ha import HaConfig
from transports.ha.lease import Lease, LeaseValue, ensure_bucket
from transports.ha.server import NatsServer
from transports.ha.service import LeaseService

TTL_NS = 300_000_000


async def _lease(url: str, holder: str, clock: TestClock, **kw: object) -> tuple[object, Lease]:
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=2)
    await ensure_bucket(js, "lease_t")
    return nc, Lease(js, "lease_t", "primary", holder=holder, node="n-" + holder, clock=clock,
                     **kw)  # type: ignore[arg-type]


def test_acquire_renew_and_value(nats_server: NatsServer) -> None:
    async def main() -> None:
        clock = TestClock()
        nc, a = await _lease(nats_server.url, "a", clock)
        try:
            assert await a.try_acquire()
            assert a.holding and a.epoch == a.revision > 0
            first = a.epoch
            clock.advance_ns(100_000_000)
            assert await a.renew()
            assert a.revision > first and a.epoch == first  # epoch fixed for the tenure
            clock.advance_ns(250_000_000)  # 250 ms after the last renewal: still ours
            assert a.holding
            await a.observe()
            assert a.seen_value == LeaseValue("a", "n-a", a.seen_value.renewed_ns,  # type: ignore[union-attr]
                                              a._tenure, 1)
        finally:
            await nc.close()  # type: ignore[attr-defined]

    arun(main())


def test_live_lease_cannot_be_taken(nats_server: NatsServer) -> None:
    async def main() -> None:
        clock = TestClock()
        nc1, a = await _lease(nats_server.url, "a", clock)
        nc2, b = await _lease(nats_server.url, "b", clock)
        try:
            assert await a.try_acquire()
            assert not await b.try_acquire()  # first sight of a's revision: wait a TTL
            for _ in range(5):  # a renews every 100 ms; b's view never ages a TTL...
                clock.advance_ns(100_000_000)
                assert await a.renew()
                await b.observe()
                assert not await b.try_acquire()
            # ...and a CAS on a revision that is no longer the last is refused by JetStream
            old = b.seen_revision
            assert await a.renew()
            clock.advance_ns(TTL_NS)
            b.seen_revision = old
            assert not await b.try_acquire()
            assert b.seen_revision == a.revision  # it looked again after the refusal
            # a standby never creates an absent lease; a primary does
            nc3, s = await _lease(nats_server.url, "s", clock, may_create=False)
            s.key = "other"
            s.subject = "$KV.lease_t.other"
            clock.advance_ns(10 * TTL_NS)
            assert not await s.try_acquire()
            s.may_create = True
            assert await s.try_acquire()
            await nc3.close()  # type: ignore[attr-defined]
        finally:
            await nc1.close()  # type: ignore[attr-defined]
            await nc2.close()  # type: ignore[attr-defined]

    arun(main())


def test_takeover_after_ttl_fencing_and_deposed_renew(nats_server: NatsServer) -> None:
    async def main() -> None:
        clock_a, clock_b = TestClock(), TestClock()  # a frozen holder: its clock stands still
        nc1, a = await _lease(nats_server.url, "a", clock_a)
        nc2, b = await _lease(nats_server.url, "b", clock_b)
        deposed: list[str] = []
        a.on_deposed = deposed.append
        try:
            assert await a.try_acquire()
            epochs = [a.epoch]
            await b.observe()
            clock_b.advance_ns(TTL_NS - 1)
            assert not await b.try_acquire()
            clock_b.advance_ns(1)  # a TTL since b saw the last revision
            assert await b.try_acquire()
            epochs.append(b.epoch)
            # a wakes up (its clock says it is still in time): the CAS is refused -> deposed
            assert a.holding
            assert not await a.renew()
            assert not a.holding and a.deposed_reason == "lost" and deposed == ["lost"]
            assert a.seen_value is not None and a.seen_value.holder == "b"
            # and back: a takes over from b once b stops renewing for a TTL (a's view)
            clock_a.advance_ns(TTL_NS)
            assert await a.try_acquire()
            epochs.append(a.epoch)
            assert epochs == sorted(set(epochs)), epochs  # strictly increasing
            # b's local deadline passes on b's own clock, NATS or not
            clock_b.advance_ns(TTL_NS)
            assert not b.holding
            assert not await b.renew() and b.deposed_reason == "expired"
        finally:
            await nc1.close()  # type: ignore[attr-defined]
            await nc2.close()  # type: ignore[attr-defined]

    arun(main())


def test_release_hands_over_at_once(nats_server: NatsServer) -> None:
    async def main() -> None:
        clock = TestClock()
        nc1, a = await _lease(nats_server.url, "a", clock)
        nc2, b = await _lease(nats_server.url, "b", clock, may_create=False)
        try:
            assert await a.try_acquire()
            await b.observe()
            await a.release()
            assert not a.holding and a.deposed_reason == "released"
            await b.observe()
            assert await b.try_acquire()  # no TTL wait after a release
            assert b.epoch > a.revision
        finally:
            await nc1.close()  # type: ignore[attr-defined]
            await nc2.close()  # type: ignore[attr-defined]

    arun(main())


async def _until(cond: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not cond():
        if loop.time() > end:
            return False
        await asyncio.sleep(0.01)
    return True


def _pair(make_cfg: Callable[..., HaConfig]) -> tuple[LeaseService, LeaseService]:
    a = LeaseService(make_cfg(role="primary"), holder="a", node="host-a").start()
    assert a.wait_holding(10)
    b = LeaseService(make_cfg(role="standby"), holder="b", node="host-b").start()
    return a, b


def test_standby_takes_over_killed_primary(make_cfg: Callable[..., HaConfig]) -> None:
    a, b = _pair(make_cfg)
    try:
        ea = a.epoch
        assert ea > 0 and not b.holding and b.epoch == 0
        a.ha.stop()  # killed: loop and connection gone, nothing released
        assert b.wait_holding(10)
        assert b.epoch > ea
        assert not a.holding  # a's local deadline has passed as well
        st = b.status()
        assert st.role == "primary" and st.holder == "b" and st.holder_node == "host-b"
    finally:
        a.stop(release=False)
        b.stop()


def test_frozen_primary_is_deposed_and_becomes_standby(make_cfg: Callable[..., HaConfig]) -> None:
    a, b = _pair(make_cfg)
    try:
        ea = a.epoch
        lease_a = a.lease
        assert lease_a is not None

        async def freeze() -> None:  # stop renewing, keep the connection (a hung holder)
            assert a._task is not None
            a._task.cancel()

        a.ha.call(freeze(), 2)
        assert b.wait_holding(10)
        eb = b.epoch
        assert eb > ea and not a.holding and a.epoch == 0
        # a wakes: its own deadline has passed (it does not even try the CAS: the TestClock
        # test covers the refused CAS), it knows it is deposed, and campaigns as a standby
        assert not a.ha.call(lease_a.renew(), 2)
        assert lease_a.deposed_reason == "expired" and a.wait_deposed(1)
        assert not a.ha.call(lease_a.try_acquire(), 2)  # b's lease is live

        async def wake() -> None:
            a._task = asyncio.get_running_loop().create_task(lease_a.run())

        a.ha.call(wake(), 2)
        b.ha.stop()  # now the survivor dies: a takes the lease back with a newer epoch
        assert a.wait_holding(10)
        assert a.epoch > eb > ea
    finally:
        a.stop()
        b.stop(release=False)


def test_deadline_fires_when_nats_is_gone(nats_server: NatsServer,
                                          make_cfg: Callable[..., HaConfig]) -> None:
    reasons: list[str] = []
    a = LeaseService(make_cfg(role="primary", on_deposed="exit"), holder="a",
                     on_deposed=reasons.append).start()
    try:
        assert a.wait_holding(10)
        nats_server.kill()
        assert a.wait_deposed(10)
        assert not a.holding and a.epoch == 0
        assert reasons == ["expired"]
        assert a.lease is not None and a.lease.renew_failures >= 1
        # on_deposed = "exit": the service stops campaigning (the engine then exits)
        assert a.ha.call(_until(lambda: not a.running), 5)
    finally:
        a.stop(release=False)


def test_server_freeze_deposes_holder(nats_server: NatsServer,
                                      make_cfg: Callable[..., HaConfig]) -> None:
    a = LeaseService(make_cfg(role="auto"), holder="a").start()
    try:
        assert a.wait_holding(10)
        nats_server.pause()  # SIGSTOP: sockets open, no answers
        assert a.wait_deposed(10)
        assert not a.holding
        nats_server.resume()
        assert a.wait_holding(10)  # on_deposed = standby: it campaigns and wins again
    finally:
        nats_server.resume()
        a.stop()
