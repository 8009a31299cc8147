"""The simulator gateway process: every venue of the config behind the venue protocol, version 1.

One process hosts all venues (so their prices are correlated); each venue has its own three
sockets, addresses from ``VenueConfig.md/ref/oe`` with ``{sock}`` replaced by the socket
directory: md (multipart ``[topic, payload]``), ref ROUTER and oe ROUTER (the engine's DEALER
identity is its account id). The md socket is an XPUB, i.e. a PUB to the engine's SUB that also
sees subscriptions: each new subscription is answered with the current ``status`` of the symbols
it covers, so a late joiner learns the session state. The loop never blocks for long: it waits on
the sockets' descriptors with ``select`` (a µs timeout, bounded by the next due event and at
most 50 ms), so a request is read as soon as it arrives, never after a blind sleep. Each turn
sends the replies before the market data, and the truth's bookkeeping after both
(``SimCore.settle``).

Replies are never dropped silently: the oe ROUTERs are ``ROUTER_MANDATORY`` with a high
``SNDHWM`` (``OE_HWM``); a reply that still cannot leave (the peer is gone, or ``OE_HWM`` replies
are queued for it) is counted in the truth (``oe_replies_unroutable`` / ``oe_replies_queue_full``)
and logged. The sockets and their options are bound in ``sockets.py`` (``address`` is
re-exported here).

Sim-only extensions on ANY venue's ref socket (not part of the protocol):

- ``{"t":"sim.truth"}`` -> ``{"t":"sim.truth","truth":{...}}`` (``SimTruth.to_dict()`` so far)
- ``{"t":"sim.shutdown"}`` -> ``{"t":"ok"}``, then the loop exits.
"""

from __future__ import annotations

import gc
import json
import select
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import zmq
from loguru import logger

from transports.clock import Clock, LiveClock
from transports.config.engine import AppConfig, load_config, with_overrides
from transports.errors import ConfigError
from transports.venues.curve import CurveServer, ServerKeys, start_server
from transports.venues.sim.core import SimCore
from transports.venues.sim.faults import load_preset
from transports.venues.sim.sockets import UnsentReplies, address, bind_venues
from transports.venues.sim.truth import SimTruth
from transports.wire.venue_msgs import Error, OeRequest, RefRequest

MAX_WAIT_NS = 50_000_000  #: longest poll, so stop and duration are noticed promptly
DRAIN = 512  #: most frames read from one socket per loop turn
#: ``quiet_gc``: a full collection runs only after this long without an oe request
GC_IDLE_NS = 1_000_000_000
#: ``quiet_gc``: ... and once this many young (gen 1) collections have run since the last one
GC_MIN_YOUNG = 10
#: send flags as plain ints: two ``send`` calls cost ~1 us where ``send_multipart`` (enum flag
#: arithmetic per frame) costs ~4 us, twice per order. A multipart message is atomic either way
_MORE = int(zmq.SNDMORE | zmq.NOBLOCK)
_LAST = int(zmq.NOBLOCK)


class SimTruthReq(msgspec.Struct, tag_field="t", tag="sim.truth", frozen=True):
    """Sim-only ref request: the ground truth so far."""


class SimShutdownReq(msgspec.Struct, tag_field="t", tag="sim.shutdown", frozen=True):
    """Sim-only ref request: reply ``ok`` and stop."""


SimRefRequest = RefRequest | SimTruthReq | SimShutdownReq


class _Gateway:
    """Sockets around a ``SimCore``; one instance per ``serve`` call."""

    def __init__(self, cfg: AppConfig, sock_dir: str, ctx: zmq.Context, clock: Clock,
                 curve: CurveServer | None = None, *, quiet_gc: bool = False) -> None:
        self.cfg, self.clock = cfg, clock
        self.quiet_gc = quiet_gc  #: see ``serve``
        self.last_request_ns = 0  #: when the last oe request arrived (``quiet_gc``)
        #: replies an oe ROUTER refused, counted in the truth (``oe_replies_<cause>``)
        self.unsent = UnsentReplies("sim gateway", self._count_unsent)
        self.enc = msgspec.msgpack.Encoder()
        self.ref_dec = msgspec.msgpack.Decoder(SimRefRequest)
        self.oe_dec = msgspec.msgpack.Decoder(OeRequest)
        self.shutdown = False
        self.core: SimCore | None = None
        bound = bind_venues(cfg, sock_dir, ctx, curve)  # CURVE on each with ``curve``
        self.socks, self.md, self.oe = bound.socks, bound.md, bound.oe
        self.route = bound.route  #: socket -> (venue, md|ref|oe)
        self.poller = zmq.Poller()
        for s in self.route:  # in bind order
            self.poller.register(s, zmq.POLLIN)

    def close(self) -> None:
        for s in self.socks:
            s.close(linger=0)

    # --- the loop -------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the session and put the first quotes up (before the engine is told we are up)."""
        self.core = SimCore(self.cfg, self.clock.now_ns())
        self._flush(*self.core.advance(self.core.start_ns))
        # the descriptors ``select`` waits on (edge-triggered: ``poll(0)`` before each wait)
        self.fds = [s.getsockopt(zmq.FD) for s in self.socks]

    def run(self, stop: threading.Event | None, duration_s: float | None) -> SimTruth:
        core = self.core
        assert core is not None
        deadline = core.start_ns + int(duration_s * 1e9) if duration_s else None
        poll = self.poller.poll
        while not self.shutdown and not (stop is not None and stop.is_set()):
            now = self.clock.now_ns()
            if deadline is not None and now >= deadline:
                break
            self._flush(*core.advance(now, settle=False))
            core.settle()  # the truth's observation, once the bytes are out
            ready = poll(0)
            if not ready:
                now = self.clock.now_ns()
                if self.quiet_gc and now - self.last_request_ns > GC_IDLE_NS \
                        and gc.get_count()[2] >= GC_MIN_YOUNG:
                    gc.collect()  # no order flow to stall: the full collection is done here
                    continue
                wait = min(core.next_due() - now, MAX_WAIT_NS)
                if deadline is not None:
                    wait = min(wait, deadline - now)
                if wait > 0:
                    # select() takes a timeval (µs); zmq_poll rounds to whole ms, which made
                    # the loop sleep blind through the last sub-ms before a timer while a
                    # request waited. The descriptors are edge-triggered: ``poll(0)`` above
                    # has consumed the old edges, so any new message wakes this.
                    select.select(self.fds, [], [], wait / 1e9)
                    ready = poll(0)
            for s, _ in ready:
                self._drain(s)
        return core.finish(self.clock.now_ns())

    def _flush(self, md: list[Any], oe: list[Any]) -> None:
        """Send the replies, then the market data (a reply never waits behind md)."""
        if oe:
            self._send_oe(oe)
        if md:
            self._send_md(md)

    def _send_md(self, md: list[Any]) -> None:
        enc = self.enc
        mds = self.md
        for venue, topic, msg in md:
            sock = mds.get(venue)
            if sock is not None:  # None: a venue another gateway serves
                sock.send(topic.encode(), _MORE)
                sock.send(enc.encode(msg), _LAST)

    def _send_oe(self, oe: list[Any]) -> None:
        enc = self.enc
        oes = self.oe
        for venue, account, msg in oe:
            out = oes.get(venue)
            if out is not None:  # None: a venue another gateway serves
                self._reply(out, account.encode("utf-8", "surrogateescape"), enc.encode(msg))

    def _drain(self, sock: zmq.Socket) -> None:
        venue, kind = self.route[sock]
        for _ in range(DRAIN):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if kind == "md":
                self._on_subscription(venue, frames)
            elif kind == "ref":
                self._on_ref(sock, venue, frames)
            else:
                self._on_oe(sock, venue, frames)

    def _on_subscription(self, venue: str, frames: list[bytes]) -> None:
        """A subscriber joined: send it the session state of the symbols it subscribed to."""
        assert self.core is not None
        sub = frames[0] if len(frames) == 1 else b""
        now = self.clock.now_ns()
        if sub[:1] == b"\x01" and not self.core.faults[venue].stopped_until(now):
            prefix = sub[1:].decode("utf-8", "replace")
            st = self.core.venues[venue].session_status(now, prefix)
            self._send_md([(venue, topic, msg) for topic, msg in st])

    def _reply(self, sock: zmq.Socket, ident: bytes, payload: bytes) -> None:
        """Send one reply to the peer ``ident``; one that cannot leave is counted and logged
        (an oe or ref ROUTER never blocks the loop on one slow client)."""
        try:
            sock.send(ident, _MORE)  # a refusal (no peer, queue full) comes here, before any part
            sock.send(payload, _LAST)
        except zmq.ZMQError as exc:  # no such peer (a real venue loses it too), or full
            self.unsent.note(ident, exc)

    def _count_unsent(self, why: str) -> None:
        assert self.core is not None
        self.core.truth.count(f"oe_replies_{why}")

    def _malformed(self, sock: zmq.Socket, frames: list[bytes], why: str) -> None:
        assert self.core is not None
        self.core.truth.count("malformed")
        if len(frames) >= 1:
            self._reply(sock, frames[0], self.enc.encode(Error(code="malformed", msg=why[:200])))

    def _on_ref(self, sock: zmq.Socket, venue: str, frames: list[bytes]) -> None:
        core = self.core
        assert core is not None
        if len(frames) != 2:
            self._malformed(sock, frames, f"expected [identity, payload], got {len(frames)} frames")
            return
        try:
            req = self.ref_dec.decode(frames[1])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._malformed(sock, frames, str(exc))
            return
        now = self.clock.now_ns()
        if isinstance(req, SimTruthReq):
            self._reply(sock, frames[0],
                        self.enc.encode({"t": "sim.truth", "truth": core.truth_dict(now)}))
        elif isinstance(req, SimShutdownReq):
            self._reply(sock, frames[0], self.enc.encode({"t": "ok"}))
            self.shutdown = True
        else:
            rep = core.ref(now, venue, req)
            if rep is not None:  # None: the venue is stopped (fault ``stop``), no answer
                self._reply(sock, frames[0], self.enc.encode(rep))

    def _on_oe(self, sock: zmq.Socket, venue: str, frames: list[bytes]) -> None:
        core = self.core
        assert core is not None
        if len(frames) != 2:
            self._malformed(sock, frames, f"expected [identity, payload], got {len(frames)} frames")
            return
        try:
            req = self.oe_dec.decode(frames[1])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._malformed(sock, frames, str(exc))
            return
        account = frames[0].decode("utf-8", "surrogateescape")
        self.last_request_ns = now = self.clock.now_ns()
        core.request(now, venue, account, req)


def serve(
    cfg: AppConfig,
    sock_dir: str,
    ctx: zmq.Context,
    *,
    clock: Clock,
    stop: threading.Event | None = None,
    duration_s: float | None = None,
    ready: Callable[[], None] | None = None,
    curve: ServerKeys | None = None,
    quiet_gc: bool = False,
) -> SimTruth:
    """Bind every venue's sockets, call ``ready()``, run until stopped; return the truth.

    Stops on ``stop`` set, after ``duration_s``, or on a ``sim.shutdown`` ref request. Sockets
    are closed (linger 0) on the way out; ``ctx`` belongs to the caller. ``curve`` (default:
    ``CMC_CURVE_SECRET`` / ``CMC_CURVE_ALLOW`` if set) makes every socket a CURVE server
    admitting only the allowlisted engine keys; its ZAP handler runs in ``ctx`` (one per
    context) and is stopped on the way out.

    ``quiet_gc`` (the gateway process; it changes process-wide ``gc`` settings until the
    loop ends): what exists once the first quotes are up is frozen (``gc.freeze``) and the
    automatic full collection is off; a full collection runs only when no oe request came for
    ``GC_IDLE_NS``. The venues' order registries and the truth only grow, and scanning them
    stalled the loop (replies waiting) for tens of ms at a time; the order path makes no
    reference cycles, so little waits for that idle collection.
    """
    server = start_server(ctx, curve if curve is not None else ServerKeys.from_env())
    try:
        gw = _Gateway(cfg, sock_dir, ctx, clock, server, quiet_gc=quiet_gc)
        thresholds = gc.get_threshold()
        try:
            gw.start()
            if quiet_gc:
                gc.freeze()
                gc.set_threshold(thresholds[0], thresholds[1], 1 << 30)
            if ready is not None:
                ready()
            truth = gw.run(stop, duration_s)
        finally:
            gw.close()
            if quiet_gc:
                gc.set_threshold(*thresholds)
                gc.unfreeze()
    finally:
        if server is not None:
            server.stop()
    logger.info("sim gateway stopped: {}", truth.to_dict()["counts"])
    return truth


def main(
    conf_path: str | None,
    sock_dir: str,
    truth_out: str | None,
    duration_s: float | None,
    seed: int | None = None,
    *,
    faults: str | None = None,
    curve: ServerKeys | None = None,
) -> int:
    """Run the simulator gateway process; print ``READY <sock_dir>`` once bound.

    ``seed`` (optional) overrides ``sim.seed``; ``faults`` (optional) names a fault preset
    (``conf/faults/<name>.toml``, see ``faults.load_preset``) whose ``[sim.faults]`` replaces
    the config's. Stops on SIGTERM/SIGINT, after ``duration_s`` or on ``sim.shutdown``; then
    writes the truth JSON to ``truth_out`` (if given). ``curve`` (default: the environment's)
    serves CURVE (see ``serve``). Returns 0, or 2 when the config, the preset or a CURVE key
    file does not load.
    """
    try:
        curve = curve if curve is not None else ServerKeys.from_env()
        if curve is not None:
            curve.check()
        cfg = load_config(conf_path)
        if seed is not None:
            cfg = with_overrides(cfg, sim=msgspec.structs.replace(cfg.sim, seed=seed))
        if faults is not None:
            cfg = with_overrides(
                cfg, sim=msgspec.structs.replace(cfg.sim, faults=load_preset(faults))
            )
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, lambda *_: stop.set())

    def _ready() -> None:
        print(f"READY {sock_dir}", flush=True)

    ctx = zmq.Context()
    try:
        truth = serve(
            cfg, sock_dir, ctx, clock=LiveClock(), stop=stop, duration_s=duration_s, ready=_ready,
            curve=curve, quiet_gc=True,
        )
    finally:
        ctx.term()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if truth_out:
        out = Path(truth_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(truth.to_dict(), indent=1))
    return 0


__all__ = ["SimRefRequest", "SimShutdownReq", "SimTruthReq", "address", "main", "serve"]
