"""The IB gateway in process on one asyncio loop, its fake TWS, and the engine's side of the
protocol on real ZeroMQ sockets (ref/oe DEALER, md SUB)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import zmq
import zmq.asyncio

from tests.ib.tws import FakeTws
from transports.config.engine import AppConfig, load_config
from transports.venues.ib.gateway import IbGateway, run_gateway
from transports.venues.sim.gateway import address
from transports.wire.venue_msgs import MdMessage, OeReply, Ping, Pong, RefReply

CONF = """
[run]
epoch = 1

[[venues]]
name = "comex"
md = "ipc://{{sock}}/comex-md"
ref = "ipc://{{sock}}/comex-ref"
oe = "ipc://{{sock}}/comex-oe"
account = "ib-paper"
[venues.ib]
port = 7497
account = "DU123"
state_dir = "{state}"
hb_interval_ms = 100
commission_wait_ms = {wait_ms}
reconnect_backoff_ms = 50
contracts = [{{ sym = "GCZ6", {ident} exchange = "COMEX" }}]

[[contracts]]
venue = "comex"
sym = "GCZ6"
tick = "0.1"
multiplier = 100
unit = "oz"
ccy = "USD"
underlying = "gold"
max_lots_per_order = 50
"""

WAIT_S = 5.0  #: every receive's deadline
OE_DEC = msgspec.msgpack.Decoder(OeReply)
REF_DEC = msgspec.msgpack.Decoder(RefReply)
MD_DEC = msgspec.msgpack.Decoder(MdMessage)
ENC = msgspec.msgpack.Encoder()


def write_conf(d: Path, *, wait_ms: int = 300, ident: str = 'con_id = 900001,') -> AppConfig:
    """The test config (one IB venue, COMEX gold) written under ``d`` and loaded."""
    p = d / "c.toml"
    p.write_text(CONF.format(state=d / "state", wait_ms=wait_ms, ident=ident))
    return load_config(str(p))


@dataclass
class World:
    """Gateway + fake TWS + engine sockets."""

    d: Path
    cfg: AppConfig
    tws: FakeTws
    gw: IbGateway
    oe: zmq.asyncio.Socket
    ref: zmq.asyncio.Socket
    md: zmq.asyncio.Socket

    async def send(self, msg: Any) -> None:
        """An oe request from the engine's account DEALER."""
        await self.oe.send(ENC.encode(msg))

    async def ask_ref(self, msg: Any) -> Any:
        """A ref request and its reply."""
        await self.ref.send(ENC.encode(msg))
        return REF_DEC.decode(await asyncio.wait_for(self.ref.recv(), WAIT_S))

    async def oe_until(self, pred: Callable[[Any], bool]) -> list[Any]:
        """Every oe message up to and including the first that ``pred`` accepts."""
        out: list[Any] = []
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while True:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"no matching oe message; got {out}"
            m = OE_DEC.decode(await asyncio.wait_for(self.oe.recv(), left))
            out.append(m)
            if pred(m):
                return out

    async def oe_none(self, quiet_s: float) -> list[Any]:
        """Every oe message arriving within ``quiet_s`` (a bounded look for silence)."""
        out = []
        with contextlib.suppress(TimeoutError):
            while True:
                out.append(OE_DEC.decode(await asyncio.wait_for(self.oe.recv(), quiet_s)))
        return out

    async def md_until(self, pred: Callable[[str, Any], bool]) -> list[tuple[str, Any]]:
        """Every md message up to and including the first that ``pred`` accepts."""
        out: list[tuple[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while True:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"no matching md message; got {out}"
            topic, payload = await asyncio.wait_for(self.md.recv_multipart(), left)
            m = MD_DEC.decode(payload)
            out.append((topic.decode(), m))
            if pred(topic.decode(), m):
                return out


@contextlib.asynccontextmanager
async def world(tws: FakeTws | None = None, *, wait_ms: int = 300,
                d: Path | None = None, oe_rcvhwm: int = 1000) -> AsyncIterator[World]:
    """Start the gateway on a fake TWS and connect the engine's sockets; stop at the end
    (``d``: reuse a directory, i.e. the state of an earlier gateway; ``oe_rcvhwm``: the
    engine oe DEALER's receive queue, in frames)."""
    d = d or Path(tempfile.mkdtemp(prefix="cmci-"))
    cfg = write_conf(d, wait_ms=wait_ms)
    tws = tws or FakeTws()
    stop, up = asyncio.Event(), asyncio.Event()
    got: list[IbGateway] = []
    task = asyncio.get_running_loop().create_task(run_gateway(
        cfg, "comex", str(d), stop_event=stop, ib=tws.ib,
        ready=lambda gw: (got.append(gw), up.set())))
    waiter = asyncio.get_running_loop().create_task(up.wait())
    await asyncio.wait({task, waiter}, timeout=WAIT_S, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # the start failed: its exception
    assert up.is_set(), "gateway not up in time"
    v = cfg.venues[0]
    ctx = zmq.asyncio.Context()
    oe = ctx.socket(zmq.DEALER)
    oe.setsockopt(zmq.IDENTITY, v.account.encode())
    oe.setsockopt(zmq.RCVHWM, oe_rcvhwm)
    ref = ctx.socket(zmq.DEALER)
    md = ctx.socket(zmq.SUB)
    md.setsockopt(zmq.SUBSCRIBE, b"md.")
    for s, a in ((oe, v.oe), (ref, v.ref), (md, v.md)):
        s.setsockopt(zmq.LINGER, 0)
        s.connect(address(a, str(d)))
    w = World(d, cfg, tws, got[0], oe, ref, md)
    # the ROUTER knows the engine's identity only once it sent something: ping first, as the
    # engine does, so unsolicited reports are not dropped
    await w.send(Ping(ts=1))
    await w.oe_until(lambda m: isinstance(m, Pong) and m.echo == 1)
    try:
        yield w
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT_S)
        for s in (oe, ref, md):
            s.close(0)
        ctx.term()


def run(coro: Any) -> Any:
    """Run one scenario on a fresh loop."""
    return asyncio.run(asyncio.wait_for(coro, 30))
