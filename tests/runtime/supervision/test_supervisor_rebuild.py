"""Restarted actors rebuilt from the journal, a hung host replaced, and ``rotate-journal``, on a
live engine: the launcher in this process, the simulator as its child gateway, real ZeroMQ, the
real journal. The scenarios run in order on one engine:

1. a strategy holding a position and risk holding positions and PnL crash (injected handler
   errors) and come back holding the same, while nothing reaches the venue;
2. ``rotate-journal`` through the admin socket starts a new segment, the chain intact;
3. a host whose handler blocks is detected by the watchdog, abandoned and rebuilt, and trading
   resumes; the stuck thread ends once released, having done nothing more.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from actors.journal import read_journal
from scripts.admin.client import request
from tests.scripts.launch.test_launch_helpers import (
    ONE_NODE,
    combo_of,
    launched,
    sim_truth,
    write_conf,
)
from tests.support.helpers import FaultyCore, eventually
from transports.clock import LiveClock
from transports.journal.intent_wal import read_intents
from transports.journal.reader import JournalReader
from transports.wire.messages import FaultHook

pytestmark = pytest.mark.e2e
CLOCK = LiveClock()
STRATEGY = "strategy.au-gc"
RELEASE = threading.Event()  #: a blocked handler waits on this


def _wrap(name: str, core: Any) -> Any:
    return FaultyCore(core, release=RELEASE) if name in (STRATEGY, "risk") else core


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield  # the engine lives for the module (overrides conftest's per-test stop_all)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("rebuild")
    sock_dir = tempfile.mkdtemp(prefix="cmcr-")
    conf = write_conf(tmp, sock_dir, ONE_NODE, gateways=True, admin=True, on_hung="replace",
                      flatten_timeout_s=3.0)
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        with launched(conf, _wrap) as launcher:
            try:
                yield {"l": launcher, "ctx": ctx, "sock": sock_dir, "keys": str(tmp / "keys"),
                       "ep": launcher.admin_endpoint, "run": launcher.run_dir}
            finally:
                RELEASE.set()  # a blocked handler must end before the shutdown waits for it
    finally:
        ctx.destroy(linger=0)


def _admin(e: dict[str, Any], cmd: str, **args: Any) -> Any:
    reply = request(e["ep"], e["keys"], cmd, args, timeout_s=5)
    assert reply["ok"], reply
    return reply["result"]


def _q(e: dict[str, Any], actor: str) -> dict[str, Any]:
    return e["l"].cluster.query(actor)  # type: ignore[no-any-return]


def _sup(e: dict[str, Any]) -> dict[str, Any]:
    return e["l"].runtime.supervisor.snapshot()  # type: ignore[no-any-return]


def _decisions(e: dict[str, Any], what: str) -> list[dict[str, Any]]:
    return [json.loads(m[3]) for _ts, _g, _d, m in read_journal(e["run"])
            if isinstance(m, list) and m[0] == "Decision" and m[1] == "supervisor"
            and m[2] == what]


def _held(e: dict[str, Any]) -> dict[str, Any]:
    """What the strategy and risk hold that only they know (not the venue)."""
    s, r = _q(e, STRATEGY), _q(e, "risk")
    return {"strategy": {k: s[k] for k in ("pos_dir", "pos_a_lots", "pos_b_lots", "pending",
                                           "intents", "halted", "trading")},
            "risk": {k: r[k] for k in ("state", "positions", "cash", "fees", "fills",
                                       "combos", "state_changes")}}


def _crash(e: dict[str, Any], actor: str) -> None:
    for _ in range(3):  # three handler errors within a second: a crash
        e["l"].cluster.tell(actor, FaultHook("raise"))


def test_restarted_strategy_and_risk_hold_what_they_held(engine: dict[str, Any]) -> None:
    e = engine
    # trade until the strategy holds a position, then halt so nothing changes it any more
    for _ in range(10):
        eventually(lambda: _q(e, STRATEGY)["pos_dir"] != 0, 30, step_s=0.002)
        _admin(e, "halt", reason="freeze the position")
        eventually(lambda: _q(e, STRATEGY)["pending"] is None and not any(
            _q(e, leg)["open"] for leg in ("leg.shfe", "leg.comex")), 5)
        if _q(e, STRATEGY)["pos_dir"] != 0:
            break
        _admin(e, "resume")  # it closed in between: try the next one
    before = _held(e)
    assert before["strategy"]["pos_dir"] != 0 and before["risk"]["positions"]
    assert before["risk"]["state"] == "HALTED" and before["risk"]["cash"]
    orders_before = sim_truth(e["ctx"], e["sock"])["orders"]
    t0 = CLOCK.mono_ns()
    _crash(e, STRATEGY)
    _crash(e, "risk")

    def back() -> bool:
        st = _sup(e)
        return all(st["actors"][a]["restarts"] >= 1 and st["actors"][a]["state"] == "running"
                   for a in (STRATEGY, "risk")) and len(st["rebuilds"]) >= 2

    eventually(back, 5, step_s=0.002)
    back_ms = (CLOCK.mono_ns() - t0) / 1e6
    after = _held(e)
    # a fresh risk would say ACTIVE with no positions; a fresh strategy would be flat
    assert after == before
    eventually(lambda: _q(e, "leg.comex")["reconcile"]["done"], 3)
    orders_after = sim_truth(e["ctx"], e["sock"])["orders"]
    assert orders_after == orders_before, "an order reached the venue during the rebuild"
    rebuilt = _decisions(e, "rebuilt")
    assert {a for r in rebuilt for a in r["actors"]} >= {STRATEGY, "risk", "combo", "leg.shfe"}
    keys = {"pos_dir", "pos_a_lots", "pos_b_lots", "positions", "cash", "fees", "state"}
    for r in rebuilt:  # the self-check: rebuilt against old core, in the host's thread
        for actor, differs in r["differs"].items():
            assert not keys & set(differs), (actor, differs)
    hot = next(r for r in rebuilt if r["host"] == "hot")
    print(f"\ncrash of strategy and risk -> both rebuilt and running: {back_ms:.0f} ms; "
          f"hot group: {hot['records']} journal records read, {hot['items']} items replayed, "
          f"phase 1 {hot['phase1_ms']:.0f} ms, catch-up in the host {hot['catch_up_ms']:.1f} ms,"
          f" total {hot['total_ms']:.0f} ms; differs {hot['differs']}")


def test_rotate_journal_through_the_admin_socket(engine: dict[str, Any]) -> None:
    e = engine
    first = _admin(e, "rotate-journal")
    second = _admin(e, "rotate-journal")
    assert Path(first["path"]).is_file() and first["path"].endswith(f"-{first['segment']}.cmcj")
    assert second["segment"] == first["segment"] + 1
    # the chain runs across the segments; the command is journaled in the new one
    eventually(lambda: any(m[2] == "rotate-journal" and json.loads(m[3])["ok"]
                           for _t, _g, _d, m in read_journal(e["run"])
                           if isinstance(m, list) and m[0] == "Decision" and m[1] == "admin"), 3)
    reader = JournalReader(e["run"])
    frames = list(reader)
    assert len(reader.metas) >= 3 and frames
    assert [s["reason"] for s in reader.seals][-2:] == ["admin", "admin"]


def test_a_hung_host_is_replaced_and_trading_resumes(engine: dict[str, Any]) -> None:
    e = engine
    node = e["l"].runtime.node
    _admin(e, "resume")
    eventually(lambda: _q(e, "risk")["state"] == "ACTIVE", 3)
    old = node.hosts["hot"]
    restarts = _sup(e)["actors"][STRATEGY]["restarts"]
    intents = _q(e, STRATEGY)["intents"]
    assert intents > 0
    sup_cfg = e["l"].cfg.supervision
    t0 = CLOCK.mono_ns()
    e["l"].cluster.tell(STRATEGY, FaultHook("block"))  # the hot host's thread is now stuck
    eventually(lambda: node.hosts["hot"] is not old and node.hosts["hot"].is_alive(),
               (sup_cfg.heartbeat_timeout_ms + 4 * sup_cfg.heartbeat_ms) / 1000 + 2, 0.002)
    replaced_ms = (CLOCK.mono_ns() - t0) / 1e6
    assert _sup(e)["actors"][STRATEGY]["restarts"] == restarts + 1
    zombie = next(t for t in threading.enumerate() if t.name == "host-hot-abandoned")
    new_epoch = max(r["epoch"] for r in _decisions(e, "rebuilt"))
    assert _q(e, STRATEGY)["intents"] >= intents  # rebuilt: a fresh strategy would say 0
    eventually(lambda: _q(e, "leg.shfe")["reconcile"]["done"], 5)

    def traded() -> bool:  # an order of the rebuilt host reached the venue
        return any(combo_of(o["cl"]) >= new_epoch * 1_000_000_000
                   for o in sim_truth(e["ctx"], e["sock"])["orders"])

    eventually(traded, 30, step_s=0.1)
    resumed_ms = (CLOCK.mono_ns() - t0) / 1e6
    # the new host's executors make their order intents durable too (the node's WAL)
    sent = {o["cl"] for o in sim_truth(e["ctx"], e["sock"])["orders"]
            if combo_of(o["cl"]) >= new_epoch * 1_000_000_000}
    wal = {order["cl"] for _t, _a, order in read_intents(e["run"] / "intents-engine.cmcw")}
    assert sent <= wal
    RELEASE.set()  # the stuck handler returns into an unplugged host; its thread ends
    eventually(lambda: not zombie.is_alive(), 3)
    assert not any("HostAbandoned" in str(m) for _t, _g, _d, m in read_journal(e["run"]))
    abandoned = _decisions(e, "abandoned")
    assert abandoned and abandoned[-1]["host"] == "hot"
    assert abandoned[-1]["stuck_in"] == f"{STRATEGY}: FaultHook"
    # L06: what the venues sent the abandoned host's sockets (acks, fills, dones queued there)
    # died with them; the new executors' reconciliation recovered it: at a quiet moment each
    # executor holds exactly the venue's position
    def agree() -> bool:
        venue = sim_truth(e["ctx"], e["sock"])["positions"]
        return all(_q(e, f"leg.{v}")["positions"].get(sym, 0)
                   == venue.get(f"{v}-acct", {}).get(sym, 0) and not _q(e, f"leg.{v}")["open"]
                   for v, sym in (("shfe", "au2606"), ("comex", "GCZ6")))

    eventually(agree, 20, step_s=0.05)
    print(f"\nhung hot host: replaced {replaced_ms:.0f} ms after the blocking message "
          f"(heartbeat {sup_cfg.heartbeat_ms} ms, timeout {sup_cfg.heartbeat_timeout_ms} ms); "
          f"first order of the new host {resumed_ms / 1e3:.1f} s after it")
