"""``SocketWaiter``: a host's wait over real ZeroMQ sockets that reads a socket's state only
when it may have changed, and never loses an input unnoticed.

Each case uses real sockets over inproc and waits on conditions, not time: a message that has
been sent is in the peer's pipe once ``zmq.Socket.poll`` (its own ``zmq_poll``, not the waiter)
says so; only the lost wake-up case lets one wait run out (``MAX_WAIT_MS``), on purpose."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from actors.runtime.host.waiter import MAX_WAIT_MS, SocketWaiter, TrackedSocket


class _Ctx:
    """A context whose sockets all stay referenced until the test ends, then closed: a socket
    dropped unclosed would be left open by its finalizer (warnings are errors here) and hang
    the context's termination."""

    def __init__(self) -> None:
        self.zmq: zmq.Context[Any] = zmq.Context()
        self.socks: list[Any] = []

    def socket(self, kind: int, socket_class: Any = None) -> Any:
        s = self.zmq.socket(kind, socket_class=socket_class)
        self.socks.append(s)
        return s


@pytest.fixture
def ctx() -> Iterator[_Ctx]:
    c = _Ctx()
    yield c
    for s in c.socks:
        s.close(linger=0)
    c.zmq.term()


def _pair(ctx: _Ctx, name: str, tracked: bool = True) -> tuple[Any, Any]:
    """A ROUTER (the venue) and a DEALER (the host's socket) joined over inproc."""
    router = ctx.socket(zmq.ROUTER)
    router.bind(f"inproc://{name}")
    dealer = ctx.socket(zmq.DEALER, socket_class=TrackedSocket if tracked else None)
    dealer.setsockopt(zmq.IDENTITY, b"host")
    dealer.connect(f"inproc://{name}")
    return router, dealer


def _arrived(sock: Any) -> None:
    """Wait (bounded) until a message is readable on ``sock``, without reading it and without
    the waiter: the test's own check that the message is there."""
    assert sock.poll(5_000, zmq.POLLIN), "the message never arrived"


def _hello(router: Any, dealer: Any) -> bytes:
    """The dealer introduces itself so the router can address it; returns its identity."""
    dealer.send(b"hello")
    _arrived(router)
    ident, _ = router.recv_multipart()
    return bytes(ident)


def test_a_socket_left_readable_is_served_again_without_a_new_signal(ctx: _Ctx) -> None:
    router, dealer = _pair(ctx, "partial")
    w = SocketWaiter()
    w.register(dealer)
    ident = _hello(router, dealer)
    for i in range(3):
        router.send_multipart([ident, b"m%d" % i])
    assert w.poll(5_000) == [(dealer, zmq.POLLIN)]
    assert dealer.recv() == b"m0"  # the reader stops early (MAX_FRAMES_PER_POLL)
    # the two left raise no new signal, yet the next wait must not sleep on them
    assert w.poll(0) == [(dealer, zmq.POLLIN)]
    assert dealer.recv() == b"m1" and dealer.recv() == b"m2"
    assert w.poll(0) == []
    assert w.lost_wakeups == 0


def test_a_reply_whose_signal_a_send_consumed_is_not_lost(ctx: _Ctx) -> None:
    # a reply arrives, then the host sends on the same socket before it waits again: the send
    # processes the socket's mailbox (and the reply's signal with it); the waiter must still
    # see the reply, because the send told it the socket changed
    router, dealer = _pair(ctx, "send")
    w = SocketWaiter()
    w.register(dealer)
    ident = _hello(router, dealer)
    assert w.poll(0) == []
    router.send_multipart([ident, b"ack"])
    _arrived(dealer)  # zmq.Socket.poll reads the state too: the signal is gone from here on
    dealer.send(b"cancel")
    assert w.poll(5 * MAX_WAIT_MS) == [(dealer, zmq.POLLIN)]
    assert dealer.recv() == b"ack"
    assert w.lost_wakeups == 0 and w.found_on_timeout == 0


def test_a_socket_used_behind_the_waiters_back_is_served_and_counted(ctx: _Ctx) -> None:
    # the failure the design guards against, made on purpose: the signal of a message is
    # consumed by a read of the socket's state the waiter was not told of (a SUB is never sent
    # on, so the waiter does not read it before waiting). The longest wait runs out, the message
    # is served then, and the lost wake-up is counted
    pub = ctx.socket(zmq.PUB)
    pub.bind("inproc://lost")
    sub = ctx.socket(zmq.SUB, socket_class=TrackedSocket)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect("inproc://lost")
    w = SocketWaiter()
    w.register(sub)
    assert w.poll(0) == []
    while not sub.poll(10, zmq.POLLIN):  # a late joiner misses what was published before
        pub.send(b"tick")
    assert sub.recv() == b"tick"
    while sub.getsockopt(zmq.EVENTS) & zmq.POLLIN:
        sub.recv()
    pub.send(b"tick")
    _arrived(sub)  # reads the state behind the waiter's back: the signal is consumed
    assert w.poll(MAX_WAIT_MS) == [(sub, zmq.POLLIN)]
    assert w.lost_wakeups == 1


def test_an_untracked_socket_that_can_send_is_read_before_every_wait(ctx: _Ctx) -> None:
    router, dealer = _pair(ctx, "untracked", tracked=False)
    w = SocketWaiter()
    w.register(dealer)
    ident = _hello(router, dealer)
    assert w.poll(0) == []
    router.send_multipart([ident, b"ack"])
    _arrived(dealer)
    dealer.send(b"cancel")  # not a TrackedSocket: the waiter cannot be told
    assert w.poll(5 * MAX_WAIT_MS) == [(dealer, zmq.POLLIN)]
    assert w.lost_wakeups == 0 and w.found_on_timeout == 0


def test_ready_sockets_come_in_registration_order_with_the_eventfd(ctx: _Ctx) -> None:
    efd = os.eventfd(0, os.EFD_NONBLOCK)
    try:
        r1, d1 = _pair(ctx, "one")
        r2, d2 = _pair(ctx, "two")
        w = SocketWaiter()
        w.register(efd)
        w.register(d1)
        w.register(d2)
        i1, i2 = _hello(r1, d1), _hello(r2, d2)
        assert w.poll(0) == []
        r2.send_multipart([i2, b"x"])
        r1.send_multipart([i1, b"y"])
        _arrived(d1)
        _arrived(d2)  # both signals consumed by the test's own check: touched below
        d1.send(b"a")
        d2.send(b"b")
        os.eventfd_write(efd, 1)
        assert w.poll(5_000) == [(efd, zmq.POLLIN), (d1, zmq.POLLIN), (d2, zmq.POLLIN)]
        assert w.sockets == [efd, d1, d2]
        w.unregister(d1)
        os.eventfd_read(efd)
        assert w.poll(0) == [(d2, zmq.POLLIN)]  # d1 is no longer watched
    finally:
        os.close(efd)


def test_a_busy_socket_does_not_hide_a_signalled_one(ctx: _Ctx) -> None:
    # the touched socket is ready every time; the other one, signalled by its descriptor, must
    # come in the same answer (a fill on the order socket while market data pours in)
    r1, busy = _pair(ctx, "busy")
    r2, quiet = _pair(ctx, "quiet")
    w = SocketWaiter()
    w.register(busy)
    w.register(quiet)
    i1, i2 = _hello(r1, busy), _hello(r2, quiet)
    assert w.poll(0) == []
    for _ in range(3):
        r1.send_multipart([i1, b"md"])
    assert w.poll(5_000)[0] == (busy, zmq.POLLIN)
    busy.recv()  # read one of three: still ready, touched
    r2.send_multipart([i2, b"fill"])
    while True:  # the fill's signal reaches the quiet socket's descriptor
        got = w.poll(5 * MAX_WAIT_MS)
        if (quiet, zmq.POLLIN) in got:
            break
        assert got == [(busy, zmq.POLLIN)]
    assert got == [(busy, zmq.POLLIN), (quiet, zmq.POLLIN)]
    assert w.lost_wakeups == 0
