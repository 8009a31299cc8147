"""``cmc launch`` with ``[launch] gateways = ["ccxt"]``: the launcher starts one ccxt gateway
per ``[venues.ccxt]`` account (here pointed at the fakes on fixed ports, credentials from the
environment), trades, and on SIGTERM flattens and stops them; judged from the fakes' records."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from scripts.demo.venues import demo_credentials
from scripts.launch.process import GatewayProcess
from tests.support.helpers import eventually
from transports.clock import LiveClock
from transports.config.engine import load_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[3]
BASE_PER_LOT = {("binance", "BTCUSDT"): 0.0001, ("okx", "BTC-USDT"): 0.0001}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conf(tmp: Path, ports: dict[str, int], sock: str) -> Path:
    text = (ROOT / "conf" / "demo-crypto.toml").read_text()
    for ex, port in ports.items():
        text = text.replace(f'[[fakes]]\nexchange = "{ex}"\n',
                            f'[[fakes]]\nexchange = "{ex}"\nport = {port}\n')
    text = text.replace("[placement]", f"""[launch]
gateways = ["ccxt"]
run_dir = "{tmp / 'run'}"
sock_dir = "{sock}"
flatten_timeout_s = 10.0
cancel_timeout_s = 3.0
ready_timeout_s = 60.0

[placement]""")
    path = tmp / "launch-crypto.toml"
    path.write_text(text)
    return path


def _truth(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__fake__/truth", timeout=5) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def test_launch_starts_ccxt_gateways_trades_and_stops_flat(tmp_path: Path) -> None:
    ports = {"binance": _free_port(), "okx": _free_port()}
    sock = tempfile.mkdtemp(prefix="cmcc-")
    conf = _conf(tmp_path, ports, sock)
    cfg = load_config(conf)
    start_ns = str(LiveClock().now_ns())
    fakes = [GatewayProcess(f"fake {ex}", ["fake-exchange", ex, "--conf", str(conf),
                                           "--start-ns", start_ns], tmp_path / f"fake-{ex}.log")
             for ex in ports]
    env = dict(os.environ)
    for v in cfg.venues:
        env.update(demo_credentials(v))
    proc: subprocess.Popen[bytes] | None = None
    try:
        for f in fakes:
            f.wait_ready()
        log = tmp_path / "launch.log"
        proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", "launch", str(conf),
                                 "--quiet"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=log.open("wb"), stdin=subprocess.DEVNULL, env=env)
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(90), f"launcher not ready; see {log.read_text()[-3000:]}"
        line = proc.stdout.readline().decode().strip()
        assert line.startswith("READY "), f"launcher said {line!r}: {log.read_text()[-3000:]}"
        status = Path(line.split(" ", 1)[1])
        st = json.loads(status.read_text())
        # the launcher started one gateway per ccxt venue (and nothing else)
        assert sorted(st["gateways"]) == ["ccxt-binance", "ccxt-binance-usdm", "ccxt-okx"]
        eventually(lambda: len(_truth(ports["okx"])["fills"]) >= 2, 60, step_s=0.5)  # trades
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
        net = 0.0
        for port in ports.values():
            t = _truth(port)
            assert t["counts"].get("duplicate_client_ids", 0) == 0
            for f in t["fills"]:
                net += (1 if f["side"] == "B" else -1) * f["qty"] * BASE_PER_LOT[
                    (f["venue"], f["sym"])]
        assert abs(net) < 1e-9, f"net BTC after SIGTERM: {net}"
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for f in fakes:
            f.stop()
