"""The simulator gateway over real ZeroMQ sockets (ipc in tmp_path) and as a process."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from transports.clock import LiveClock
from transports.config.engine import load_config
from transports.venues.sim.gateway import address, serve
from transports.wire.venue_msgs import (
    Ack,
    Delta,
    Done,
    Fill,
    Heartbeat,
    Instruments,
    InstrumentsReq,
    MdMessage,
    MdStatus,
    NewOrder,
    OrderStatus,
    QueryReq,
    Snapshot,
    SnapshotReq,
)

CFG = load_config(None)
ROOT = Path(__file__).resolve().parents[2]
ENC = msgspec.msgpack.Encoder()
CLOCK = LiveClock()
Gateway = tuple[Callable[..., zmq.Socket], threading.Thread, dict[str, Any]]


def _recv(sock: zmq.Socket, timeout_ms: int = 3000) -> list[bytes]:
    """One multipart message, or fail after ``timeout_ms``."""
    assert sock.poll(timeout_ms, zmq.POLLIN), "no message before the deadline"
    return sock.recv_multipart()


def _ask(sock: zmq.Socket, req: Any) -> Any:
    sock.send(ENC.encode(req))
    (payload,) = _recv(sock)
    return msgspec.msgpack.decode(payload)


def _deadline(seconds: float) -> int:
    return CLOCK.mono_ns() + int(seconds * 1e9)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    ctx = zmq.Context()
    sock_dir = str(tmp_path / "s")
    stop, bound = threading.Event(), threading.Event()
    result: dict[str, Any] = {}

    def run() -> None:
        result["truth"] = serve(
            CFG, sock_dir, ctx, clock=CLOCK, stop=stop, duration_s=60.0, ready=bound.set
        )

    th = threading.Thread(target=run, name="sim-gateway", daemon=True)
    th.start()
    assert bound.wait(10)
    socks: list[zmq.Socket] = []

    def connect(kind: int, venue: str, which: str, ident: bytes | None = None) -> zmq.Socket:
        v = next(v for v in CFG.venues if v.name == venue)
        s = ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        if ident is not None:
            s.setsockopt(zmq.IDENTITY, ident)
        s.connect(address(getattr(v, which), sock_dir))
        socks.append(s)
        return s

    try:
        yield connect, th, result
    finally:
        stop.set()
        th.join(10)
        for s in socks:
            s.close(linger=0)
        ctx.term()
    assert not th.is_alive()


def test_gateway_over_real_sockets(gateway: Gateway) -> None:
    connect, th, result = gateway
    dec = msgspec.msgpack.Decoder(MdMessage)
    sub = connect(zmq.SUB, "shfe", "md")
    sub.setsockopt(zmq.SUBSCRIBE, b"md.au2606")
    sub.setsockopt(zmq.SUBSCRIBE, b"hb")
    ref = connect(zmq.DEALER, "shfe", "ref")
    oe = connect(zmq.DEALER, "shfe", "oe", ident=b"shfe-acct")

    inst = msgspec.convert(_ask(ref, InstrumentsReq()), Instruments)
    assert [(i.sym, i.tick, i.lot, i.max_qty) for i in inst.list] == [
        ("au2606", "0.02", "1000", 100)
    ]

    deltas: list[Delta] = []
    hbs: list[Heartbeat] = []
    statuses: list[MdStatus] = []
    end = _deadline(5)
    while (len(deltas) < 8 or not hbs) and CLOCK.mono_ns() < end:
        _topic, payload = _recv(sub)
        msg = dec.decode(payload)
        if isinstance(msg, MdStatus):
            statuses.append(msg)
        elif isinstance(msg, Heartbeat):
            hbs.append(msg)
        elif isinstance(msg, Delta):
            deltas.append(msg)
    assert len(deltas) >= 8 and hbs
    assert [d.seq for d in deltas] == list(range(deltas[0].seq, deltas[0].seq + len(deltas)))
    assert hbs[-1].seqs["au2606"] >= 1
    assert [(m.sym, m.state) for m in statuses] == [("au2606", "open")]  # sent on subscription

    snap = msgspec.convert(_ask(ref, SnapshotReq(sym="au2606")), Snapshot)
    assert snap.sym == "au2606" and snap.seq >= deltas[0].seq and snap.b and snap.a
    assert snap.b[0][0] < snap.a[0][0]
    err = _ask(ref, SnapshotReq(sym="nope"))
    assert err["t"] == "error" and err["code"] == "unknown_symbol"

    now = CLOCK.now_ns()
    oe.send(ENC.encode(NewOrder("c-1", "au2606", "B", snap.a[0][0] + 50, 2, "IOC", now)))
    reps: list[dict[str, Any]] = []
    end = _deadline(5)
    while not any(r["t"] == "done" for r in reps) and CLOCK.mono_ns() < end:
        reps.append(msgspec.msgpack.decode(_recv(oe)[-1]))
    types = [r["t"] for r in reps]
    assert types[0] == "ack" and types[-1] == "done" and "fill" in types
    ack = msgspec.convert(reps[0], Ack)
    fills = [msgspec.convert(r, Fill) for r in reps if r["t"] == "fill"]
    done = msgspec.convert(reps[-1], Done)
    assert sum(f.qty for f in fills) == 2 and all(f.fee == 10.0 * f.qty for f in fills)
    assert done.state == "filled" and done.cum == 2 and done.oid == ack.oid

    oe.send(ENC.encode(QueryReq(cl="never-sent")))
    status = msgspec.convert(msgspec.msgpack.decode(_recv(oe)[-1]), OrderStatus)
    assert status.state == "unknown"
    oe.send(b"\xc1 not msgpack")
    bad = msgspec.msgpack.decode(_recv(oe)[-1])
    assert bad["t"] == "error" and bad["code"] == "malformed"

    fx_ref = connect(zmq.DEALER, "fx", "ref")  # the extensions work on any venue's ref socket
    truth = _ask(fx_ref, {"t": "sim.truth"})
    assert truth["t"] == "sim.truth"
    t = truth["truth"]
    assert [o["cl"] for o in t["orders"]] == ["c-1"]
    assert t["counts"]["orders"] == 1 and t["counts"]["malformed"] == 1
    assert t["positions"] == {"shfe-acct": {"au2606": 2}}
    assert _ask(fx_ref, {"t": "sim.shutdown"}) == {"t": "ok"}
    th.join(5)
    assert not th.is_alive()
    assert result["truth"].counts["fills"] == len(fills)


def test_gateway_stops_on_duration(tmp_path: Path) -> None:
    ctx = zmq.Context()
    try:
        start = CLOCK.mono_ns()
        truth = serve(CFG, str(tmp_path / "d"), ctx, clock=CLOCK, duration_s=0.3)
        assert 0.25e9 <= CLOCK.mono_ns() - start < 5e9
        assert truth.counts["md_deltas"] > 0 and truth.meta["end_ns"] > truth.meta["start_ns"]
    finally:
        ctx.term()


def test_gateway_process_main(tmp_path: Path) -> None:
    sock_dir, out = str(tmp_path / "p"), tmp_path / "truth.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "transports.venues.sim", "--sock-dir", sock_dir]
    cmd += ["--truth-out", str(out), "--duration", "60"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        assert ready, "no READY line"
        assert proc.stdout.readline() == f"READY {sock_dir}\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
    d = json.loads(out.read_text())
    assert {"orders", "fills", "counts", "positions", "windows"} <= set(d)
    assert d["counts"]["orders"] == 0 and d["counts"]["md_deltas"] > 0
