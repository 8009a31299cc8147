"""The ccxt gateway process: one exchange account behind the venue protocol, version 2.

``cmc gateway ccxt --exchange binance --market spot --conf FILE`` serves one ``[[venues]]``
entry whose ``[venues.ccxt]`` names the exchange account. Like the simulator gateway it binds
the venue's three addresses (``{sock}`` replaced by ``--sock``): md XPUB (``XPUB_VERBOSE``: each
new subscription is answered with the current ``status``), ref ROUTER, oe ROUTER
(``ROUTER_HANDOVER``; the engine's DEALER identity is the account id). Everything runs on one
asyncio loop with ``zmq.asyncio``; each socket loop polls with a timeout, so a stop is noticed.

At start: credentials (``credentials.py``), two ccxt.pro objects (``exchange.py``: md and the
account, pointed at a local fake when ``ccxt.fake`` or ``--fake-url`` says so), the markets
(a configured symbol the exchange does not list stops the start, naming it), the instrument
list (``v: 2``), then the tasks: one book per symbol, heartbeats, marks and funding on
perpetuals, market status, the private streams and the sweep (``md.py``, ``private.py``).
``run_gateway`` is the whole gateway as a coroutine (tests and the bench run it in process);
``process.main`` is the ``cmc gateway ccxt`` process around it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ccxt
import msgspec
import zmq
import zmq.asyncio
from loguru import logger

from transports.clock import LiveClock
from transports.config.engine import AppConfig, VenueConfig
from transports.venues.aio_frames import answer_subscriptions, decode_request, ready_frames
from transports.venues.ccxt import credentials as creds_mod
from transports.venues.ccxt.clmap import RULES, ClMap
from transports.venues.ccxt.config import fake_base_of, find_venue
from transports.venues.ccxt.exchange import make_exchange
from transports.venues.ccxt.instruments import (
    disagreements,
    interval_s,
    pick_markets,
    scale_of,
    to_instrument,
)
from transports.venues.ccxt.md import MarketData
from transports.venues.ccxt.orders import OrderEntry
from transports.venues.ccxt.positions import SpotLedger
from transports.venues.ccxt.private import PrivateStreams, SessionState
from transports.venues.ccxt.reports import Tracker
from transports.venues.curve import ServerKeys
from transports.venues.fence import EpochFence
from transports.venues.gateway_sockets import GatewaySockets
from transports.wire.venue_msgs import (
    BalancesReq,
    CancelReq,
    Error,
    Instruments,
    InstrumentsReq,
    NewOrder,
    OeRequest,
    OpenOrdersReq,
    Ping,
    Pong,
    PositionsReq,
    QueryReq,
    RefRequest,
    SnapshotReq,
    TradesReq,
)

POLL_MS = 200  #: longest socket wait, so a stop is noticed


class CcxtGateway:
    """One venue account's sockets, ccxt objects and tasks (built by ``run_gateway``)."""

    def __init__(self, cfg: AppConfig, venue: VenueConfig, sock_dir: str, *,
                 fake_base: str | None, creds: creds_mod.Credentials, trace: bool) -> None:
        assert venue.ccxt is not None
        self.cfg, self.venue, self.cc = cfg, venue, venue.ccxt
        self.sock_dir, self.trace = sock_dir, trace
        self.clock = LiveClock()
        self.now_ns = self.clock.now_ns
        self.account = venue.account.encode("utf-8", "surrogateescape")
        self.session = SessionState(("md", "oe", "rest"))
        self.session.set("rest", True, "", 0)  # REST is up until a call finds it is not
        self.md_ex = make_exchange(self.cc, "md", None, fake_base=fake_base,
                                   on_ws=self._on_ws, clock=self.now_ns)
        self.oe_ex = make_exchange(self.cc, "oe", creds, fake_base=fake_base,
                                   on_ws=self._on_ws, clock=self.now_ns)
        self.secrets = creds.secrets()
        self.enc = msgspec.msgpack.Encoder()
        self.ref_dec = msgspec.msgpack.Decoder(RefRequest)
        self.oe_dec = msgspec.msgpack.Decoder(OeRequest)
        self.io = GatewaySockets()  #: the engine-facing sockets (``bind``)
        self.tasks: list[asyncio.Task[Any]] = []
        self.req_tasks: set[asyncio.Task[Any]] = set()
        self.md: MarketData | None = None
        self.oe: OrderEntry | None = None
        self.priv: PrivateStreams | None = None
        self.instruments: Instruments | None = None

    # --- start ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Markets, instruments and the md/oe/private parts (no sockets yet)."""
        contracts = [c for c in self.cfg.contracts if c.venue == self.venue.name]
        await self.md_ex.load_markets()
        await self.oe_ex.load_markets()
        markets = pick_markets(self.md_ex.markets, self.cc.market, [c.sym for c in contracts])
        scales = {s: scale_of(m) for s, m in markets.items()}
        intervals = {s: await self._funding_interval(m) for s, m in markets.items()}
        listed = {s: to_instrument(m, intervals[s]) for s, m in markets.items()}
        for warn in disagreements(contracts, listed):
            logger.warning("{}: instrument differs from the config: {}", self.venue.name, warn)
        self.instruments = Instruments(list=list(listed.values()), v=2)
        depths = {c.sym: c.depth for c in contracts}
        self.md = MarketData(self.md_ex, self.cc, markets, scales, depths, self._publish,
                             lambda side, ev, why: self._set_side(side, ev == "up", why),
                             self.now_ns, trace=self.trace)
        self.md_ex.cmc_after = self.md.on_message
        state = Path(self.cc.state_dir)
        clmap = ClMap(self.cc.clmap_path or state / f"{self.venue.name}-clmap.jsonl",
                      RULES[self.cc.exchange])
        tracker = Tracker(scales, {m["symbol"]: s for s, m in markets.items()}, clmap.engine_id,
                          {s: i.fee_ccy for s, i in listed.items()})
        ledger = (SpotLedger(state / f"{self.venue.name}-positions-since.json",
                             self.now_ns() // 1_000_000) if self.cc.market == "spot" else None)
        self.oe = OrderEntry(self.oe_ex, self.cc, markets, scales, listed, clmap, tracker, ledger,
                             self._send, self.account, self.now_ns,
                             fence=EpochFence.beside(clmap.path))
        self.oe.on_rest = lambda up, why: self._set_side("rest", up, why)
        if self.trace:
            self.oe.trace = []
        self.priv = PrivateStreams(self.oe_ex, self.cc, self.oe, self.md, self._set_side,
                                   self.now_ns, self.now_ns() // 1_000_000)

    async def _funding_interval(self, m: Any) -> int:
        if not m.get("swap"):
            return 0
        calls = [self.md_ex.fetch_funding_rate]  # OKX and Bybit say it with the rate
        if self.md_ex.has.get("fetchFundingInterval"):  # Binance: only in fundingInfo
            calls.insert(0, self.md_ex.fetch_funding_interval)
        for call in calls:
            try:
                got = interval_s((await call(m["symbol"])).get("interval"))
            except Exception as exc:  # noqa: BLE001 - the next source, else the default
                logger.info("{}: funding interval: {!r}", m["id"], exc)
                continue
            if got:
                return got
        return 0

    def bind(self, curve: ServerKeys | None = None) -> None:
        """Bind md XPUB, ref ROUTER and oe ROUTER at the venue's addresses (``GatewaySockets``:
        the oe replies never drop silently); CURVE servers with ``curve`` (default:
        ``CMC_CURVE_SECRET`` / ``CMC_CURVE_ALLOW``, set by the command's ``--curve-secret`` /
        ``--curve-allow``; neither: plain)."""
        self.md_sock, self.ref_sock, self.oe_sock = self.io.bind(self.venue, self.sock_dir, curve)

    def start(self) -> None:
        """Start every task."""
        md, priv = self.md, self.priv
        assert md is not None and priv is not None
        coros = [md.run_book(s) for s in md.books] + [md.run_hb(), md.run_status(),
                                                     priv.run_orders(), priv.run_trades(),
                                                     priv.run_sweep(), self._ref_loop(),
                                                     self._oe_loop(), self._sub_loop()]
        if self.cc.market == "swap":
            coros += [md.run_marks(), priv.run_funding()]
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(c) for c in coros]

    async def stop(self) -> None:
        """Cancel the tasks, close the exchanges and sockets."""
        for part in (self.md, self.priv):
            if part is not None:
                part.stopping = True
        for ex in (self.md_ex, self.oe_ex):
            ex.cmc_on_ws = None  # closing our own connections is not a session event
            ex.cmc_after = None
        every = [*self.tasks, *self.req_tasks]
        for t in every:
            t.cancel()
        await asyncio.gather(*every, return_exceptions=True)
        for ex in (self.md_ex, self.oe_ex):
            try:
                await asyncio.wait_for(ex.close(), 5.0)
            except Exception as exc:  # noqa: BLE001 - closing anyway
                logger.debug("close {}: {!r}", ex.id, exc)
        if self.oe is not None:
            self.oe.clmap.close()
        self.io.close()

    # --- outputs ----------------------------------------------------------------------------

    def _publish(self, topic: str, msg: Any) -> None:
        f = self.md_sock.send_multipart([topic.encode(), self.enc.encode(msg)], flags=zmq.NOBLOCK)
        if f.done() and f.exception() is not None:  # HWM: a PUB drops, like the network would
            pass

    def _send(self, ident: bytes, msg: Any) -> None:
        payload = self.enc.encode(msg)
        for s in self.secrets:  # belt and braces: an exchange text quoted in a reason
            if s.encode() in payload:
                payload = self.enc.encode(Error(code="internal", msg="reply withheld"))
                logger.error("a reply carried a credential; withheld")
        self.io.reply(self.oe_sock, ident, payload)

    def _set_side(self, side: str, up: bool, reason: str) -> None:
        msg = self.session.set(side, up, reason, self.now_ns())
        if msg is not None:
            logger.info("{}: session {} ({})", self.venue.name, msg.state, msg.reason)
            self._send(self.account, msg)

    def _on_ws(self, side: str, event: str, reason: str) -> None:
        if side == "oe":
            if self.priv is not None:
                self.priv.on_ws(event, reason)
        elif event == "down":
            self._set_side("md", False, reason)

    # --- socket loops -----------------------------------------------------------------------

    async def _frames(self, sock: zmq.asyncio.Socket) -> list[list[bytes]]:
        return await ready_frames(sock, POLL_MS)

    async def _sub_loop(self) -> None:
        md = self.md
        assert md is not None
        await answer_subscriptions(self.md_sock, POLL_MS, md.status_for, self._publish)

    async def _ref_loop(self) -> None:
        md = self.md
        assert md is not None and self.instruments is not None
        while True:
            for frames in await self._frames(self.ref_sock):
                req = decode_request(frames, self.ref_dec)
                if isinstance(req, InstrumentsReq):
                    req = self.instruments
                elif isinstance(req, SnapshotReq):
                    req = md.snapshot(req.sym)
                self._reply(self.ref_sock, frames[0], req)  # the answer, or the Error

    def _reply(self, sock: zmq.asyncio.Socket, ident: bytes, msg: Any) -> None:
        if sock is self.oe_sock:
            self._send(ident, msg)
            return
        self.io.reply(sock, ident, self.enc.encode(msg))

    async def _oe_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for frames in await self._frames(self.oe_sock):
                rx = self.now_ns()
                req = decode_request(frames, self.oe_dec)
                if isinstance(req, Error):
                    self._send(frames[0], req)
                    continue
                if isinstance(req, Ping):  # at once: clock calibration measures this
                    self._send(frames[0], Pong(ts=self.now_ns(), echo=req.ts))
                    continue
                t = loop.create_task(self._handle(frames[0], req, rx))
                self.req_tasks.add(t)  # held until done (the loop keeps only weak references)
                t.add_done_callback(self.req_tasks.discard)

    async def _handle(self, ident: bytes, req: Any, rx: int) -> None:
        oe = self.oe
        assert oe is not None
        try:
            if isinstance(req, NewOrder):
                await oe.on_new(req, rx)
            elif isinstance(req, CancelReq):
                await oe.on_cancel(ident, req)
            elif isinstance(req, QueryReq):
                await oe.on_query(ident, req)
            elif isinstance(req, OpenOrdersReq):
                await oe.on_open_orders(ident)
            elif isinstance(req, TradesReq):
                await oe.on_trades(ident, req.since)
            elif isinstance(req, PositionsReq):
                await oe.on_positions(ident)
            elif isinstance(req, BalancesReq):
                await oe.on_balances(ident)
            else:
                self._send(ident, Error(code="unsupported", msg=f"{type(req).__name__}"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed request is answered, never fatal
            logger.warning("{}: {} failed: {}", self.venue.name, type(req).__name__,
                           type(exc).__name__)
            self._send(ident, Error(code="exchange", msg=f"{type(exc).__name__}"[:200]))


def _quiet_ccxt_futures(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """ccxt rejects the futures of every watch on a dropped connection, also those nobody
    awaits any more; asyncio would log each as "never retrieved". Those are reconnects the
    gateway already reports (session down): debug only. Anything else: asyncio's default."""
    if isinstance(context.get("exception"), ccxt.NetworkError):
        logger.debug("dropped connection future: {!r}", context.get("exception"))
        return
    loop.default_exception_handler(context)


async def run_gateway(cfg: AppConfig, venue_name: str, sock_dir: str, *,
                      stop_event: asyncio.Event, fake_base: str | None = None,
                      credentials: creds_mod.Credentials | None = None, sandbox: bool = False,
                      trace: bool = False,
                      ready: Callable[[CcxtGateway], None] | None = None,
                      curve: ServerKeys | None = None) -> CcxtGateway:
    """Serve venue ``venue_name`` until ``stop_event`` is set; return the stopped gateway (its
    ``md``/``oe``/``priv`` counters and, with ``trace``, the md and order traces).

    ``fake_base`` (``http://127.0.0.1:PORT``) points ccxt at a local fake (else the venue's
    ``ccxt.fake`` entry's port, if any). ``credentials`` default to the venue's configured
    source. ``ready(gateway)`` is called once the sockets are bound and the tasks started.
    ``curve``: serve CURVE (default: the environment's keys, see ``CcxtGateway.bind``).
    Raises ``ConfigError`` (unknown symbol, credentials, venue) before binding anything.
    """
    venue = find_venue(cfg, venue_name, None, None)
    assert venue.ccxt is not None
    cc = venue.ccxt
    if sandbox and not cc.sandbox:
        venue = msgspec.structs.replace(venue, ccxt=msgspec.structs.replace(cc, sandbox=True))
    base = fake_base or fake_base_of(cfg, venue)
    creds = credentials or creds_mod.load(cc.credentials_env, cc.credentials_file)
    gw = CcxtGateway(cfg, venue, sock_dir, fake_base=base, creds=creds, trace=trace)
    asyncio.get_running_loop().set_exception_handler(_quiet_ccxt_futures)
    try:
        await gw.load()
        gw.bind(curve)
        gw.start()
        logger.info("ccxt gateway {} ({} {}) up", venue.name, cc.exchange, cc.market)
        if ready is not None:
            ready(gw)
        await stop_event.wait()
    finally:
        await gw.stop()
    return gw


__all__ = ["CcxtGateway", "run_gateway"]
