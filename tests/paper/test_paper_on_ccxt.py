"""Paper trading on a ccxt gateway's data: the local Binance fake, the real ccxt gateway talking
to it (both as processes, as ``cmc demo`` starts them), and the paper gateway on the ccxt
gateway's md and ref sockets, traded by a ZeroMQ DEALER."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import zmq

from scripts.demo.venues import demo_credentials
from scripts.launch.process import GatewayProcess
from tests.paper.confs import ROOT
from tests.paper.world import CLOCK, ENC, ask, deadline, reports_until
from transports.config.engine import load_config
from transports.venues.paper.gateway import serve_paper

pytest.importorskip("ccxt")  # the optional extra ``crypto``

_PAPER = """
[[venues]]
name = "binance-paper"
md = "ipc://{sock}/binance-paper-md"
ref = "ipc://{sock}/binance-paper-ref"
oe = "ipc://{sock}/binance-paper-oe"
account = "paper-acct"
[venues.paper]
md_from = "binance"
latency_us = 300
taker_bps = 5.0
"""


@pytest.mark.e2e
def test_the_paper_gateway_fills_on_a_ccxt_gateways_book(tmp_path: Path, sock_dir: str) -> None:
    conf = tmp_path / "crypto-paper.toml"
    conf.write_text((ROOT / "conf" / "demo-crypto.toml").read_text() + _PAPER)
    cfg = load_config(conf)
    binance = next(v for v in cfg.venues if v.name == "binance")
    procs: list[GatewayProcess] = []
    ctx: zmq.Context[Any] = zmq.Context()
    stop, ready = threading.Event(), threading.Event()
    result: dict[str, Any] = {}
    th: threading.Thread | None = None
    try:
        fake = GatewayProcess("fake binance", ["fake-exchange", "binance", "--port", "0",
                                               "--conf", str(conf)], tmp_path / "fake.log")
        procs.append(fake)
        port = int(fake.wait_ready(30).split()[0])
        gw = GatewayProcess("ccxt binance", [
            "gateway", "ccxt", "--exchange", "binance", "--market", "spot", "--conf", str(conf),
            "--venue", "binance", "--sock", sock_dir, "--fake-url", f"http://127.0.0.1:{port}"],
            tmp_path / "ccxt.log", demo_credentials(binance))
        procs.append(gw)
        gw.wait_ready(60)

        def run() -> None:
            result["truth"] = serve_paper(cfg, "binance-paper", sock_dir, stop=stop,
                                          ready=ready.set, ctx=ctx)

        th = threading.Thread(target=run, name="paper", daemon=True)
        th.start()
        assert ready.wait(30)
        src_ref = ctx.socket(zmq.DEALER)
        ref = ctx.socket(zmq.DEALER)
        oe = ctx.socket(zmq.DEALER)
        oe.setsockopt(zmq.IDENTITY, b"paper-acct")
        for s, addr in ((src_ref, binance.ref), (ref, "ipc://{sock}/binance-paper-ref"),
                        (oe, "ipc://{sock}/binance-paper-oe")):
            s.setsockopt(zmq.LINGER, 0)
            s.connect(addr.replace("{sock}", sock_dir))
        # the ccxt gateway's instrument, as the paper venue serves it: version 2, spot
        src, mine = ask(src_ref, {"t": "instruments"}), ask(ref, {"t": "instruments"})
        assert mine["v"] == 2 and [i["sym"] for i in mine["list"]] == [
            i["sym"] for i in src["list"]] == ["BTCUSDT"]
        ins = mine["list"][0]
        assert (ins["kind"], ins["base"], ins["tick"], ins["taker_bps"]) == (
            "spot", "BTC", src["list"][0]["tick"], 5.0)
        end = deadline(15)
        snap: dict[str, Any] = {"a": []}
        while not (snap["a"] and snap["b"]):
            assert CLOCK.mono_ns() < end, "the paper book never became current"
            snap = ask(ref, {"t": "snapshot", "sym": "BTCUSDT"})
        limit = snap["a"][0][0] + 50
        oe.send(ENC.encode({"t": "new", "cl": "1.1.1.0", "sym": "BTCUSDT", "side": "B",
                            "px": limit, "qty": 2, "tif": "IOC", "ts": CLOCK.now_ns()}))
        reps = reports_until(oe, lambda r: any(x["t"] == "done" for x in r))
        fills = [r for r in reps if r["t"] == "fill"]
        assert reps[0]["t"] == "ack" and reps[-1]["state"] == "filled"
        assert sum(f["qty"] for f in fills) == 2 and all(f["px"] <= limit for f in fills)
        bal = {b["ccy"]: b for b in ask(oe, {"t": "balances"})["list"]}
        paid = sum(f["px"] * 0.01 * 0.0001 * f["qty"] for f in fills)
        assert bal["BTC"]["total"] == pytest.approx(10.0 + 0.0002)
        assert bal["USDT"]["total"] == pytest.approx(1_000_000 - paid * 1.0005)
        for s in (src_ref, ref, oe):
            s.close(linger=0)
    finally:
        stop.set()
        if th is not None:
            th.join(10)
        for p in reversed(procs):
            p.stop()
        ctx.term()
    truth = result["truth"]
    assert [(f["cl"], f["qty"]) for f in truth["fills"]] == [("1.1.1.0", f["qty"])
                                                              for f in fills]
    assert truth["positions"] == {"paper-acct": {"BTCUSDT": 2}}
