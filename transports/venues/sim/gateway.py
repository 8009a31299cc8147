"""The simulator gateway process: every venue of the config behind the venue protocol, version 1.

One process hosts all venues (so their prices are correlated); each venue has its own three
sockets, addresses from ``VenueConfig.md/ref/oe`` with ``{sock}`` replaced by the socket
directory: md (multipart ``[topic, payload]``), ref ROUTER and oe ROUTER (the engine's DEALER
identity is its account id). The md socket is an XPUB, i.e. a PUB to the engine's SUB that also
sees subscriptions: each new subscription is answered with the current ``status`` of the symbols
it covers, so a late joiner learns the session state. The loop never blocks for long: it polls
with a timeout bounded by the next due event (at most 50 ms); a sub-millisecond wait is slept,
with only the last ~60 us polled.

Sim-only extensions on ANY venue's ref socket (not part of the protocol):

- ``{"t":"sim.truth"}`` -> ``{"t":"sim.truth","truth":{...}}`` (``SimTruth.to_dict()`` so far)
- ``{"t":"sim.shutdown"}`` -> ``{"t":"ok"}``, then the loop exits.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import zmq
from loguru import logger

from transports.clock import Clock, LiveClock, sleep_s
from transports.config.engine import AppConfig, load_config, with_overrides
from transports.errors import ConfigError
from transports.venues.curve import CurveServer, ServerKeys, start_server
from transports.venues.sim.core import SimCore
from transports.venues.sim.faults import load_preset
from transports.venues.sim.truth import SimTruth
from transports.wire.venue_msgs import Error, OeRequest, RefRequest

MAX_WAIT_NS = 50_000_000  #: longest poll, so stop and duration are noticed promptly
DRAIN = 512  #: most frames read from one socket per loop turn
PUB_HWM = 100_000
SLEEP_SLACK_NS = 60_000  #: a sub-ms sleep overshoots by about this much on Linux


class SimTruthReq(msgspec.Struct, tag_field="t", tag="sim.truth", frozen=True):
    """Sim-only ref request: the ground truth so far."""


class SimShutdownReq(msgspec.Struct, tag_field="t", tag="sim.shutdown", frozen=True):
    """Sim-only ref request: reply ``ok`` and stop."""


SimRefRequest = RefRequest | SimTruthReq | SimShutdownReq


def address(template: str, sock_dir: str) -> str:
    """A configured address with ``{sock}`` replaced by the socket directory."""
    return template.replace("{sock}", sock_dir)


class _Gateway:
    """Sockets around a ``SimCore``; one instance per ``serve`` call."""

    def __init__(self, cfg: AppConfig, sock_dir: str, ctx: zmq.Context, clock: Clock,
                 curve: CurveServer | None = None) -> None:
        self.cfg, self.clock = cfg, clock
        self.curve = curve  #: CURVE on every bound socket (None: plain)
        self.enc = msgspec.msgpack.Encoder()
        self.ref_dec = msgspec.msgpack.Decoder(SimRefRequest)
        self.oe_dec = msgspec.msgpack.Decoder(OeRequest)
        self.socks: list[zmq.Socket] = []
        self.md: dict[str, zmq.Socket] = {}
        self.route: dict[zmq.Socket, tuple[str, str]] = {}  # socket -> (venue, md|ref|oe)
        self.oe: dict[str, zmq.Socket] = {}
        self.poller = zmq.Poller()
        self.shutdown = False
        self.core: SimCore | None = None
        # venues served by another gateway (ccxt, paper) are simulated (their prices back the
        # local fakes) but not bound here
        served = [v for v in cfg.venues if v.gateway == "sim"]
        if "{sock}" in "".join(v.md + v.ref + v.oe for v in served):
            os.makedirs(sock_dir, exist_ok=True)
        for v in served:
            md = self._sock(ctx, zmq.XPUB, address(v.md, sock_dir))
            self.md[v.name] = md
            self.route[md] = (v.name, "md")
            self.poller.register(md, zmq.POLLIN)
            ref = self._sock(ctx, zmq.ROUTER, address(v.ref, sock_dir))
            oe = self._sock(ctx, zmq.ROUTER, address(v.oe, sock_dir), handover=True)
            self.oe[v.name] = oe
            for s, kind in ((ref, "ref"), (oe, "oe")):
                self.route[s] = (v.name, kind)
                self.poller.register(s, zmq.POLLIN)

    def _sock(
        self, ctx: zmq.Context, kind: int, addr: str, *, handover: bool = False
    ) -> zmq.Socket:
        s = ctx.socket(kind)
        self.socks.append(s)
        s.setsockopt(zmq.LINGER, 0)
        if kind == zmq.XPUB:
            s.setsockopt(zmq.SNDHWM, PUB_HWM)
            s.setsockopt(zmq.XPUB_VERBOSE, 1)  # see every subscription, not only the first
        if handover:  # a reconnecting engine with the same account id takes the route over
            s.setsockopt(zmq.ROUTER_HANDOVER, 1)
        if self.curve is not None:
            self.curve.apply(s)
        s.bind(addr)
        return s

    def close(self) -> None:
        for s in self.socks:
            s.close(linger=0)

    # --- the loop -------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the session and put the first quotes up (before the engine is told we are up)."""
        self.core = SimCore(self.cfg, self.clock.now_ns())
        self._flush(*self.core.advance(self.core.start_ns))

    def run(self, stop: threading.Event | None, duration_s: float | None) -> SimTruth:
        core = self.core
        assert core is not None
        deadline = core.start_ns + int(duration_s * 1e9) if duration_s else None
        while not self.shutdown and not (stop is not None and stop.is_set()):
            now = self.clock.now_ns()
            if deadline is not None and now >= deadline:
                break
            self._flush(*core.advance(now))
            now = self.clock.now_ns()
            wait = min(core.next_due() - now, MAX_WAIT_NS)
            if deadline is not None:
                wait = min(wait, deadline - now)
            ready = dict(self.poller.poll(max(0, wait // 1_000_000)))
            if not ready and SLEEP_SLACK_NS < wait < 1_000_000:
                # poll() counts whole ms: sleep the sub-ms rest minus the usual oversleep; the
                # last few tens of us are polled (a bounded spin, only when an event is that near)
                sleep_s((wait - SLEEP_SLACK_NS) / 1e9)
            for s in ready:
                self._drain(s)
        return core.finish(self.clock.now_ns())

    def _flush(self, md: list[Any], oe: list[Any]) -> None:
        enc = self.enc
        mds, oes = self.md, self.oe
        for venue, topic, msg in md:
            sock = mds.get(venue)
            if sock is not None:  # None: a venue another gateway serves
                sock.send_multipart([topic.encode(), enc.encode(msg)], zmq.NOBLOCK)
        for venue, account, msg in oe:
            ident = account.encode("utf-8", "surrogateescape")
            out = oes.get(venue)
            if out is None:
                continue
            try:
                out.send_multipart([ident, enc.encode(msg)], zmq.NOBLOCK)
            except zmq.ZMQError:  # peer gone or its queue full: a real venue loses it too
                pass

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
            self._flush([(venue, topic, msg) for topic, msg in st], [])

    def _reply(self, sock: zmq.Socket, ident: bytes, msg: Any) -> None:
        try:
            sock.send_multipart([ident, self.enc.encode(msg)], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass

    def _malformed(self, sock: zmq.Socket, frames: list[bytes], why: str) -> None:
        assert self.core is not None
        self.core.truth.count("malformed")
        if len(frames) >= 1:
            self._reply(sock, frames[0], Error(code="malformed", msg=why[:200]))

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
            self._reply(sock, frames[0], {"t": "sim.truth", "truth": core.truth_dict(now)})
        elif isinstance(req, SimShutdownReq):
            self._reply(sock, frames[0], {"t": "ok"})
            self.shutdown = True
        else:
            rep = core.ref(now, venue, req)
            if rep is not None:  # None: the venue is stopped (fault ``stop``), no answer
                self._reply(sock, frames[0], rep)

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
        core.request(self.clock.now_ns(), venue, account, req)


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
) -> SimTruth:
    """Bind every venue's sockets, call ``ready()``, run until stopped; return the truth.

    Stops on ``stop`` set, after ``duration_s``, or on a ``sim.shutdown`` ref request. Sockets
    are closed (linger 0) on the way out; ``ctx`` belongs to the caller. ``curve`` (default:
    ``CMC_CURVE_SECRET`` / ``CMC_CURVE_ALLOW`` if set) makes every socket a CURVE server
    admitting only the allowlisted engine keys; its ZAP handler runs in ``ctx`` (one per
    context) and is stopped on the way out.
    """
    server = start_server(ctx, curve if curve is not None else ServerKeys.from_env())
    try:
        gw = _Gateway(cfg, sock_dir, ctx, clock, server)
        try:
            gw.start()
            if ready is not None:
                ready()
            truth = gw.run(stop, duration_s)
        finally:
            gw.close()
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
            curve=curve,
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
