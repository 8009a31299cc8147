"""The IB gateway process: one IB account behind the venue protocol, version 2.

``cmc gateway ib --conf FILE`` serves the ``[[venues]]`` entry with ``[venues.ib]``. It binds
the venue's md XPUB, ref ROUTER and oe ROUTER (as the ccxt gateway does) around one
``ib_async.IB`` connected to TWS or IB Gateway, all on one asyncio loop. At start: connect
(exit 1 if TWS is not there), resolve every configured contract (exit 2 naming one IB does not
know), instruments (``v: 2``), depth subscriptions, then the socket loops, heartbeats and the
fill-hold timer. ``session`` follows the connection: ``disconnectedEvent`` and error 1100 ->
``down``; 1101/1102 or a reconnect -> ``up`` (depth resubscribed after 1101 and a reconnect).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import zmq
import zmq.asyncio
from loguru import logger

from transports.clock import LiveClock
from transports.config.engine import AppConfig, VenueConfig
from transports.errors import ConfigError, VenueError
from transports.venues.aio_frames import answer_subscriptions, decode_request, ready_frames
from transports.venues.curve import ServerKeys
from transports.venues.fence import EpochFence
from transports.venues.gateway_sockets import GatewaySockets
from transports.venues.ib import recon
from transports.venues.ib.clmap import ClMap
from transports.venues.ib.contracts import ib_contract, pick, to_instrument
from transports.venues.ib.md import IbMarketData
from transports.venues.ib.orders import IbOrders
from transports.wire.venue_msgs import (
    BalancesReq,
    CancelReq,
    Error,
    Instruments,
    InstrumentsReq,
    NewOrder,
    OeRequest,
    OpenOrdersReq,
    OrderStatus,
    Ping,
    Pong,
    PositionsReq,
    QueryReq,
    RefRequest,
    Session,
    SnapshotReq,
    TradesReq,
)

POLL_MS = 200  #: longest socket wait, so a stop is noticed
FLUSH_MS = 20  #: how often held fills are checked against their deadline
DOWN_CODES = {1100: "TWS lost its connection to IB"}
UP_CODES = {1101: "restored, data lost", 1102: "restored, data maintained"}
FARM_CODES = frozenset({2103, 2104, 2105, 2106, 2107, 2108, 2157, 2158})


def find_venue(cfg: AppConfig, name: str | None) -> VenueConfig:
    """The ``[[venues]]`` entry with ``[venues.ib]`` (by name, or the only one)."""
    cands = [v for v in cfg.venues if v.ib is not None and (name is None or v.name == name)]
    if len(cands) != 1:
        what = f"venue {name!r}" if name else "an ib venue"
        raise ConfigError(f"{what}: {len(cands)} [[venues]] entries with [venues.ib] match"
                          + (" (name one with --venue)" if cands else ""))
    return cands[0]


class IbGateway:
    """One IB account's sockets, IB connection and tasks."""

    def __init__(self, cfg: AppConfig, venue: VenueConfig, sock_dir: str, ib: Any) -> None:
        assert venue.ib is not None
        self.cfg, self.venue, self.ic, self.sock_dir, self.ib = cfg, venue, venue.ib, sock_dir, ib
        self.now_ns = LiveClock().now_ns
        self.account = venue.account.encode("utf-8", "surrogateescape")
        self.enc = msgspec.msgpack.Encoder()
        self.ref_dec = msgspec.msgpack.Decoder(RefRequest)
        self.oe_dec = msgspec.msgpack.Decoder(OeRequest)
        self.io = GatewaySockets()  #: the engine-facing sockets (``bind``)
        self.tasks: list[asyncio.Task[Any]] = []
        self.req_tasks: set[asyncio.Task[Any]] = set()
        self.md: IbMarketData | None = None
        self.oe: IbOrders | None = None
        self.instruments: Instruments | None = None
        self.up = True
        self.stopping = False
        self.reconnecting: asyncio.Task[Any] | None = None

    # --- start ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect to TWS (unless the IB object already is); ``VenueError`` if it cannot."""
        if self.ib.isConnected():
            return
        ic = self.ic
        try:
            await self.ib.connectAsync(ic.host, ic.port, clientId=ic.client_id,
                                       timeout=ic.connect_timeout_s, account=ic.account)
        except (OSError, TimeoutError, ConnectionError) as exc:
            raise VenueError(f"ib: TWS/IB Gateway at {ic.host}:{ic.port} (client id "
                             f"{ic.client_id}): {type(exc).__name__}: {exc}") from exc

    async def load(self) -> None:
        """Resolve the contracts; build instruments, md and order entry (no sockets yet)."""
        ic = self.ic
        engine = {c.sym: c for c in self.cfg.contracts if c.venue == self.venue.name}
        scales, contracts, insts, ccy = {}, {}, [], {}
        for c in ic.contracts:
            try:
                found = await asyncio.wait_for(self.ib.reqContractDetailsAsync(ib_contract(c)),
                                               ic.request_timeout_s)
            except TimeoutError as exc:
                raise VenueError(f"ib: contract details of {c.sym!r} not answered") from exc
            d = pick(c, list(found or []))
            e = engine.get(c.sym)
            inst, scale = to_instrument(c, d, e.unit if e else "",
                                        e.max_lots_per_order if e else 1_000_000)
            scales[c.sym], contracts[c.sym], ccy[c.sym] = scale, d.contract, inst.ccy
            insts.append(inst)
        self.instruments = Instruments(list=insts, v=2)
        depths = {s: (engine[s].depth if s in engine else 20) for s in scales}
        self.md = IbMarketData(self.ib, ic, scales, contracts, depths, self._publish, self.now_ns)
        clmap = ClMap(ic.clmap_path or Path(ic.state_dir) / f"{self.venue.name}-ib-orders.jsonl")
        self.oe = IbOrders(self.ib, ic, scales, contracts, clmap, self._send, self.now_ns, ccy,
                           fence=EpochFence.beside(clmap.path), account=self.venue.account)
        self.md.wire()
        self.oe.wire()
        self.ib.errorEvent += self._on_error
        self.ib.disconnectedEvent += self._on_disconnected
        self.md.subscribe()

    def bind(self, curve: ServerKeys | None = None) -> None:
        """Bind md XPUB, ref ROUTER and oe ROUTER at the venue's addresses (``GatewaySockets``:
        the oe replies never drop silently); CURVE servers with ``curve`` (default:
        ``CMC_CURVE_SECRET`` / ``CMC_CURVE_ALLOW``, set by the command's ``--curve-secret`` /
        ``--curve-allow``; neither: plain)."""
        self.md_sock, self.ref_sock, self.oe_sock = self.io.bind(self.venue, self.sock_dir, curve)

    def start(self) -> None:
        """Start the socket loops, heartbeats and the fill-hold timer."""
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(c) for c in (self._ref_loop(), self._oe_loop(),
                                                     self._sub_loop(), self._hb_loop(),
                                                     self._flush_loop())]

    async def stop(self) -> None:
        """Cancel the tasks, disconnect from TWS, close the sockets."""
        self.stopping = True
        every = [*self.tasks, *self.req_tasks]
        if self.reconnecting is not None:
            every.append(self.reconnecting)
        for t in every:
            t.cancel()
        await asyncio.gather(*every, return_exceptions=True)
        if self.ib.isConnected():
            self.ib.disconnect()
        if self.oe is not None:
            self.oe.clmap.close()
        self.io.close()

    # --- outputs and session ----------------------------------------------------------------

    def _publish(self, topic: str, msg: Any) -> None:
        self.md_sock.send_multipart([topic.encode(), self.enc.encode(msg)], flags=zmq.NOBLOCK)

    def _send(self, msg: Any, ident: bytes | None = None) -> None:
        """To ``ident`` (a reply), else to the account's identity (a report)."""
        self.io.reply(self.oe_sock, ident or self.account, self.enc.encode(msg))

    def set_session(self, up: bool, reason: str) -> None:
        """``session`` up/down to the account (once per change), md status and order entry."""
        if up == self.up:
            return
        self.up = up
        logger.info("{}: session {} ({})", self.venue.name, "up" if up else "down", reason)
        if self.oe is not None:
            self.oe.session_up = up
        if self.md is not None:
            self.md.set_state("open" if up else "halt")
        self._send(Session(state="up" if up else "down", ts=self.now_ns(), reason=reason))

    def _on_error(self, req_id: int, code: int, msg: str, contract: Any) -> None:
        if code in DOWN_CODES:
            self.set_session(False, f"ib {code}: {msg}")
        elif code in UP_CODES:
            if code == 1101 and self.md is not None:  # TWS dropped our subscriptions
                self.md.subscribe()
            self.set_session(True, f"ib {code}: {UP_CODES[code]}")
            self._spawn(self.catch_up())
        elif code in FARM_CODES:
            logger.info("ib {}: {}", code, msg)
        elif self.md is not None:
            self.md.on_error(code, contract)

    def _on_disconnected(self) -> None:
        if self.stopping:
            return
        self.set_session(False, "disconnected from TWS")
        if self.reconnecting is None or self.reconnecting.done():
            self.reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = self.ic.reconnect_backoff_ms / 1000
        while not self.stopping and not self.ib.isConnected():
            await asyncio.sleep(delay)
            try:
                await self.connect()
            except VenueError as exc:
                logger.warning("{}: reconnect: {}", self.venue.name, exc)
                delay = min(delay * 2, self.ic.reconnect_backoff_max_ms / 1000)
                continue
        if self.ib.isConnected() and self.md is not None:
            self.md.subscribe()
            await self.catch_up()
            self.set_session(True, "reconnected to TWS")

    async def catch_up(self) -> None:
        """Executions missed while cut off: ib-async does not emit ``execDetailsEvent`` for
        the ``reqExecutions`` answer, so each is fed to order entry here (those already
        reported are dropped by execId)."""
        from ib_async import ExecutionFilter

        assert self.oe is not None
        try:
            fills = await asyncio.wait_for(self.ib.reqExecutionsAsync(
                ExecutionFilter(acctCode=self.ic.account)), self.ic.request_timeout_s)
        except (TimeoutError, ConnectionError) as exc:
            logger.warning("{}: catch-up of executions failed: {!r}", self.venue.name, exc)
            return
        for f in fills:
            self.oe.on_exec(None, f)

    def _spawn(self, coro: Any) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self.req_tasks.add(t)
        t.add_done_callback(self.req_tasks.discard)

    # --- socket loops -----------------------------------------------------------------------

    async def _frames(self, sock: zmq.asyncio.Socket) -> list[list[bytes]]:
        return await ready_frames(sock, POLL_MS)

    async def _hb_loop(self) -> None:
        assert self.md is not None
        while True:
            self._publish("hb", self.md.heartbeat())
            await asyncio.sleep(self.ic.hb_interval_ms / 1000)

    async def _flush_loop(self) -> None:
        assert self.oe is not None
        while True:
            self.oe.flush(self.now_ns())
            await asyncio.sleep(FLUSH_MS / 1000)

    async def _sub_loop(self) -> None:
        assert self.md is not None
        await answer_subscriptions(self.md_sock, POLL_MS, self.md.status_for, self._publish)

    async def _ref_loop(self) -> None:
        assert self.md is not None and self.instruments is not None
        while True:
            for frames in await self._frames(self.ref_sock):
                req = reply = decode_request(frames, self.ref_dec)  # the request or its Error
                if isinstance(req, InstrumentsReq):
                    reply = self.instruments
                elif isinstance(req, SnapshotReq):
                    reply = self.md.snapshot(req.sym) or Error(
                        code="unknown_symbol", msg=f"{self.venue.name} has no {req.sym!r}")
                self.io.reply(self.ref_sock, frames[0], self.enc.encode(reply))

    async def _oe_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for frames in await self._frames(self.oe_sock):
                req = decode_request(frames, self.oe_dec)
                if isinstance(req, Error):
                    self._send(req, frames[0])
                    continue
                if isinstance(req, Ping):
                    self._send(Pong(ts=self.now_ns(), echo=req.ts), frames[0])
                    continue
                t = loop.create_task(self._handle(frames[0], req))
                self.req_tasks.add(t)
                t.add_done_callback(self.req_tasks.discard)

    async def _handle(self, ident: bytes, req: Any) -> None:
        oe, tmo = self.oe, self.ic.request_timeout_s
        assert oe is not None
        try:
            if isinstance(req, NewOrder):
                oe.on_new(req)
            elif isinstance(req, CancelReq):
                oe.on_cancel(req)
            elif isinstance(req, QueryReq):
                st: OrderStatus = oe.status(req.cl)
                self._send(st, ident)
            elif isinstance(req, OpenOrdersReq):
                self._send(await recon.open_orders(self.ib, oe, tmo), ident)
            elif isinstance(req, TradesReq):
                self._send(await recon.trades(self.ib, oe, req.since, tmo), ident)
            elif isinstance(req, PositionsReq):
                self._send(recon.positions(self.ib, oe), ident)
            elif isinstance(req, BalancesReq):
                self._send(await recon.balances(self.ib, oe, tmo), ident)
            else:
                self._send(Error(code="unsupported", msg=type(req).__name__), ident)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed request is answered, never fatal
            logger.warning("{}: {} failed: {!r}", self.venue.name, type(req).__name__, exc)
            self._send(Error(code="exchange", msg=f"{type(exc).__name__}: {exc}"[:200]), ident)


async def run_gateway(cfg: AppConfig, venue_name: str | None, sock_dir: str, *,
                      stop_event: asyncio.Event, ib: Any = None,
                      ready: Callable[[IbGateway], None] | None = None,
                      curve: ServerKeys | None = None) -> IbGateway:
    """Serve the IB venue until ``stop_event`` is set. ``ib``: an ``ib_async.IB`` to use (a
    new one by default; tests pass one wired to their fake TWS). ``curve``: serve CURVE
    (default: the environment's keys, see ``IbGateway.bind``). Raises ``ConfigError``
    (unknown contract, venue) or ``VenueError`` (TWS not reachable) before binding anything."""
    if ib is None:
        from ib_async import IB

        ib = IB()
    gw = IbGateway(cfg, find_venue(cfg, venue_name), sock_dir, ib)
    try:
        await gw.connect()
        await gw.load()
        gw.bind(curve)
        gw.start()
        logger.info("ib gateway {} up ({}:{})", gw.venue.name, gw.ic.host, gw.ic.port)
        if ready is not None:
            ready(gw)
        await stop_event.wait()
    finally:
        await gw.stop()
    return gw


__all__ = ["IbGateway", "find_venue", "run_gateway"]
