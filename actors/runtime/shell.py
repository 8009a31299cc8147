"""Shells: what wraps a pure core for a host — its sockets, wire decoding and sends.

A **shell** wraps one core for a host: it opens the actor's sockets in the host's thread, turns
wire frames into core calls, and sends what the core addresses to ``@`` keys. Shells and every
other piece of I/O live in ``actors.runtime``; the cores in ``actors`` never touch a socket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import zmq

from actors.core import Core, Out
from transports.wire.messages import Msg


class SocketSpec(msgspec.Struct, frozen=True):
    """A socket a shell wants: kind, address, bind or connect, options."""

    key: str  #: the ``@`` key cores address it by
    kind: int  #: zmq socket type
    address: str
    bind: bool = False
    identity: bytes = b""
    subscribe: tuple[bytes, ...] = ()


class Shell:
    """Wraps one core for a host. Subclasses translate wire frames for their sockets."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.name = core.name
        self.sockets: dict[str, zmq.Socket[bytes]] = {}

    def socket_specs(self) -> Iterable[SocketSpec]:
        """Return the sockets this actor owns (opened by the host in its own thread)."""
        return ()

    def decode(self, key: str, frames: list[bytes], now_ns: int) -> Any:
        """Turn one multipart message received on socket ``key`` into the message for the core
        (the host then delivers and journals it); return a ``BadFrame`` if it does not decode."""
        raise NotImplementedError

    def send(self, key: str, msg: Any) -> None:
        """Send a message the core addressed to ``@key`` on this actor's socket."""
        raise KeyError(f"{self.name}: no socket {key!r}")

    def handle(self, msg: Msg, now_ns: int) -> Out:
        """Deliver an internal message to the core."""
        return self.core.handle(msg, now_ns)


ShellFactory = Callable[[], Shell]
