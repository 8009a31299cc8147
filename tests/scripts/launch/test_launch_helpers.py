"""Helpers for the launcher tests: a fast launchable config, keys, and simulator queries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import zmq

from scripts.admin.client import keygen
from scripts.launch.launcher import Launcher, load_launch_config
from scripts.launch.process import ref_request

ROOT = Path(__file__).resolve().parents[3]


def base_toml(**sim: float) -> str:
    """The demo's venues, contracts and pair, tuned to trade within seconds of a start."""
    text = (ROOT / "conf" / "demo.toml").read_text().partition("[placement]")[0]
    edits = {"z_window = 1500": "z_window = 200", "dislocation_every_s = 3.0":
             "dislocation_every_s = 1.5", "warmup_s = 4.0 ": "warmup_s = 2.0 ",
             'log_level = "INFO"': 'log_level = "WARNING"'}
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    for k, v in sim.items():
        text = text.replace("[sim]\n", f"[sim]\n{k} = {v}\n")
    return text


ONE_NODE = """
[placement]
[[placement.nodes]]
name = "engine"
address = "ipc://{sock}/node-engine"

[[placement.groups]]
name = "hot"
node = "engine"
actors = ["feed.shfe", "feed.comex", "feed.fx", "book.shfe:au2606", "book.comex:GCZ6",
          "book.fx:USDCNH", "strategy.au-gc", "combo", "leg.shfe", "leg.comex"]

[[placement.groups]]
name = "risk"
node = "engine"
actors = ["risk"]

[[placement.groups]]
name = "journal"
node = "engine"
actors = ["journal"]
"""

TWO_NODES = """
[placement]
[[placement.nodes]]
name = "ops"
address = "ipc://{sock}/node-ops"

[[placement.nodes]]
name = "trade"
address = "ipc://{sock}/node-trade"

[[placement.groups]]
name = "hot"
node = "trade"
actors = ["feed.shfe", "feed.comex", "feed.fx", "book.shfe:au2606", "book.comex:GCZ6",
          "book.fx:USDCNH", "strategy.au-gc", "combo", "leg.shfe", "leg.comex"]

[[placement.groups]]
name = "ops"
node = "ops"
actors = ["risk", "journal"]
"""

SUPERVISION = """
[supervision]
errors_to_crash = 3
error_window_s = 1.0
heartbeat_ms = 100
heartbeat_timeout_ms = 1000

[[supervision.groups]]
name = "exec"
actors = ["strategy.au-gc", "combo", "leg.shfe", "leg.comex"]
strategy = "one_for_all"
max_restarts = 2
period_s = 60.0

[supervision.nodes]
max_restarts = 2
period_s = 60.0
"""


def write_conf(tmp: Path, sock_dir: str, placement: str, *, gateways: bool, admin: bool,
               extra: str = "", on_hung: str = "exit", flatten_timeout_s: float = 10.0) -> Path:
    """Write a launch config into ``tmp`` (keys too when ``admin``); return its path."""
    supervision = SUPERVISION.replace("heartbeat_timeout_ms = 1000\n",
                                      f"heartbeat_timeout_ms = 1000\non_hung = \"{on_hung}\"\n")
    parts = [base_toml(), placement, supervision,
             f"""
[launch]
gateways = [{'"sim"' if gateways else ''}]
run_dir = "{tmp / 'run'}"
sock_dir = "{sock_dir}"
flatten_timeout_s = {flatten_timeout_s}
cancel_timeout_s = 3.0
ready_timeout_s = 30.0
"""]
    if admin:
        keygen(str(tmp / "keys"), ["client"])
        parts.append(f"""
[admin]
enabled = true
endpoint = "ipc://{{sock}}/admin"
server_secret = "{tmp / 'keys' / 'server.key_secret'}"
allowlist = "{tmp / 'keys' / 'allowlist'}"
""")
    parts.append(extra)
    path = tmp / "launch.toml"
    path.write_text("\n".join(parts))
    return path


@contextmanager
def launched(conf: Path, wrap: Callable[[str, Any], Any] | None = None) -> Iterator[Launcher]:
    """``cmc launch`` of ``conf`` in this process (``wrap``: the test's core wrapper), started;
    shut down at the end as an operator's stop does (its flatten, then every process)."""
    launcher = Launcher(str(conf), load_launch_config(str(conf)), quiet=True, wrap=wrap)
    try:
        launcher.start()
        yield launcher
    finally:
        launcher.request_shutdown("test over")
        launcher.shutdown()


def sim_truth(ctx: zmq.Context[Any], sock_dir: str) -> dict[str, Any]:
    """The simulator's record so far (orders, fills, counts, positions per account)."""
    return ref_request(ctx, f"ipc://{sock_dir}/shfe-ref", {"t": "sim.truth"})["truth"]


def exposure(truth: dict[str, Any], base_per_lot: dict[str, float]) -> float:
    """Net gold exposure (grams) of the engine's accounts, from the simulator's positions."""
    total = 0.0
    for acct, pos in truth["positions"].items():
        if acct.endswith("-acct"):
            for sym, lots in pos.items():
                total += lots * base_per_lot.get(sym, 0.0)
    return total


def combo_of(cl: str) -> int:
    """The combo id inside a client order id ``epoch.combo.leg.attempt``."""
    return int(cl.split(".")[1])
