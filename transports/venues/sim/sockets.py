"""The simulator gateway's sockets: the md, ref and oe sockets of every venue it serves.

Each venue the config gives to the simulator (``gateway = "sim"``) gets its own three sockets,
bound at ``VenueConfig.md/ref/oe`` with ``{sock}`` replaced by the socket directory
(``address``, also what every other gateway and the benches use to fill an address): md an
XPUB that sees every subscription (``XPUB_VERBOSE``: a late joiner is answered with the
session state), ref a ROUTER, oe a ROUTER that a reconnecting engine with the same account id
takes over (``ROUTER_HANDOVER``) and that refuses a reply it cannot route or queue
(``ROUTER_MANDATORY``, ``OE_HWM``) so the gateway counts it rather than losing it silently.
Venues another gateway serves (ccxt, paper) are simulated but not bound here. With a
``CurveServer`` every socket is a CURVE server. The loop (``gateway.py``) owns the sockets
once bound: it polls them and closes them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import zmq
from loguru import logger

from transports.config.engine import AppConfig
from transports.venues.curve import CurveServer
from transports.wire.codec import MAX_FRAME_BYTES

PUB_HWM = 100_000
#: the oe ROUTERs' per-peer send queue. Order replies never drop (DESIGN.md section 5): the
#: default (1,000 frames) is 50 ms of replies at 10,000 orders/s (an ack and a done each), and
#: a client that fell that far behind lost replies silently. A million ~100-byte frames bound
#: the memory one stuck peer can pin; past that a reply is counted (``_reply``), not queued.
OE_HWM = 1_000_000


def address(template: str, sock_dir: str) -> str:
    """A configured address with ``{sock}`` replaced by the socket directory."""
    return template.replace("{sock}", sock_dir)


class VenueSockets(NamedTuple):
    """The bound sockets of the served venues."""

    socks: list[zmq.Socket]  #: every socket, in the order bound (md, ref, oe of each venue)
    md: dict[str, zmq.Socket]  #: venue -> its md XPUB
    oe: dict[str, zmq.Socket]  #: venue -> its oe ROUTER
    route: dict[zmq.Socket, tuple[str, str]]  #: socket -> (venue, "md" | "ref" | "oe"), bind order


def bind_venues(cfg: AppConfig, sock_dir: str, ctx: zmq.Context,
                curve: CurveServer | None) -> VenueSockets:
    """Bind the three sockets of every venue ``cfg`` gives to the simulator."""
    out = VenueSockets([], {}, {}, {})
    served = [v for v in cfg.venues if v.gateway == "sim"]
    if "{sock}" in "".join(v.md + v.ref + v.oe for v in served):
        os.makedirs(sock_dir, exist_ok=True)
    for v in served:
        md = bind_socket(out.socks, ctx, zmq.XPUB, address(v.md, sock_dir), curve)
        out.md[v.name] = md
        out.route[md] = (v.name, "md")
        ref = bind_socket(out.socks, ctx, zmq.ROUTER, address(v.ref, sock_dir), curve)
        oe = bind_socket(out.socks, ctx, zmq.ROUTER, address(v.oe, sock_dir), curve, handover=True)
        out.oe[v.name] = oe
        out.route[ref] = (v.name, "ref")
        out.route[oe] = (v.name, "oe")
    return out


class UnsentReplies:
    """Replies a gateway's ROUTER refused (``ROUTER_MANDATORY``): each one's cause counted with
    ``count(cause)`` -- ``unroutable`` (no such peer: gone, or never connected) or
    ``queue_full`` (``OE_HWM`` replies already queued for it) -- and logged once per peer and
    cause (a gone peer may miss many). The simulator, the paper gateway and ``GatewaySockets``
    share it."""

    def __init__(self, who: str, count: Callable[[str], None]) -> None:
        self.who = who
        self.count = count
        self._logged: set[tuple[bytes, str]] = set()

    def note(self, ident: bytes, exc: zmq.ZMQError) -> str:
        """Count and (once) log the refusal ``exc`` of a reply to ``ident``; return its cause."""
        why = "queue_full" if isinstance(exc, zmq.Again) else "unroutable"
        self.count(why)
        if (ident, why) not in self._logged:
            self._logged.add((ident, why))
            logger.warning("{}: replies to {!r} not sent ({}: {}); counted as {}", self.who,
                           ident, why, exc, why)
        return why


def bind_socket(socks: list[Any], ctx: Any, kind: int, addr: str, curve: CurveServer | None,
                *, handover: bool = False) -> Any:
    """One engine-facing socket of a gateway, bound at ``addr`` with the protocol's options (the
    module docstring; ``handover``: the oe ROUTER's), appended to ``socks``. ``ctx`` may be a
    plain or an asyncio ZeroMQ context (the simulator's, or ``gateway_sockets``')."""
    s = ctx.socket(kind)
    socks.append(s)
    s.setsockopt(zmq.LINGER, 0)
    # a frame past the limit drops its sender before it is read whole (set before bind)
    s.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
    if kind == zmq.XPUB:
        s.setsockopt(zmq.SNDHWM, PUB_HWM)
        s.setsockopt(zmq.XPUB_VERBOSE, 1)  # see every subscription, not only the first
    if handover:  # a reconnecting engine with the same account id takes the route over
        s.setsockopt(zmq.ROUTER_HANDOVER, 1)
        # a reply that cannot leave raises (counted by the gateway) instead of vanishing
        s.setsockopt(zmq.ROUTER_MANDATORY, 1)
        s.setsockopt(zmq.SNDHWM, OE_HWM)
    if curve is not None:
        curve.apply(s)
    s.bind(addr)
    return s


__all__ = ["OE_HWM", "PUB_HWM", "UnsentReplies", "VenueSockets", "address", "bind_socket",
           "bind_venues"]
