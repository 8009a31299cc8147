"""The engine-facing sockets of the asyncio gateways (``transports.venues.gateway_sockets``):
order replies to an engine that stopped reading are queued, not dropped; a reply that cannot
leave is counted and logged, never raised.

Real sockets: the gateway's ROUTER and an engine DEALER in one ZeroMQ context over
``inproc://`` (so what is queued is exactly the two sockets' queues: the ROUTER's send queue
and the DEALER's receive queue, here 10 frames, no kernel buffer in between).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
import zmq
import zmq.asyncio
from loguru import logger

from transports.config.market import VenueConfig
from transports.venues.gateway_sockets import GatewaySockets
from transports.venues.sim import sockets as sim_sockets
from transports.wire.codec import MAX_FRAME_BYTES

WAIT_S = 5.0


def _venue(tag: str) -> VenueConfig:
    return VenueConfig(name="v", md=f"inproc://{tag}-md", ref=f"inproc://{tag}-ref",
                       oe=f"inproc://{tag}-oe", account="acct")


async def _engine(io: GatewaySockets, v: VenueConfig,
                  oe: zmq.asyncio.Socket) -> zmq.Socket[Any]:
    """The engine's oe DEALER (identity = the account), known to the ROUTER: it sent a frame
    and the gateway read it, as the engine's first ping."""
    assert io.ctx is not None
    dealer = zmq.Context.shadow(io.ctx.underlying).socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, v.account.encode())
    dealer.setsockopt(zmq.RCVHWM, 10)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(v.oe)
    dealer.send(b"ping")
    ident, body = await asyncio.wait_for(oe.recv_multipart(), WAIT_S)
    assert (ident, body) == (b"acct", b"ping")
    return dealer


def _read_all(dealer: zmq.Socket[Any]) -> list[bytes]:
    """Every frame the DEALER can read, each within a deadline once the first stops coming."""
    out = []
    while dealer.poll(200):
        out.append(dealer.recv())
    return out


def test_replies_to_an_engine_that_stopped_reading_are_queued_not_dropped() -> None:
    # ZeroMQ's default (a send queue of 1,000 frames, no ROUTER_MANDATORY) dropped every reply
    # past ~1,010 here without a trace: the real gateways lost acks and fills that way
    async def main() -> None:
        io = GatewaySockets()
        v = _venue("queued")
        *_, oe = io.bind(v, "")
        dealer = await _engine(io, v, oe)
        try:
            sent = [io.reply(oe, b"acct", b"fill %d" % i) for i in range(5_000)]
            assert all(sent) and not io.unsent
            got = await asyncio.to_thread(_read_all, dealer)
            assert got == [b"fill %d" % i for i in range(5_000)]
        finally:
            dealer.close(0)
            io.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_reply_nobody_can_take_is_counted_and_logged_once_never_raised() -> None:
    logs: list[str] = []
    sink = logger.add(logs.append, level="WARNING", format="{message}")

    async def main() -> None:
        io = GatewaySockets()
        v = _venue("unroutable")
        *_, oe = io.bind(v, "")
        try:
            assert io.reply(oe, b"gone", b"ack") is False
            assert io.reply(oe, b"gone", b"fill") is False
            assert io.unsent == {"unroutable": 2}
        finally:
            io.close()

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        logger.remove(sink)
    warned = [r for r in logs if "replies to b'gone' not sent (unroutable" in r]
    assert len(warned) == 1, warned  # once per peer and cause, not once per reply


def test_a_peer_whose_queue_is_full_is_counted_queue_full(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the cap, lowered so the test reaches it: past it a reply is refused (EAGAIN), counted
    monkeypatch.setattr(sim_sockets, "OE_HWM", 100)  # what ``bind_socket`` reads

    async def main() -> None:
        io = GatewaySockets()
        v = _venue("full")
        *_, oe = io.bind(v, "")
        dealer = await _engine(io, v, oe)
        try:
            sent = [io.reply(oe, b"acct", b"r %d" % i) for i in range(1_000)]
            assert sent.count(True) >= 100 and sent.count(False) > 0
            assert io.unsent == {"queue_full": sent.count(False)}
            got = await asyncio.to_thread(_read_all, dealer)
            # what was accepted arrives, in order; nothing accepted was lost
            assert got == [b"r %d" % i for i, ok in enumerate(sent) if ok]
        finally:
            dealer.close(0)
            io.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_close_is_idempotent_and_ends_the_context() -> None:
    async def main() -> None:
        io = GatewaySockets()
        io.bind(_venue("close"), "")
        ctx = io.ctx
        io.close()
        io.close()
        assert ctx is not None and ctx.closed and io.ctx is None and not io.socks

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_frame_past_the_limit_drops_its_sender_and_the_gateway_serves_the_others(
        tmp_path: Any) -> None:
    # ipc: the limit is enforced where frames are decoded off a stream (not on inproc)
    async def main() -> None:
        io = GatewaySockets()
        v = VenueConfig(name="v", md="ipc://{sock}/v-md", ref="ipc://{sock}/v-ref",
                        oe="ipc://{sock}/v-oe", account="acct")
        *_, oe = io.bind(v, str(tmp_path))
        peers = zmq.Context()
        try:
            hostile = peers.socket(zmq.DEALER)
            hostile.setsockopt(zmq.IDENTITY, b"hostile")
            good = peers.socket(zmq.DEALER)
            good.setsockopt(zmq.IDENTITY, b"acct")
            for s in (hostile, good):
                s.setsockopt(zmq.LINGER, 0)
                s.connect(f"ipc://{tmp_path}/v-oe")
            hostile.send(b"x" * (MAX_FRAME_BYTES + 1))
            good.send(b"ping")
            got = [await asyncio.wait_for(oe.recv_multipart(), WAIT_S)]
            with contextlib.suppress(TimeoutError):
                while True:
                    got.append(await asyncio.wait_for(oe.recv_multipart(), 0.3))
            assert got == [[b"acct", b"ping"]]  # the big frame never reached the gateway
        finally:
            peers.destroy(linger=0)
            io.close()

    asyncio.run(asyncio.wait_for(main(), 30))
