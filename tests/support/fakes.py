"""Start a local fake exchange (``cmc fake-exchange``) as a real subprocess on a free port, and
talk to its test-only control endpoints; for the fakes' own tests and the gateways' tests.

    with FakeProcess("binance", conf_path) as fake:
        urls = ccxt_urls(fake.http, fake.ws)      # transports.venues.fake.binance
        fake.fault(kind="drop_diff", market="spot", n=1)
        fake.truth()                              # the truth so far
    fake.final_truth                              # written by the process on SIGTERM
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from transports.clock import LiveClock

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

#: a small world for the fakes' tests: Binance spot and USDⓈ-M BTCUSDT and OKX spot BTC-USDT
#: backed by simulator venues (the pair makes the simulator quote them), fast funding (every
#: ``{funding_s}`` s)
TEST_CONF = """
[run]
epoch = 1
duration_s = 30.0

[[venues]]
name = "binance"
md = "ipc://{{sock}}/binance-md"
ref = "ipc://{{sock}}/binance-ref"
oe = "ipc://{{sock}}/binance-oe"
account = "binance-spot"

[[venues]]
name = "binance-usdm"
md = "ipc://{{sock}}/binance-usdm-md"
ref = "ipc://{{sock}}/binance-usdm-ref"
oe = "ipc://{{sock}}/binance-usdm-oe"
account = "binance-usdm"

[[venues]]
name = "okx"
md = "ipc://{{sock}}/okx-md"
ref = "ipc://{{sock}}/okx-ref"
oe = "ipc://{{sock}}/okx-oe"
account = "okx-spot"

[[contracts]]
venue = "binance"
sym = "BTCUSDT"
tick = "0.01"
multiplier = 0.0001
unit = "BTC"
ccy = "USDT"
underlying = "btc"
base_per_lot = 0.0001
fee_per_lot = 0.0019
max_lots_per_order = 1000

[[contracts]]
venue = "binance-usdm"
sym = "BTCUSDT"
tick = "0.1"
multiplier = 0.001
unit = "BTC"
ccy = "USDT"
underlying = "btc"
base_per_lot = 0.001
fee_per_lot = 0.038
max_lots_per_order = 1000

[[contracts]]
venue = "okx"
sym = "BTC-USDT"
tick = "0.1"
multiplier = 0.0001
unit = "BTC"
ccy = "USDT"
underlying = "btc"
base_per_lot = 0.0001
fee_per_lot = 0.0019
max_lots_per_order = 1000

[[pairs]]
name = "btc-okx-binance"
leg_a = "okx:BTC-USDT"
leg_b = "binance:BTCUSDT"
unit_factor = 1.0
max_clip_lots_a = 10
max_clip_lots_b = 10
max_spread_position = 1
safety_factor = 1.2
slippage_ticks = 0.5
max_slippage_ticks = 3
z_window = 500
z_entry = 2.0
z_exit = 0.5
min_edge = 10.0
max_quote_skew_ms = 1000
max_quote_age_ms = 3000
legging_mode = "concurrent"
chase_ticks = 2
chase_tries = 3
leg_timeout_ms = 2000
hedge_budget_ms = 8000

[sim]
seed = 11
gold_usd_oz = 95000.0
usdcnh = 1.0
basis_cny_g = 0.0
vol_gold_bps_s = 3.0
vol_fx_bps_s = 0.0
dislocation_every_s = 3.0
dislocation_cny_g = 60.0
dislocation_hold_s = 1.5
threshold_cny_g = 10.0
warmup_s = 1.0

[[sim.venues]]
name = "binance"
latency_us = {latency_us}
md_interval_ms = 50
level_qty_lots = 20

[[sim.venues]]
name = "binance-usdm"
latency_us = {latency_us}
md_interval_ms = 100
level_qty_lots = 20

[[sim.venues]]
name = "okx"
latency_us = {latency_us}
md_interval_ms = 50
level_qty_lots = 20

[[fakes]]
exchange = "binance"
markets = [{{ market = "spot", venue = "binance" }}, {{ market = "swap", venue = "binance-usdm" }}]
funding_interval_s = {funding_s}
rate_limit_per_s = {rate_limit}
balances = {{ USDT = 1000000.0, BTC = {btc} }}

[[fakes]]
exchange = "okx"
markets = [{{ market = "spot", venue = "okx" }}]
funding_interval_s = {funding_s}
rate_limit_per_s = {rate_limit}
"""


def write_test_conf(path: Path, *, funding_s: float = 1.0, rate_limit: int = 50,
                    btc: float = 10.0, latency_us: int = 200) -> Path:
    """Write ``TEST_CONF`` (funding every ``funding_s``, ``rate_limit`` orders/s, each Binance
    account starting with ``btc`` BTC and 1,000,000 USDT, every simulator venue ``latency_us``
    one way) to ``path``."""
    path.write_text(TEST_CONF.format(funding_s=funding_s, rate_limit=rate_limit, btc=btc,
                                     latency_us=latency_us))
    return path


class FakeProcess:
    """``cmc fake-exchange EXCHANGE --conf CONF --port 0`` as a subprocess (a context manager)."""

    def __init__(self, exchange: str, conf: str | Path, *, start_ns: int | None = None,
                 truth_out: str | Path | None = None) -> None:
        self.exchange, self.conf, self.start_ns = exchange, str(conf), start_ns
        self._tmp = tempfile.mkdtemp(prefix="cmc-fake-")
        self.truth_out = str(truth_out or Path(self._tmp) / "truth.json")
        self.stderr_path = Path(self._tmp) / "stderr.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.final_truth: dict[str, Any] | None = None

    @property
    def http(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        """``ws://127.0.0.1:<port>``."""
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> FakeProcess:
        """Start the process and wait for its READY line."""
        cmd = [sys.executable, "-m", "scripts.cli", "fake-exchange", self.exchange,
               "--conf", self.conf, "--port", "0", "--truth-out", self.truth_out]
        if self.start_ns is not None:
            cmd += ["--start-ns", str(self.start_ns)]
        env = dict(os.environ)
        env.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "cmc-numba-cache"))
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                         stderr=err)
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        clock = LiveClock()
        deadline = clock.mono_ns() + int(START_TIMEOUT_S * 1e9)
        line = b""
        while clock.mono_ns() < deadline and not line.endswith(b"\n"):
            if self.proc.poll() is not None:
                break
            if sel.select(timeout=0.2):
                chunk = os.read(self.proc.stdout.fileno(), 256)
                if not chunk:
                    break
                line += chunk
        sel.close()
        if not line.startswith(b"READY "):
            self.stop()
            raise RuntimeError(f"fake {self.exchange} did not start: {line!r}; stderr: "
                               f"{self.stderr_path.read_text()[-2000:]}")
        self.port = int(line.split()[1])
        return self

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.http + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def fault(self, **spec: Any) -> None:
        """Set a run-time fault switch (``transports/venues/fake/faults.py``)."""
        out = self._call("POST", "/__fake__/fault", spec)
        assert out == {"ok": True}, out

    def truth(self) -> dict[str, Any]:
        """The truth so far."""
        return self._call("GET", "/__fake__/truth")

    def book(self, market: str, sym: str) -> dict[str, Any]:
        """The fake's published book: ``{"seq", "bids", "asks"}`` in exchange decimals."""
        return self._call("GET", f"/__fake__/book?market={market}&sym={sym}")

    def stop(self) -> dict[str, Any] | None:
        """SIGTERM the process; returns (and keeps in ``final_truth``) the truth it wrote."""
        p = self.proc
        if p is None:
            return self.final_truth
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=STOP_TIMEOUT_S)
        if p.stdout is not None:
            p.stdout.close()
        self.proc = None
        if Path(self.truth_out).is_file():
            self.final_truth = json.loads(Path(self.truth_out).read_text())
        return self.final_truth

    def __enter__(self) -> FakeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["TEST_CONF", "FakeProcess", "write_test_conf"]
