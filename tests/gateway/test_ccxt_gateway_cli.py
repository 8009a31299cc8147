"""``cmc gateway ccxt`` as the real process: it serves the protocol against the Binance fake,
stops cleanly on SIGTERM, never writes its secret, and refuses to start (exit 2, naming why) on
a symbol the exchange does not list or a credentials file others can read."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from tests.gateway.ccxt_world import (
    CLOCK,
    SECRETS,
    Engine,
    GatewayProcess,
    cred_env,
    write_conf,
)
from tests.support.fakes import FakeProcess
from transports.config.engine import load_config
from transports.wire.venue_msgs import Done, Fill, Instruments, NewOrder

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeProcess, Path]]:
    d = Path(tempfile.mkdtemp(prefix="cmct-"))
    conf = write_conf(d / "c.toml", d / "state")
    with FakeProcess("binance", conf) as f:
        yield f, d


def gateway_args(conf: Path, d: Path, fake: FakeProcess) -> list[str]:
    return ["gateway", "ccxt", "--exchange", "binance", "--market", "spot", "--conf", str(conf),
            "--venue", "binance", "--sock", str(d), "--fake-url", fake.http]


def test_the_real_process_serves_and_stops(fake: tuple[FakeProcess, Path],
                                           ctx: zmq.Context[Any]) -> None:
    f, d = fake
    conf = d / "c.toml"
    cfg = load_config(str(conf))
    gw = GatewayProcess(gateway_args(conf, d, f), cred_env("CMCT_BINANCE_SPOT", "binance-spot"))
    gw.start()
    try:
        assert gw.ready_line == "READY binance", gw.stderr()
        e = Engine(ctx, cfg, "binance", str(d), "BTCUSDT")
        try:
            ins = e.instruments()
            assert isinstance(ins, Instruments) and ins.v == 2
            assert (ins.list[0].sym, ins.list[0].tick, ins.list[0].lot) == ("BTCUSDT", "0.01",
                                                                           "0.0001")
            e.sync()
            ask = min(e.book["a"])
            e.send(NewOrder(cl="1.1.0.0", sym="BTCUSDT", side="B", px=ask + 20_000, qty=2,
                            tif="IOC", ts=CLOCK.now_ns()))
            d_ = e.wait_oe(lambda m: isinstance(m, Done) and m.cl == "1.1.0.0", 10, "done")
            assert (d_.state, d_.cum) == ("filled", 2)
            truth = [x for x in f.truth()["fills"] if x["cl"] == "1.1.0.0"]
            assert sum(x["qty"] for x in truth) == sum(m.qty for m in e.of(Fill, "1.1.0.0")) == 2
            assert not any(SECRETS["binance-spot"].encode() in fr for fr in e.frames)
        finally:
            e.close()
    finally:
        code = gw.stop()
    assert code == 0, gw.stderr()
    log = gw.stderr()
    assert "ccxt gateway binance" in log  # it logged ...
    assert SECRETS["binance-spot"] not in log  # ... never its secret


def test_an_unlisted_symbol_stops_the_start(fake: tuple[FakeProcess, Path]) -> None:
    f, d = fake
    conf = write_conf(d / "eth.toml", d / "state", binance_sym="ETHUSDT")  # the fake lists BTC
    gw = GatewayProcess(gateway_args(conf, d / "eth", f),
                        cred_env("CMCT_BINANCE_SPOT", "binance-spot"))
    gw.start()
    assert gw.wait_exit() == 2
    gw.stop()
    assert "ETHUSDT" in gw.stderr() and "config error" in gw.stderr()


def test_a_credentials_file_others_can_read_is_refused(fake: tuple[FakeProcess, Path]) -> None:
    f, d = fake
    creds = d / "creds.toml"
    creds.write_text(f'key = "binance-spot"\nsecret = "{SECRETS["binance-spot"]}"\n')
    os.chmod(creds, 0o644)
    conf = d / "file.toml"
    conf.write_text((d / "c.toml").read_text().replace(
        'credentials_env = "CMCT_BINANCE_SPOT"', f'credentials_file = "{creds}"', 1))
    gw = GatewayProcess(gateway_args(conf, d / "file", f), {})
    gw.start()
    assert gw.wait_exit() == 2
    gw.stop()
    assert "mode 0644" in gw.stderr() and SECRETS["binance-spot"] not in gw.stderr()
