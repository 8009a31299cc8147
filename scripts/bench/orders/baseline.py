"""The machine's own baseline for ``cmc bench orders``: a bare pyzmq ipc ping-pong.

Before the paths, this process (a DEALER, as the raw client) and a child process (a ROUTER, as
the gateway) bounce one MessagePack-sized frame (an encoded ``new``) back and forth over
``ipc://``, one round trip per ``INTERVAL_NS``, both sides waiting with ``select`` on the
socket's descriptor, as the gateway and the raw client do (no spin). What it measures is the
floor every hop of the order path pays on this machine: two processes woken from sleep and one
ipc round trip, no protocol work. The engine path adds hops (driver -> node link -> hot host ->
venue socket -> gateway and back), each a wake-up of its own; ``engine_added`` divided by this
round trip (``p50_over_rtt``) says roughly how many such wake-ups the engine's extra hops cost.
On the shared 2-vCPU reference VM (session 8) this was ~175 µs p50 with both sides sleeping
(one side busy-polling: ~90 µs): the pipeline's absolute numbers are dominated by it.

The child is ``python -m scripts.bench.orders.baseline --address A``: it binds, prints
``READY``, echoes every frame as it is (no decoding: the bare transport) and stops on an empty
frame, or after ``--idle-s`` without one (its parent gone).
"""

from __future__ import annotations

import select
import subprocess
import sys
from typing import Any

import click
import msgspec
import numpy as np
import zmq

from transports.clock import LiveClock
from transports.wire.venue_msgs import NewOrder

N_TRIPS = 2_000  #: round trips measured (after ``WARMUP_TRIPS``)
WARMUP_TRIPS = 20  #: round trips not measured: connection set-up, first wakes, caches
INTERVAL_NS = 1_000_000  #: one round trip per ms, the raw path's pace at 1,000 orders/s
TRIP_TIMEOUT_S = 2.0  #: a round trip not answered within this is an error, not a sample
START_TIMEOUT_S = 20.0  #: the child says READY within this
IDLE_S = 10.0  #: the child stops after this long without a frame

#: the frame bounced: an order as the raw client sends it (~80 bytes of MessagePack)
PAYLOAD = msgspec.msgpack.encode(NewOrder(cl="r0.1234", sym="au2606", side="B", px=1_000_000,
                                          qty=1, tif="IOC", ts=1_700_000_000_000_000_000))


def _readline(proc: subprocess.Popen[bytes], timeout_s: float) -> bytes:
    """One line of the child's stdout, waited for with a deadline."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    return proc.stdout.readline() if ready else b""


def _trip(sock: zmq.Socket[bytes], fd: int, clock: LiveClock) -> int:
    """One round trip: send, sleep in ``select`` until the echo is readable; return its ns."""
    t0 = clock.mono_ns()
    sock.send(PAYLOAD)
    deadline = t0 + int(TRIP_TIMEOUT_S * 1e9)
    # the descriptor is edge-triggered: EVENTS says whether a frame is waiting
    while not sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
        left_ns = deadline - clock.mono_ns()
        if left_ns <= 0:
            raise RuntimeError(f"ipc baseline: no echo within {TRIP_TIMEOUT_S} s")
        select.select([fd], [], [], left_ns / 1e9)
    sock.recv(zmq.NOBLOCK)
    return clock.mono_ns() - t0


def ipc_rtt(ctx: zmq.Context[Any], sock_dir: str, n: int = N_TRIPS,
            interval_ns: int = INTERVAL_NS) -> dict[str, Any]:
    """``n`` paced ipc round trips between this process and a child, both sleeping in
    ``select``; return ``{n, p50_us, p99_us, p999_us}`` (``stats.pcts``)."""
    from scripts.bench.orders.stats import pcts  # numpy + HDR: not in the child's imports

    addr = f"ipc://{sock_dir}/bench-pingpong"
    child = subprocess.Popen(
        [sys.executable, "-m", "scripts.bench.orders.baseline", "--address", addr],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    clock = LiveClock()
    try:
        if _readline(child, START_TIMEOUT_S).strip() != b"READY":
            child.kill()
            err = child.communicate(timeout=10)[1]
            raise RuntimeError(f"ipc baseline: the echo process did not start: {err[-400:]!r}")
        sock.connect(addr)
        fd = sock.getsockopt(zmq.FD)
        for _ in range(WARMUP_TRIPS):
            _trip(sock, fd, clock)
        rtt = np.empty(n, np.int64)
        due = clock.mono_ns()
        for i in range(n):
            due += interval_ns
            wait_ns = due - clock.mono_ns()
            if wait_ns > 0:
                # a timed sleep (µs resolution), not on the descriptor: it may still be
                # signalled from the last trip, which would send early and keep this side hot
                select.select([], [], [], wait_ns / 1e9)
            rtt[i] = _trip(sock, fd, clock)
        sock.send(b"")  # the child's stop; the socket stays open until it is out
        child.communicate(timeout=5)
    finally:
        sock.close(linger=0)
        if child.poll() is None:
            child.kill()
            child.communicate()
    s = pcts(rtt)
    return {k: s[k] for k in ("n", "p50_us", "p99_us", "p999_us")}


def echo(address: str, idle_s: float) -> None:
    """The child's loop: bind a ROUTER at ``address``, say READY, echo every frame until an
    empty one (or ``idle_s`` without any)."""
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(address)
    fd = sock.getsockopt(zmq.FD)
    clock = LiveClock()
    print("READY", flush=True)
    last = clock.mono_ns()
    try:
        while clock.mono_ns() - last < idle_s * 1e9:
            while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                ident, payload = sock.recv_multipart(zmq.NOBLOCK)
                if not payload:
                    return
                sock.send_multipart([ident, payload])
                last = clock.mono_ns()
            select.select([fd], [], [], 0.1)
    finally:
        sock.close(linger=0)
        ctx.term()


@click.command()
@click.option("--address", required=True, help="ipc:// address to bind.")
@click.option("--idle-s", type=float, default=IDLE_S, help="Stop after this long idle.")
def main(address: str, idle_s: float) -> None:
    """Echo frames on a ROUTER (the ipc baseline's far side)."""
    echo(address, idle_s)


__all__ = ["N_TRIPS", "ipc_rtt"]

if __name__ == "__main__":
    main()
