"""Shells: what wraps a pure core for a host — its sockets, wire decoding and sends.

A **shell** wraps one core for a host: it opens the actor's sockets in the host's thread, turns
wire frames into core calls, and sends what the core addresses to ``@`` keys. Shells and every
other piece of I/O live in ``actors.runtime``; the cores in ``actors`` never touch a socket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Self

import msgspec
import zmq

from actors.core import Core, Out
from transports.venues.curve import secure_client
from transports.wire.messages import Msg


class SocketSpec(msgspec.Struct, frozen=True):
    """A socket a shell wants: kind, address, bind or connect, options."""

    key: str  #: the ``@`` key cores address it by
    kind: int  #: zmq socket type
    address: str
    bind: bool = False
    identity: bytes = b""
    subscribe: tuple[bytes, ...] = ()
    #: CURVE client (``transports.venues.curve``): the server's public key file; "" = plain
    server_key_file: str = ""
    #: CURVE client: this engine's ``.key_secret`` file (set together with ``server_key_file``)
    client_secret_file: str = ""


def secure(sock: zmq.Socket[Any], spec: SocketSpec) -> None:
    """Apply ``spec``'s CURVE fields to ``sock`` (after it is made, before it connects): a CURVE
    client of the venue's gateway, or nothing when ``spec`` has no server key. Whoever opens
    sockets from a ``SocketSpec`` calls it; a missing key file is a ``ConfigError`` naming it."""
    if spec.server_key_file:
        if spec.bind:  # the engine only connects to gateways; a bound CURVE client is a bug
            raise ValueError(f"socket {spec.key!r}: CURVE client keys on a bound socket")
        secure_client(sock, spec.server_key_file, spec.client_secret_file)


class Shell:
    """Wraps one core for a host. Subclasses translate wire frames for their sockets."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.handle is not Shell.handle and "__setattr__" not in cls.__dict__:
            # a shell with its own ``handle`` (stamps, checks) keeps it, and its attribute
            # writes stay plain: only shells that pass messages through are bound
            # (``__setattr__``)
            cls.__setattr__ = object.__setattr__  # type: ignore[assignment]

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name == "core" and type(self).handle is Shell.handle:
            # every message a hosted actor receives goes through ``handle``; for a shell that
            # only passes it on, the core's own ``handle`` is called directly (one Python call
            # less per delivery, ~50-70 ns). Set again whenever the core is replaced (a
            # restart, a rebuild, a wrapper), so it always is the current core's
            object.__setattr__(self, "handle", value.handle)

    def __init__(self, core: Core) -> None:
        self.core = core
        self.name = core.name
        self.sockets: dict[str, zmq.Socket[bytes]] = {}
        #: CURVE keys of the venue links this shell opens ("" = plain); see ``use_curve``
        self.curve_server_key = ""
        self.curve_client_secret = ""

    def use_curve(self, server_key_file: str, client_secret_file: str) -> Self:
        """Open this shell's venue sockets as CURVE clients (the venue's ``curve_server_key``
        and ``curve_client_secret``; both "" = plain); returns the shell."""
        self.curve_server_key = server_key_file
        self.curve_client_secret = client_secret_file
        return self

    def venue_socket(self, key: str, kind: int, address: str, **options: Any) -> SocketSpec:
        """A ``SocketSpec`` connecting to a venue gateway, with this shell's CURVE keys."""
        return SocketSpec(key, kind, address, server_key_file=self.curve_server_key,
                          client_secret_file=self.curve_client_secret, **options)

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
        """Deliver an internal message to the core (a shell without its own ``handle`` has
        this replaced by the core's bound ``handle``: the same call, one frame less)."""
        return self.core.handle(msg, now_ns)


ShellFactory = Callable[[], Shell]

__all__ = ["Shell", "ShellFactory", "SocketSpec", "secure"]
