"""A venue gateway that stops reading (frozen, stuck in its vendor API) never blocks the engine:
the host opens its venue DEALERs with a deep send queue (``VENUE_SEND_HWM``) and the leg's shell
sends without blocking; a frame the full queue refuses is counted and dropped, the thread goes
on. Before, a blocking send froze the whole group (every venue's market data and orders) once
ZeroMQ's 1,000 frames waited for the stuck gateway.

Real sockets over ``inproc://`` (what waits is exactly the two sockets' queues): the shell's
DEALER opened by ``HostSockets.open`` as a host opens it, a ROUTER standing for the gateway that
never reads. The sends run in a worker thread joined with a deadline, so a send that blocks
fails the test instead of hanging it."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import zmq

from actors.runtime.dispatch import Dispatcher, Sink
from actors.runtime.host import host_sockets
from actors.runtime.host.host_inbox import Directory
from actors.runtime.host.host_sockets import HostSockets
from actors.runtime.host.waiter import SocketWaiter
from actors.runtime.shells.venue_shell import LegShell
from tests.actors.leg.test_leg_executor import core, order
from transports.clock import TestClock
from transports.latency import LatencyRecorder
from transports.wire.venue_msgs import FENCE_PROBE_CL, Ping

ADDR = "inproc://stalled-gateway"
DEADLINE_S = 10.0


@pytest.fixture
def stalled(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LegShell, zmq.Socket[Any]]]:
    """A leg shell whose oe DEALER (opened as a host opens it) reaches a gateway that never
    reads; its send queue lowered to 500 frames so the test reaches it quickly."""
    monkeypatch.setattr(host_sockets, "VENUE_SEND_HWM", 500)
    ctx: zmq.Context[Any] = zmq.Context()
    gateway = ctx.socket(zmq.ROUTER)
    gateway.setsockopt(zmq.RCVHWM, 100)
    gateway.setsockopt(zmq.LINGER, 0)
    gateway.bind(ADDR)
    shell = LegShell(core(rate=1_000_000), ADDR, "shfe-acct", TestClock(1_000),
                     LatencyRecorder(64))
    io = HostSockets("hot", Directory("engine", {}, {}, {}), ctx, collections.Counter(),
                     Dispatcher({}, Sink()), SocketWaiter(), commit=None)  # type: ignore[arg-type]
    for spec in shell.socket_specs():
        io.open(shell, spec)
    try:
        yield shell, gateway
    finally:
        for sock in io.all_sockets():
            sock.close(linger=0)
        gateway.close(linger=0)
        ctx.term()


def _in_thread(fn: Any, gateway: zmq.Socket[Any]) -> None:
    """Run ``fn`` in a worker thread; fail if it has not returned within the deadline (first
    reading the gateway until the blocked send goes through, so the test ends cleanly)."""
    err: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            err.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(DEADLINE_S)
    blocked = t.is_alive()
    while t.is_alive() and gateway.poll(1_000):
        gateway.recv_multipart()
    assert not blocked, "a send blocked the host's thread"
    if err:
        raise err[0]


def _drain(gateway: zmq.Socket[Any]) -> list[dict[str, Any]]:
    out = []
    while gateway.poll(200):
        out.append(msgspec.msgpack.decode(gateway.recv_multipart()[-1]))
    return out


def test_pings_to_a_gateway_that_stopped_reading_never_block_and_are_counted(
        stalled: tuple[LegShell, zmq.Socket[Any]]) -> None:
    shell, gateway = stalled
    n = 2_000  # past what the two queues hold (500 sent + 100 received, inproc)
    _in_thread(lambda: [shell.send("oe", Ping(ts=i)) for i in range(n)], gateway)
    assert 0 < shell.unsent < n
    got = _drain(gateway)  # the gateway reads again: what was queued arrives, in order
    assert [m["ts"] for m in got] == list(range(n - shell.unsent))
    shell.send("oe", Ping(ts=n))  # and the shell sends again
    assert [m["ts"] for m in _drain(gateway)] == [n]


def test_an_order_the_stalled_socket_refuses_is_not_sent_and_the_thread_goes_on(
        stalled: tuple[LegShell, zmq.Socket[Any]]) -> None:
    shell, gateway = stalled

    def fill_then_order() -> None:
        for _ in range(5_000):  # the queue, full (500 sent + 100 received hold it)
            if not shell._send_frame("oe", b"\x80", "filler"):
                break
        out = shell.handle(order(combo=7, qty=1, tif="IOC"), 2_000)
        for dest, m in out:
            if dest == "@oe":
                shell.send("oe", m)
        assert shell.flush_sends() == []

    _in_thread(fill_then_order, gateway)
    unsent = shell.unsent
    assert unsent >= 2  # the last filler and the order
    frames = _drain(gateway)
    assert not any(f.get("t") == "new" for f in frames)  # the order never reached the wire
    assert not shell._sent_ns  # no send time: its ack is not waited for as if it left


def test_a_fencing_probe_the_stalled_socket_refused_goes_first_when_it_drains(
        stalled: tuple[LegShell, zmq.Socket[Any]]) -> None:
    # with a hot standby the first frame of a lease epoch fences the gateway; one lost to a
    # full queue must not leave the epoch unannounced
    shell, gateway = stalled
    shell.fence = lambda: 5

    def fill_then_ping() -> None:
        for _ in range(5_000):
            if not shell._send_frame("oe", msgspec.msgpack.encode({"t": "filler"}), "filler"):
                break
        shell.send("oe", Ping(ts=1))  # the probe first: refused, then the ping: refused

    _in_thread(fill_then_ping, gateway)
    assert {f["t"] for f in _drain(gateway)} == {"filler"}
    shell.send("oe", Ping(ts=2))
    got = _drain(gateway)
    assert [(f["t"], f.get("cl"), f.get("epoch")) for f in got] == [
        ("cancel", FENCE_PROBE_CL, 5), ("ping", None, None)]
