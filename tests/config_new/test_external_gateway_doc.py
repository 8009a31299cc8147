"""docs/external-gateway.md: the worked example gateway, run straight from the page, speaks the
venue protocol as the engine decodes it, with three symbols, and ``cmc config new`` writes the
contracts the page shows."""

from __future__ import annotations

import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
from click.testing import CliRunner

from scripts.config_new.cmd import config as config_cli
from transports.clock import LiveClock
from transports.config.engine import load_config
from transports.wire.codec import Codec
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Delta,
    Done,
    Error,
    Fill,
    Heartbeat,
    Instruments,
    InstrumentsReq,
    MdMessage,
    MdStatus,
    NewOrder,
    OeReply,
    OpenOrders,
    OpenOrdersReq,
    OrderStatus,
    Ping,
    Pong,
    Positions,
    PositionsReq,
    QueryReq,
    RefReply,
    Snapshot,
    SnapshotReq,
)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "external-gateway.md"
SYMS = ("XAUUSD", "XAGUSD", "EURUSD")
# strict: every frame exactly as the protocol types it (no lenient second pass)
REF: Codec[Any] = Codec(RefReply, lenient=False)
MD: Codec[Any] = Codec(MdMessage, lenient=False)
OE: Codec[Any] = Codec(OeReply, lenient=False)
ENC = msgspec.msgpack.Encoder()
CLOCK = LiveClock()


def _gateway_source() -> str:
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    return code


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The page's gateway as its own process on ipc sockets; yields its endpoints."""
    src = tmp_path / "mini_gateway.py"
    src.write_text(_gateway_source())
    sock = tempfile.mkdtemp(prefix="cmcg-")
    eps = {k: f"ipc://{sock}/acme-{k}" for k in ("md", "ref", "oe")}
    proc = subprocess.Popen([sys.executable, str(src), "--md", eps["md"], "--ref", eps["ref"],
                             "--oe", eps["oe"], "--duration", "60"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    ready = sel.select(20)
    sel.close()
    line = proc.stdout.readline().decode() if ready else ""
    try:
        assert line.strip() == "READY", f"gateway said {line!r}: {proc.stderr.read1().decode()}"  # type: ignore[union-attr]
        yield eps
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
            proc.stdout.close()
            proc.stderr.close()  # type: ignore[union-attr]
            shutil.rmtree(sock, ignore_errors=True)
        assert code == 0  # SIGTERM is an orderly stop


def _recv(sock: zmq.Socket[Any], timeout_ms: int = 3000) -> bytes:
    assert sock.poll(timeout_ms, zmq.POLLIN), "no reply before the deadline"
    return sock.recv_multipart()[-1]


def _oe_until_done(oe: zmq.Socket[Any], cl: str) -> list[Any]:
    out: list[Any] = []
    while not (out and isinstance(out[-1], Done | CancelReject) and out[-1].cl == cl):
        out.append(OE.decode(_recv(oe)))
    return out


def test_the_example_gateway_speaks_the_protocol_with_three_symbols(
        gateway: dict[str, str]) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        ref = ctx.socket(zmq.DEALER)
        ref.connect(gateway["ref"])
        ref.send(ENC.encode(InstrumentsReq()))
        ins = REF.decode(_recv(ref))
        assert isinstance(ins, Instruments) and ins.v == 2
        assert tuple(i.sym for i in ins.list) == SYMS

        md = ctx.socket(zmq.SUB)
        for t in ("md.XAUUSD", "md.EURUSD", "hb"):  # what an engine trading two of them asks
            md.setsockopt(zmq.SUBSCRIBE, t.encode())
        md.connect(gateway["md"])
        snaps = {}
        for sym in SYMS:
            ref.send(ENC.encode(SnapshotReq(sym=sym)))
            snaps[sym] = REF.decode(_recv(ref))
            assert isinstance(snaps[sym], Snapshot) and snaps[sym].b and snaps[sym].a
            assert snaps[sym].b[0][0] < snaps[sym].a[0][0]  # not crossed
        ref.send(ENC.encode(SnapshotReq(sym="nope")))
        err = REF.decode(_recv(ref))
        assert isinstance(err, Error) and err.code == "unknown_symbol"

        # md: per-symbol topics and sequences; one heartbeat lists every symbol
        seen: dict[str, list[int]] = {}
        hb = status = None
        deadline = CLOCK.mono_ns() + 5_000_000_000
        while (hb is None or status is None or len(seen) < 2) and CLOCK.mono_ns() < deadline:
            topic, payload = md.recv_multipart() if md.poll(1000) else (b"", b"")
            if not payload:
                continue
            m = MD.decode(payload)
            if isinstance(m, Delta):
                assert topic == f"md.{m.sym}".encode()
                seen.setdefault(m.sym, []).append(m.seq)
            elif isinstance(m, Heartbeat):
                hb = m
            elif isinstance(m, MdStatus):
                status = m
        assert set(seen) == {"XAUUSD", "EURUSD"}  # only what was subscribed
        for seqs in seen.values():
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # +1 each, no hole
        assert hb is not None and set(hb.seqs) == set(SYMS)
        assert status is not None and status.state == "open"

        # oe: an IOC through the touch fills; a GTC far away rests, is listed and is canceled
        oe = ctx.socket(zmq.DEALER)
        oe.setsockopt(zmq.IDENTITY, b"t-acct")
        oe.connect(gateway["oe"])
        ask = snaps["XAUUSD"].a[0][0]
        oe.send(ENC.encode(NewOrder(cl="1.1.0.0", sym="XAUUSD", side="B", px=ask + 20, qty=2,
                                    tif="IOC", ts=CLOCK.now_ns())))
        reports = _oe_until_done(oe, "1.1.0.0")
        assert isinstance(reports[0], Ack)
        fills = [r for r in reports if isinstance(r, Fill)]
        assert sum(f.qty for f in fills) == 2 and all(f.fee == pytest.approx(0.05 * f.qty)
                                                      for f in fills)
        assert reports[-1].state == "filled" and reports[-1].cum == 2
        oe.send(ENC.encode(QueryReq(cl="1.1.0.0")))
        st = OE.decode(_recv(oe))
        assert isinstance(st, OrderStatus) and st.state == "filled"
        assert {f.tid for f in st.fills} == {f.tid for f in fills}
        oe.send(ENC.encode(PositionsReq()))
        pos = OE.decode(_recv(oe))
        assert isinstance(pos, Positions) and [(p.sym, p.qty) for p in pos.list] == [("XAUUSD", 2)]

        bid = snaps["EURUSD"].b[0][0]
        oe.send(ENC.encode(NewOrder(cl="1.2.0.0", sym="EURUSD", side="B", px=bid - 500, qty=1,
                                    tif="GTC", ts=CLOCK.now_ns())))
        assert isinstance(OE.decode(_recv(oe)), Ack)
        oe.send(ENC.encode(OpenOrdersReq()))
        opened = OE.decode(_recv(oe))
        assert isinstance(opened, OpenOrders) and [o.cl for o in opened.list] == ["1.2.0.0"]
        oe.send(ENC.encode(CancelReq(cl="1.2.0.0", ts=CLOCK.now_ns())))
        done = _oe_until_done(oe, "1.2.0.0")[-1]
        assert isinstance(done, Done) and done.state == "canceled" and done.cum == 0
        oe.send(ENC.encode(CancelReq(cl="1.2.0.0", ts=CLOCK.now_ns())))
        rej = OE.decode(_recv(oe))
        assert isinstance(rej, CancelReject) and rej.code == "not_open"
        oe.send(ENC.encode(QueryReq(cl="9.9.9.9")))
        assert OE.decode(_recv(oe)).state == "unknown"  # never "rejected"
        t0 = CLOCK.now_ns()
        oe.send(ENC.encode(Ping(ts=t0)))
        pong = OE.decode(_recv(oe))
        assert isinstance(pong, Pong) and pong.echo == t0
        oe.send(b"\xc1")  # not MessagePack: an error reply, and the gateway lives on
        assert OE.decode(_recv(oe)).code == "malformed"
        for s in (ref, md, oe):
            s.close(linger=0)
    finally:
        ctx.destroy(linger=0)


def test_config_new_against_the_example_writes_the_pages_contracts(
        gateway: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "acme.toml"
    spec = f"acme={gateway['md']},{gateway['ref']},{gateway['oe']}"
    r = CliRunner().invoke(config_cli, ["new", "--venue", spec, "--out", str(out)])
    assert r.exit_code == 0, r.output
    cfg = load_config(out)
    by = {c.sym: c for c in cfg.contracts}
    assert tuple(by) == SYMS
    assert (by["XAUUSD"].tick, by["XAUUSD"].multiplier, by["XAUUSD"].unit, by["XAUUSD"].ccy,
            by["XAUUSD"].underlying, by["XAUUSD"].fee_per_lot) == ("0.01", 1.0, "ozt", "USD",
                                                                     "xau", 0.05)
    assert (by["XAGUSD"].multiplier, by["XAGUSD"].underlying) == (50.0, "xag")
    assert by["XAGUSD"].base_per_lot == pytest.approx(50.0)  # derived: ozt, as xag's base unit
    assert (by["EURUSD"].underlying, by["EURUSD"].unit) == ("", "EUR")
    assert cfg.venues[0].trading and cfg.pairs == []  # one venue: no pair to sketch
    placed = {a for g in cfg.placement.groups for a in g.actors}  # type: ignore[union-attr]
    assert {"feed.acme", "book.acme:XAUUSD", "book.acme:XAGUSD", "book.acme:EURUSD",
            "leg.acme"} <= placed
    # the page's snippet says the same as what was written
    page = DOC.read_text()
    for c in cfg.contracts:
        assert f'sym = "{c.sym}"' in page and f'tick = "{c.tick}"' in page
