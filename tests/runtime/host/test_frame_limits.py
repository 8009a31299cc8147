"""Oversized frames on a venue socket are refused before they are read whole (catalogue F09):
libzmq drops a frame over ``MAX_FRAME_BYTES`` at the socket (``ZMQ_MAXMSGSIZE``), so a hostile
or broken gateway cannot make a host allocate it; the host keeps serving, and the socket comes
back with the host's reconnect (what the engine's links ask for when a venue goes silent)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import zmq

from actors.core import Core, Out
from actors.runtime.host.host import Begin, Directory, Host
from actors.runtime.shells.shell import Shell, SocketSpec
from tests.support.helpers import eventually
from transports.clock import LiveClock
from transports.wire.codec import MAX_FRAME_BYTES
from transports.wire.messages import Reconnect


class Sizes(Core):
    """Records the size of every frame its shell decoded."""

    def __init__(self) -> None:
        super().__init__("v")
        self.sizes: list[int] = []

    def on_frame(self, m: Frame, now_ns: int) -> Out:
        self.sizes.append(m.n)
        return []

    def snapshot(self) -> dict[str, Any]:
        return {"sizes": list(self.sizes)}


class Frame:
    def __init__(self, n: int) -> None:
        self.n = n


class DealerShell(Shell):
    """One DEALER connected to the test's ROUTER (a venue's oe socket, in miniature)."""

    def __init__(self, core: Core, address: str) -> None:
        super().__init__(core)
        self.address = address

    def socket_specs(self) -> Iterable[SocketSpec]:
        return (SocketSpec("oe", zmq.DEALER, self.address, identity=b"acct"),)

    def decode(self, key: str, frames: list[bytes], now_ns: int) -> Any:
        return Frame(len(frames[-1]))


def test_a_frame_over_the_limit_never_reaches_the_shell_and_the_host_lives(
        ctx: Any, sock_dir: str) -> None:
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    address = f"ipc://{sock_dir}/venue-oe"
    router.bind(address)
    core = Sizes()
    d = Directory("n", {"v": "g"}, {"g": "n"}, {"n": "inproc://unused"})
    h = Host.start("g", [DealerShell(core, address)], d, LiveClock(), ctx)
    d.refs["g"] = h
    h.tell(Begin())
    h.proxy().host_counters().get(timeout=5)
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a send to a peer not (yet) there raises
    router.setsockopt(zmq.ROUTER_HANDOVER, 1)  # the reconnecting DEALER takes its route back

    def small_frame_arrives(n: int) -> bool:
        # keep offering a small frame until the host's DEALER is (re)connected and decoded one
        try:
            router.send_multipart([b"acct", b"x" * n], zmq.NOBLOCK)
        except zmq.ZMQError:
            return False
        return n in h.proxy().query("v").get(timeout=1)["sizes"]

    try:
        eventually(lambda: small_frame_arrives(10), 5, step_s=0.05)
        router.send_multipart([b"acct", b"y" * (MAX_FRAME_BYTES + 1)])  # too large
        # libzmq drops it and the connection with it, for good (libzmq 4.3 does not reconnect
        # after a protocol error): to the engine that is a silent venue, which its link notices
        # (unanswered pings) and answers with a Reconnect — the same request is made here
        eventually(lambda: not small_frame_arrives(11) and router.poll(0) == 0, 5)
        h.proxy().call("v", lambda core, now: [("@host", Reconnect("oe"))]).get(timeout=5)
        eventually(lambda: small_frame_arrives(11), 10, step_s=0.05)
        sizes = h.proxy().query("v").get(timeout=1)["sizes"]
        assert MAX_FRAME_BYTES + 1 not in sizes and max(sizes) == 11  # never decoded
        assert h.is_alive()
    finally:
        h.stop()
        router.close(linger=0)
