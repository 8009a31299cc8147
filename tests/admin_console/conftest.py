"""A real admin socket (CURVE + ZAP, ipc) whose commands reach a real engine's cores.

``SimEngine`` runs every core of the demo config against the simulator in virtual time; the
admin's ``AdminCore`` reaches those cores through ``EngineCluster`` (snapshots for the views,
``tell`` delivering ``Halt``/``Resume``/... through the engine's own dispatcher), served by
``AdminServer`` on an ipc endpoint with a key pair from ``keygen``. A console test drives the
app against that socket, so a halt it sends is authenticated, journaled and reaches risk.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actors.admin import AdminCore
from scripts.admin.client import keygen
from transports.admin_server import AdminServer
from transports.clock import LiveClock
from transports.config.engine import load_config
from transports.config.ops import AdminConfig

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONF = ROOT / "conf" / "demo.toml"


class EngineCluster:
    """The admin's view of the engine: real cores' snapshots; commands delivered at once
    (one lock: the admin thread and the test never touch the engine together)."""

    def __init__(self, eng: Any) -> None:
        self.eng = eng
        self.lock = threading.Lock()
        self.nodes = ["engine"]
        self.node_of = {a: "engine" for a in eng.cores}
        self.told: list[tuple[str, Any]] = []

    def actors(self) -> list[str]:
        return list(self.eng.cores)

    def query(self, actor: str, timeout_s: float = 2.0) -> dict[str, Any]:
        with self.lock:
            return self.eng.cores[actor].snapshot()  # type: ignore[no-any-return]

    def tell(self, actor: str, msg: Any) -> None:
        with self.lock:
            self.told.append((actor, msg))
            self.eng.send(actor, msg)

    def on_node(self, node: str, cmd: str, args: dict[str, Any], timeout_s: float = 2.0) -> Any:
        if cmd == "actors":
            return {a: {"node": node, "state": "running", "restarts": 0} for a in self.eng.cores}
        return {}

    def risk_state(self) -> str:
        with self.lock:
            return str(self.eng.cores["risk"].snapshot()["state"])


class EngineBackend:
    """The launcher's part: status (with optional extra keys, e.g. ``ha``), the journal."""

    def __init__(self, eng: Any) -> None:
        self.cluster = EngineCluster(eng)
        self.cfg = eng.cfg
        self.journaled: list[tuple[str, dict[str, Any]]] = []
        self.extra_status: dict[str, Any] = {}

    def status(self) -> dict[str, Any]:
        return {"state": "running", "config": str(DEMO_CONF),
                "nodes": {"engine": {"pid": 1, "state": "running", "restarts": 0}},
                **self.extra_status}

    def request_shutdown(self, reason: str) -> None:
        raise AssertionError("the console never shuts a launch down")

    def journal(self, what: str, detail: dict[str, Any]) -> None:
        self.journaled.append((what, detail))

    def commands(self) -> list[tuple[str, dict[str, Any]]]:
        """The state-changing commands the admin executed (views left out)."""
        return [(w, d) for w, d in self.journaled
                if w not in ("pairs", "combos", "actors", "status")]


@dataclass
class Launch:
    backend: EngineBackend
    server: AdminServer | None
    endpoint: str
    keys: Path

    def start(self) -> None:
        """Bind and serve (a test of the wait starts the console first)."""
        core = AdminCore(self.backend)  # type: ignore[arg-type]
        cfg = AdminConfig(enabled=True, server_secret=str(self.keys / "server.key_secret"),
                          allowlist=str(self.keys / "allowlist"))
        self.server = AdminServer(cfg, core.handle, self.endpoint)
        self.server.start()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    keygen(str(d), ["client"])
    return d


@pytest.fixture
def launch(keys: Path, sock_dir: str) -> Iterator[Launch]:
    """A fresh engine (commands change it) behind an admin socket, not started yet."""
    from tests.support.engine_sim import SimEngine

    eng = SimEngine(load_config(None))
    eng.run_to(3000)
    la = Launch(EngineBackend(eng), None, f"ipc://{sock_dir}/admin", keys)
    yield la
    if la.server is not None:
        la.server.stop()


async def until(pilot: Any, cond: Callable[[], bool], what: str, deadline_s: float = 4.0) -> None:
    """Let the app run until ``cond()`` holds; fail naming ``what`` after ``deadline_s``."""
    clock = LiveClock()
    end_ns = clock.mono_ns() + int(deadline_s * 1e9)
    while not cond():
        if clock.mono_ns() > end_ns:
            raise AssertionError(f"not reached in {deadline_s}s: {what}")
        await pilot.pause(0.02)
    await asyncio.sleep(0)
