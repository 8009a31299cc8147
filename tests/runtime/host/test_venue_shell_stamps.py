"""The venue shell forgets an order's latency stamps once the order is closed (a long run does
not grow), and keeps at most ``max_stamped`` of them for orders never answered.

A real LegExecutorCore in a real LegShell whose ``oe`` DEALER talks over inproc ZeroMQ to a
ROUTER standing in for the venue; no clock is read (``TestClock``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import zmq

from actors.runtime.shells.venue_shell import MAX_STAMPED, LegShell
from tests.actors.leg.test_leg_executor import core, order
from transports.clock import TestClock
from transports.latency import LatencyRecorder
from transports.wire.codec import encode
from transports.wire.venue_msgs import Ack, Done, Fill, NewOrder, OrderStatus, Reject

RECV_TIMEOUT_MS = 2000


@pytest.fixture
def wired() -> Iterator[tuple[LegShell, zmq.Socket[bytes]]]:
    """A shell whose ``oe`` socket is connected to a ROUTER (the venue), both inproc."""
    ctx: zmq.Context[Any] = zmq.Context()
    venue = ctx.socket(zmq.ROUTER)
    venue.bind("inproc://venue")
    venue.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, b"shfe-acct")
    dealer.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
    dealer.connect("inproc://venue")
    shell = LegShell(core(rate=1_000_000), "inproc://venue", "shfe-acct", TestClock(),
                     LatencyRecorder(64))
    shell.sockets["oe"] = dealer
    try:
        yield shell, venue
    finally:
        dealer.close(linger=0)
        venue.close(linger=0)
        ctx.term()


def place(shell: LegShell, venue: zmq.Socket[bytes], combo: int, qty: int = 1
          ) -> tuple[bytes, NewOrder] | None:
    """Hand one LegOrder to the shell as the host does; return what the venue received."""
    out = shell.handle(order(combo=combo, qty=qty, tif="GTC"), 1_000 + combo)
    for dest, m in out:
        if dest == "@oe":
            shell.send("oe", m)
    assert shell.flush_sends() == []
    if not any(type(m) is NewOrder for _, m in out):
        return None
    peer, frame = venue.recv_multipart()  # RCVTIMEO: a lost frame fails, never hangs
    return peer, msgspec.msgpack.decode(frame, type=NewOrder)


def answer(shell: LegShell, venue: zmq.Socket[bytes], peer: bytes, msg: Any) -> None:
    """The venue answers; the shell decodes the frame and its core handles it."""
    venue.send_multipart([peer, encode(msg)])
    frame = shell.sockets["oe"].recv()
    shell.handle(shell.decode("oe", [frame], 2_000), 2_000)


def test_a_closed_order_leaves_no_stamp_behind(wired: tuple[LegShell, zmq.Socket[bytes]]
                                              ) -> None:
    shell, venue = wired
    closes = [
        lambda cl: Done(cl=cl, oid="o", state="expired", cum=1, ts=1),
        lambda cl: Reject(cl=cl, code="rejected", reason="no", ts=1),
        lambda cl: OrderStatus(cl=cl, state="canceled", oid="o", cum=1),
    ]
    for i, close in enumerate(closes):
        got = place(shell, venue, combo=i + 1, qty=2)
        assert got is not None
        peer, new = got
        answer(shell, venue, peer, Ack(cl=new.cl, oid="o", ts=1))
        answer(shell, venue, peer, Fill(cl=new.cl, oid="o", tid=f"t{i}", px=30500, qty=1, ts=1))
        assert new.cl in shell._sent_ns  # open: its next fill is still sampled
        answer(shell, venue, peer, close(new.cl))
        assert new.cl not in shell._sent_ns
    assert shell._sent_ns == {} and shell._origin == {}
    assert shell.latency.hist("send_to_ack").count == 3
    assert shell.latency.hist("send_to_fill").count == 3


def test_a_denied_order_leaves_no_tick_stamps(wired: tuple[LegShell, zmq.Socket[bytes]]
                                             ) -> None:
    shell, venue = wired
    assert place(shell, venue, combo=1, qty=10_000) is None  # over the order size: denied
    assert shell._origin == {} and shell._sent_ns == {}


def test_orders_never_answered_are_bounded(wired: tuple[LegShell, zmq.Socket[bytes]]) -> None:
    shell, venue = wired
    assert MAX_STAMPED >= 10_000  # a normal backlog is never cut short
    shell.max_stamped = 4
    sent = []
    for i in range(10):
        got = place(shell, venue, combo=i + 1)
        assert got is not None
        sent.append(got[1].cl)
    assert list(shell._sent_ns) == sent[-4:]  # the oldest went first
