"""The paper gateway process: another gateway's market data in, a paper account out.

One venue per process (``serve_paper``): it subscribes to the source gateway's md socket and asks
its ref socket for instruments and snapshots, keeps each source book by the protocol's
sequencing rules (``book.SourceBook``), and serves its own three sockets at the venue's
configured addresses, as every gateway does (docs/venue-protocol.md): md XPUB (its own seqs,
``hb`` every ``hb_interval_ms`` while the source is alive, the source's ``status``, ``trade``
and ``mark`` passed on), ref ROUTER (``instruments`` copied from the source with ``v: 2``,
``snapshot`` of the published book) and oe ROUTER (``ROUTER_HANDOVER``; the account is the
DEALER identity).

Why a plain ``zmq.Poller`` loop and not asyncio: everything here is one timeline of small
steps (a source delta, an order due ``latency_us`` after it arrived, a heartbeat), each of which
must run to completion before the next so that an order is matched against the book exactly as
it is at its due time. A poll loop bounded by the next due time does that with no scheduler in
between, as the simulator gateway does; it waits at most ``MAX_WAIT_NS`` so stop is noticed.

Order of work for each source update: first every order due by now is matched (against the
book before the update), then the update is applied, resting orders it reaches are filled and
the published book's changes go out as one delta (what a source update does to the books:
``source_link.SourceLink``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import msgspec
import zmq
from loguru import logger

from transports.clock import Clock, LiveClock, sleep_s
from transports.config.engine import AppConfig, VenueConfig
from transports.errors import CodecError
from transports.venues.curve import CurveServer, ServerKeys, secure_client, start_server
from transports.venues.paper.book import SourceBook
from transports.venues.paper.publish import Publisher
from transports.venues.paper.source import (
    SourceAddrs,
    fetch_instruments,
    paper_venue,
    republished,
    sim_view,
    source_addrs,
    specs_of,
)
from transports.venues.paper.source_link import SourceLink
from transports.venues.paper.venue import PaperVenue
from transports.venues.sim.sockets import UnsentReplies, address, bind_socket
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import (
    Error,
    Heartbeat,
    Instruments,
    InstrumentsReq,
    MdStatus,
    OeRequest,
    RefRequest,
    SnapshotReq,
    md_topic,
)

MAX_WAIT_NS = 50_000_000  #: longest poll, so stop and duration are noticed promptly
DRAIN = 512  #: most frames read from one socket per loop turn
SLEEP_SLACK_NS = 60_000  #: a sub-ms sleep overshoots by about this much on Linux

_REF_REQ: Codec[Any] = Codec(RefRequest)
_OE: Codec[Any] = Codec(OeRequest)


class _PaperGateway:
    """Sockets and timers around a ``PaperVenue``; one instance per ``serve_paper`` call."""

    def __init__(self, cfg: AppConfig, venue: str | None, sock_dir: str, ctx: zmq.Context[Any],
                 clock: Clock, md_from: str | None, stop: threading.Event | None,
                 curve: CurveServer | None = None) -> None:
        v = paper_venue(cfg, venue)
        self.curve = curve  #: CURVE on the paper venue's three sockets (None: plain)
        self.stop = stop
        assert v.paper is not None
        self.name, self.pcfg, self.clock = v.name, v.paper, clock
        self.socks: list[zmq.Socket[Any]] = []
        #: replies the oe ROUTER refused: counted in the truth (``oe_replies_<cause>``)
        self._unsent = UnsentReplies(
            "paper gateway", lambda why: self.venue.truth.count(f"oe_replies_{why}")).note
        self.addrs: SourceAddrs = source_addrs(cfg, v, sock_dir, md_from)
        try:
            self._open(cfg, v, sock_dir, ctx)
        except BaseException:
            self.close()
            raise

    def _open(self, cfg: AppConfig, v: VenueConfig, sock_dir: str,
              ctx: zmq.Context[Any]) -> None:
        clock = self.clock
        # a source venue of the config with CURVE keys is reached as the engine would reach it
        source = next(((i, x) for i, x in enumerate(cfg.venues)
                       if x.name != v.name and x.md.replace("{sock}", sock_dir) == self.addrs.md),
                      None)
        # an instrument list may be large: 4 MiB (set before connect: a session takes it then)
        self.src_ref = self._source_sock(ctx, zmq.DEALER, self.addrs.ref, source,
                                         {zmq.MAXMSGSIZE: 1 << 22})
        self.src_md = self._source_sock(ctx, zmq.SUB, self.addrs.md, source, {})
        self.src_md.setsockopt(zmq.SUBSCRIBE, b"hb")
        src = fetch_instruments(self.src_ref, clock, self.pcfg.source_timeout_s, self.stop)
        specs = specs_of(src, cfg, v.name)
        self.instruments: Instruments = republished(src, self.pcfg.taker_bps,
                                                    self.pcfg.maker_bps)
        for sym in specs:
            self.src_md.setsockopt(zmq.SUBSCRIBE, md_topic(sym).encode())
        self.books = {sym: SourceBook(sym) for sym in specs}
        start = clock.now_ns()
        self.venue = PaperVenue(v.name, specs, self.books, self.pcfg,
                                id_prefix=f"{v.name}-{start // 1_000_000:x}")
        self.venue.truth.meta.update(start_ns=start, source_md=self.addrs.md,
                                     source_ref=self.addrs.ref)
        self.pub = Publisher(list(specs))
        if "{sock}" in v.md + v.ref + v.oe:
            os.makedirs(sock_dir, exist_ok=True)
        # the engine-facing sockets with the simulator's options (``bind_socket``: the frame
        # limit, the XPUB's queue, the oe ROUTER's handover and its replies never dropped
        # silently, counted in ``_unsent``)
        socks, cv = self.socks, self.curve
        self.md = bind_socket(socks, ctx, zmq.XPUB, address(v.md, sock_dir), cv)
        self.ref = bind_socket(socks, ctx, zmq.ROUTER, address(v.ref, sock_dir), cv)
        self.oe = bind_socket(socks, ctx, zmq.ROUTER, address(v.oe, sock_dir), cv, handover=True)
        self.poller = zmq.Poller()
        for s in (self.src_md, self.src_ref, self.md, self.ref, self.oe):
            self.poller.register(s, zmq.POLLIN)
        self.source = SourceLink(v.name, self.pcfg, self.books, self.venue, self.src_ref,
                                 self._flush, self._publish)
        self.hb_iv_ns = self.pcfg.hb_interval_ms * 1_000_000
        self.next_hb = start
        self.handlers: dict[zmq.Socket[Any], Callable[[list[bytes]], None]] = {
            self.src_md: self._on_source_md, self.src_ref: self._on_source_ref,
            self.md: self._on_subscription, self.ref: self._on_ref, self.oe: self._on_oe}

    def _source_sock(self, ctx: zmq.Context[Any], kind: int, addr: str,
                     source: tuple[int, VenueConfig] | None,
                     opts: dict[int, int]) -> zmq.Socket[Any]:
        """A socket connected to the source venue at ``addr`` with ``opts``; a CURVE client
        when ``source`` (index, entry) has ``curve_server_key``."""
        s = ctx.socket(kind)
        self.socks.append(s)
        s.setsockopt(zmq.LINGER, 0)
        for opt, val in opts.items():
            s.setsockopt(opt, val)
        if source is not None and source[1].curve_server_key:
            i, src = source
            secure_client(s, src.curve_server_key, src.curve_client_secret, f"$.venues[{i}]")
        s.connect(addr)
        return s

    def close(self) -> None:
        for s in self.socks:
            s.close(linger=0)

    # --- the loop -------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None, duration_s: float | None) -> None:
        clock = self.clock
        deadline = clock.now_ns() + int(duration_s * 1e9) if duration_s else None
        while not (stop is not None and stop.is_set()):
            now = clock.now_ns()
            if deadline is not None and now >= deadline:
                break
            self._step(now)
            self._timers(now)
            now = clock.now_ns()
            due = min(self.next_hb, self.venue.next_due() or self.next_hb)
            wait = min(due - now, MAX_WAIT_NS)
            if deadline is not None:
                wait = min(wait, deadline - now)
            ready = dict(self.poller.poll(max(0, wait // 1_000_000)))
            if not ready and SLEEP_SLACK_NS < wait < 1_000_000:
                # poll() counts whole ms: sleep the sub-ms rest minus the usual oversleep, so an
                # order is matched close to its due time (a bounded wait, only when one is near)
                sleep_s((wait - SLEEP_SLACK_NS) / 1e9)
            for s in ready:
                self._drain(s)

    def _step(self, now: int) -> None:
        """Match every order due by ``now``; send its reports and the book's changes."""
        self.venue.advance(now)
        self._flush(now)

    def _flush(self, ts: int) -> None:
        for account, msg in self.venue.take_out():
            ident = account.encode("utf-8", "surrogateescape")
            try:
                self.oe.send_multipart([ident, encode(msg)], zmq.NOBLOCK)
            except zmq.ZMQError as exc:  # peer gone or its queue full: it recovers by query
                self._unsent(ident, exc)
        for sym, dirty in self.venue.model.dirty.items():
            if dirty and self.books[sym].synced:
                d = self.pub.take_delta(sym, ts, dirty, self.venue.model.available)
                if d is not None:
                    self.venue.truth.count("md_deltas")
                    self._publish(sym, d)

    def _publish(self, sym: str, msg: msgspec.Struct) -> None:
        self.md.send_multipart([md_topic(sym).encode(), encode(msg)], zmq.NOBLOCK)

    def _timers(self, now: int) -> None:
        alive = self.source.alive(now)
        if now >= self.next_hb:
            if alive:  # a silent source makes this venue silent too: the engine sees it stale
                self.md.send_multipart([b"hb", encode(Heartbeat(ts=now, seqs=self.pub.seqs()))],
                                       zmq.NOBLOCK)
            self.next_hb += self.hb_iv_ns
            if self.next_hb <= now:  # far behind (a stall): skip the missed beats
                self.next_hb = now + self.hb_iv_ns
        if alive:
            self.source.ask_snapshots(now)

    def _drain(self, sock: zmq.Socket[Any]) -> None:
        handler = self.handlers[sock]
        for _ in range(DRAIN):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            handler(frames)

    # --- the source -----------------------------------------------------------------------------

    def _on_source_md(self, frames: list[bytes]) -> None:
        now = self.clock.now_ns()
        self._step(now)  # orders due before this update meet the book as it was
        self.source.on_md(frames[-1], now)

    def _on_source_ref(self, frames: list[bytes]) -> None:
        now = self.clock.now_ns()
        self._step(now)
        self.source.on_ref(frames[-1], now)

    # --- own sockets ----------------------------------------------------------------------------

    def _on_subscription(self, frames: list[bytes]) -> None:
        """A subscriber joined: send it the session state of the symbols it subscribed to."""
        sub = frames[0] if len(frames) == 1 else b""
        if sub[:1] != b"\x01":
            return
        prefix = sub[1:].decode("utf-8", "replace")
        now = self.clock.now_ns()
        for sym, state in self.venue.session.items():
            if md_topic(sym).startswith(prefix):
                self._publish(sym, MdStatus(sym=sym, ts=now, state=state))  # type: ignore[arg-type]

    def _reply(self, sock: zmq.Socket[Any], ident: bytes, msg: msgspec.Struct) -> None:
        try:
            sock.send_multipart([ident, encode(msg)], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            self._unsent(ident, exc)

    def _decode(self, sock: zmq.Socket[Any], codec: Codec[Any], frames: list[bytes]) -> Any:
        if len(frames) != 2:
            why = f"expected [identity, payload], got {len(frames)} frames"
        else:
            try:
                return codec.decode(frames[1])
            except CodecError as exc:
                why = str(exc)
        self.venue.truth.count("malformed")
        if frames:
            self._reply(sock, frames[0], Error(code="malformed", msg=why[:200]))
        return None

    def _on_ref(self, frames: list[bytes]) -> None:
        req = self._decode(self.ref, _REF_REQ, frames)
        if isinstance(req, InstrumentsReq):
            self._reply(self.ref, frames[0], self.instruments)
        elif isinstance(req, SnapshotReq):
            book = self.books.get(req.sym)
            if book is None:
                rep: msgspec.Struct = Error(code="unknown_symbol",
                                            msg=f"{self.name} has no symbol {req.sym!r}")
            else:
                rep = self.pub.snapshot(req.sym, book.ts or self.clock.now_ns())
            self._reply(self.ref, frames[0], rep)

    def _on_oe(self, frames: list[bytes]) -> None:
        req = self._decode(self.oe, _OE, frames)
        if req is None:
            return
        now = self.clock.now_ns()
        self.venue.request(now, frames[0].decode("utf-8", "surrogateescape"), req)
        self._step(now)  # a zero-latency order is matched at once; answers go out now


def serve_paper(cfg: AppConfig, venue_name: str | None, sock_dir: str, *,
                stop: threading.Event | None, ready: Callable[[], None] | None = None,
                md_from: str | None = None, ctx: zmq.Context[Any] | None = None,
                clock: Clock | None = None, duration_s: float | None = None,
                curve: ServerKeys | None = None) -> dict[str, Any]:
    """Serve the paper venue ``venue_name`` (None: the config's only one) until ``stop`` is set
    or ``duration_s`` has passed; return its truth (``SimTruth.to_dict`` keys).

    Blocks. ``md_from`` overrides the source (a venue name or ``md=ADDR,ref=ADDR``). The source
    must list its instruments within ``[venues.paper] source_timeout_s`` (``VenueError``
    otherwise); a contract configured for the venue that the source does not list is a
    ``ConfigError``. ``ready()`` is called once the venue's sockets are bound. ``ctx`` (default:
    a private one, terminated on the way out) belongs to the caller when given. A simulator
    serving the source beside it runs ``sim_view(cfg)``, which leaves the paper venues' addresses
    to this gateway. ``curve`` (default: the environment's): serve CURVE, its ZAP handler in the
    context (``transports.venues.curve``; a source venue with keys is reached over CURVE).
    """
    own = ctx is None
    context: zmq.Context[Any] = zmq.Context() if ctx is None else ctx
    clk = clock if clock is not None else LiveClock()
    gw: _PaperGateway | None = None
    server: CurveServer | None = None
    try:
        server = start_server(context, curve or ServerKeys.from_env())
        gw = _PaperGateway(cfg, venue_name, sock_dir, context, clk, md_from, stop, server)
        if ready is not None:
            ready()
        gw.run(stop, duration_s)
        truth = gw.venue.truth_dict(clk.now_ns())
        truth["meta"]["stats"] = dict(gw.source.stats)
    finally:
        if gw is not None:
            gw.close()
        if server is not None:
            server.stop()  # its ZAP socket would keep term() waiting
        if own:
            context.term()
    logger.info("paper gateway {} stopped: {}", gw.name, truth["counts"])
    return truth


__all__ = ["serve_paper", "sim_view"]
