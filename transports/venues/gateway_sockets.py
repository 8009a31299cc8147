"""The engine-facing sockets of the asyncio venue gateways (ccxt, CTP, IB): one copy of how they
are bound and closed.

Each gateway binds, at its venue's configured addresses (``{sock}`` filled with the gateway's
socket folder, made if missing), what docs/venue-protocol.md ("Sockets") promises and the
simulator's gateway binds (``transports.venues.sim.sockets``):

- the md XPUB: market data out, the engine's subscriptions in (``XPUB_VERBOSE``: a
  re-subscription after an engine restart is seen again); ``PUB_HWM`` frames queued per
  subscriber before the newest are dropped, which the engine sees as a sequence gap and resyncs;
- the ref ROUTER;
- the oe ROUTER: ``ROUTER_HANDOVER`` (the engine's DEALER identity is its account id; a
  restarted engine takes it over at once), ``ROUTER_MANDATORY`` and a send queue of ``OE_HWM``
  replies per peer. Order replies never drop silently: before these, the ccxt, CTP and IB
  gateways kept ZeroMQ's default queue of 1,000 frames, and an engine that stopped reading for
  a while (a frozen node, a long checkpoint) lost every ack, fill and done past it without a
  trace. Now a reply that cannot leave (no such peer, or ``OE_HWM`` queued for it) is counted
  in ``unsent`` and logged once per peer and cause (``reply``).

Every socket refuses a frame larger than ``MAX_FRAME_BYTES`` (1 MiB; a request is a few hundred
bytes): libzmq drops the peer that sends one before it is read whole, so no frame can take the
gateway's memory. With CURVE keys every socket is a CURVE server (``transports.venues.curve``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import zmq
import zmq.asyncio

from transports.config.market import VenueConfig
from transports.venues.curve import CurveServer, ServerKeys, start_server
from transports.venues.sim.sockets import UnsentReplies, address, bind_socket


class GatewaySockets:
    """A gateway's md XPUB, ref ROUTER and oe ROUTER (``md``, ``ref``, ``oe``) in one asyncio
    context, with their CURVE server (``curve``; None: plain)."""

    def __init__(self) -> None:
        self.ctx: zmq.asyncio.Context | None = None
        self.curve: CurveServer | None = None
        self.socks: list[zmq.asyncio.Socket] = []
        #: replies that could not leave, by cause ("unroutable", "queue_full")
        self.unsent: Counter[str] = Counter()
        self._unsent = UnsentReplies("gateway", lambda why: self.unsent.update((why,)))

    def bind(self, venue: VenueConfig, sock_dir: str,
             curve: ServerKeys | None = None) -> tuple[zmq.asyncio.Socket, zmq.asyncio.Socket,
                                                      zmq.asyncio.Socket]:
        """Bind the three sockets at ``venue``'s addresses; return ``(md, ref, oe)``. CURVE
        servers with ``curve`` (default: ``CMC_CURVE_SECRET`` / ``CMC_CURVE_ALLOW``, set by
        the gateway command's ``--curve-secret`` / ``--curve-allow``; neither: plain)."""
        self.ctx = zmq.asyncio.Context()
        self.curve = start_server(self.ctx, curve or ServerKeys.from_env())
        if "{sock}" in venue.md + venue.ref + venue.oe:
            Path(sock_dir).mkdir(parents=True, exist_ok=True)
        # the simulator's options, one copy (``bind_socket``): set before bind, where a
        # listener takes them
        socks, ctx, cv = self.socks, self.ctx, self.curve
        md = bind_socket(socks, ctx, zmq.XPUB, address(venue.md, sock_dir), cv)
        ref = bind_socket(socks, ctx, zmq.ROUTER, address(venue.ref, sock_dir), cv)
        oe = bind_socket(socks, ctx, zmq.ROUTER, address(venue.oe, sock_dir), cv, handover=True)
        return md, ref, oe

    def reply(self, sock: zmq.asyncio.Socket, ident: bytes, payload: bytes) -> bool:
        """Send ``payload`` to the peer ``ident`` on a ROUTER without waiting; True if it was
        queued. A reply that cannot leave (no such peer: ``unroutable``; on the oe socket,
        ``OE_HWM`` replies already queued for it: ``queue_full``) is counted in ``unsent`` and
        logged once per peer and cause, never raised: the engine's reconciliation recovers what
        it missed (open orders, trades, positions), a slow peer must not stop the gateway."""
        f = sock.send_multipart([ident, payload], flags=zmq.NOBLOCK)
        if not f.done():
            return True  # queued behind an earlier send that waits (a blocking one)
        exc = f.exception()
        if exc is None:
            return True
        self._unsent.note(ident, exc)  # type: ignore[arg-type]
        return False

    def close(self) -> None:
        """Close the sockets, stop the CURVE server and end the context (idempotent)."""
        socks, self.socks = self.socks, []
        for s in socks:
            s.close(linger=0)
        if self.curve is not None:
            self.curve.stop()  # its ZAP socket would keep term() waiting
            self.curve = None
        if self.ctx is not None:
            self.ctx.term()
            self.ctx = None


__all__ = ["GatewaySockets"]
