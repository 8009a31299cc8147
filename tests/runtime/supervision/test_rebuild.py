"""Rebuilding restarted actors from the journal, on a real node (real hosts, real journal file,
no venue): the journal tail reader, epoch moves, and risk rebuilt after a crash and after its
host died — with ``cmc replay --verify`` reading the restart markers the way the live rebuild
acted; and the fallback to a fresh core when the journal cannot be read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from actors.journal import read_journal
from actors.leg.executor import LegExecutorCore
from actors.runtime.node_runtime import NodeRuntime
from actors.runtime.rebuild.rebuild import adopt
from scripts.replay.core import Verifier, build_cores
from tests.support.helpers import FaultyCore, eventually
from transports.config.engine import load_config
from transports.journal.format import T_BATCH, encode_record
from transports.journal.reader import JournalTail
from transports.journal.writer import JournalOptions, JournalWriter
from transports.wire.messages import ExecReport, FaultHook, Halt, LegOrder

S = 1_000_000_000


def test_the_tail_reader_follows_a_journal_being_written_across_segments(tmp_path: Path) -> None:
    w = JournalWriter.open(tmp_path / "journal.cmcj", run_id="r", cfg_hash="",
                           options=JournalOptions(rotate_daily=False, rotate_bytes=1 << 20))
    tail = JournalTail(tmp_path)
    assert tail.poll() == []
    for i in range(3):
        w.append_batch(i + 1, "g", [("@group", "a", Halt("x" + str(i)))])
    assert [f.index for f in tail.poll()] == [0, 1, 2]
    path = w.rotate("admin", 10)
    assert path.name == "journal-1.cmcj"
    w.append_batch(11, "g", [("@group", "a", Halt("y"))])
    frames = tail.poll()
    assert [f.index for f in frames] == [3, 4] and frames[0].rtype != T_BATCH  # the SEAL
    # half a record written: not returned until it is complete
    frame = encode_record(T_BATCH, w.prev, b"\x93\x0c\xa1g\x90")
    os.write(w.fd, frame[:10])
    assert tail.poll() == []
    os.write(w.fd, frame[10:])
    assert [f.index for f in tail.poll()] == [5]


def test_adopt_moves_id_counters_to_the_new_epoch_and_keeps_old_orders_duplicates() -> None:
    cfg = load_config()
    risk_cfg = cfg.risk

    def build(actor: str, epoch: int) -> Any:
        core = build_cores(cfg, [actor])[actor] if epoch == cfg.run.epoch else \
            build_cores(_epoch(cfg, epoch), [actor])[actor]
        if actor.startswith("leg."):
            core.reconcile_at_start(1000)  # as the node's ``wrap_leg``
        return core

    strat = build("strategy.au-gc", 1)
    strat.combo_seq += 7  # seven intents made in epoch 1
    moved = adopt(build, "strategy.au-gc", strat, 1, 3)
    assert moved.combo_seq == 3 * S + 7  # pair index 0; the sequence continues
    leg: LegExecutorCore = build("leg.shfe", 1)
    order = LegOrder(1 * S + 5, 0, 0, "shfe", "au2606", "B", 1, 30000, "IOC", "entry", 0, 0)
    _reconcile(leg, 0)  # reconciled long ago
    assert any(type(m).__name__ == "NewOrder" for _, m in leg.handle(order, 1 * S))
    rebuilt = adopt(build, "leg.shfe", leg, 1, 2)
    # the same executor, moved to epoch 2, shut until it reconciles again
    assert rebuilt is leg and leg.gate == "reconciling"
    early = leg.handle(LegOrder(9, 0, 0, "shfe", "au2606", "B", 1, 30000, "IOC", "entry", 0, 0),
                       2 * S)
    assert [m.reason for _, m in early if type(m).__name__ == "ExecReport"] == ["reconciling"] * 2
    assert leg.epoch == 2 and leg.prior == {f"{S + 5}.0.0": 1}
    _reconcile(leg, 2 * S)
    assert leg.gate == "" and leg.snapshot()["reconcile"]["count"] == 2
    again = leg.handle(order, 2 * S)  # the same combo/leg/attempt: refused, not re-sent
    assert not any(type(m).__name__ == "NewOrder" for _, m in again)
    assert leg.denied.get("duplicate_cl") == 1 and risk_cfg is cfg.risk


def _reconcile(leg: LegExecutorCore, now: int) -> None:
    """Start ``leg`` and answer its reconciliation: no open orders, trades or positions."""
    from transports.wire.venue_msgs import OpenOrders, Positions, Trades

    leg.on_start(now)
    for reply in (OpenOrders(list=[]), Trades(list=[]), Positions(list=[])):
        leg.handle(reply, now)
    assert leg.snapshot()["reconcile"]["done"]


def _epoch(cfg: Any, epoch: int) -> Any:
    from actors.runtime.supervisor import with_epoch

    return with_epoch(cfg, epoch)




def _fill(i: int, sym: str, side: str, px: int, qty: int) -> ExecReport:
    venue = "shfe" if sym == "au2606" else "comex"
    return ExecReport(venue, f"1.{i}.0.0", i, 0, 0, sym, side, "fill", "FILLED",  # type: ignore[arg-type]
                      px, qty, qty, 0, 0.25, f"t{i}", "", i, i)


def _money(rt: NodeRuntime) -> dict[str, Any]:
    r = rt.node.query("risk")
    return {k: r[k] for k in ("positions", "cash", "fees", "fills", "state")}


def _supervisor(rt: NodeRuntime, what: str) -> list[dict[str, Any]]:
    return [json.loads(m[3]) for _t, _g, _d, m in read_journal(rt.node.run_dir)
            if isinstance(m, list) and m[:3] == ["Decision", "supervisor", what]]


def test_risk_is_rebuilt_after_a_crash_and_after_its_host_died(runtime: NodeRuntime) -> None:
    rt = runtime
    sup = rt.supervisor
    assert sup is not None
    fills = [_fill(1, "au2606", "B", 30000, 3), _fill(2, "GCZ6", "S", 26000, 1),
             _fill(3, "au2606", "S", 30010, 1)]
    for f in fills:
        rt.node.send("risk", f)
    rt.node.send("risk", Halt("test"))
    eventually(lambda: rt.node.query("risk")["fills"] == 3 and
               rt.node.query("risk")["state"] == "HALTED")
    before = _money(rt)
    assert before["positions"] == {"shfe:au2606": 2, "comex:GCZ6": -1} and before["cash"]
    for _ in range(3):
        rt.node.send("risk", FaultHook("raise"))
    eventually(lambda: len(sup.snapshot()["rebuilds"]) == 1, 5)
    assert _money(rt) == before  # a fresh risk would be ACTIVE, flat, without cash
    old = rt.node.hosts["risk"]
    old.stop()  # its thread ends: the host is rebuilt, the cores from the journal
    eventually(lambda: rt.node.hosts["risk"] is not old and len(sup.snapshot()["rebuilds"]) == 2,
               5)
    assert _money(rt) == before
    rt.node.send("risk", _fill(4, "au2606", "S", 30020, 2))  # and it goes on from there
    eventually(lambda: rt.node.query("risk")["positions"]["shfe:au2606"] == 0)
    rebuilt = _supervisor(rt, "rebuilt")
    assert [r["host"] for r in rebuilt] == ["risk", "risk"] and rebuilt[0]["errors"] >= 3
    assert all(not {"positions", "cash", "state"} & set(r["differs"]["risk"]) for r in rebuilt)
    print(f"\nrisk rebuilt: {[(r['records'], r['items'], r['total_ms']) for r in rebuilt]} "
          "(records read, items replayed, ms)")
    rt.stop()
    # the replay reads the markers as the rebuild acted: identical, through both restarts
    res = Verifier(rt.node.run_dir, groups=["risk"],
                   wrap=lambda a, c: FaultyCore(c) if a == "risk" else c).run()
    assert res["status"] == "identical", res["divergence"]


def test_without_a_readable_journal_a_restart_is_fresh_and_says_so(runtime: NodeRuntime) -> None:
    rt = runtime
    sup = rt.supervisor
    assert sup is not None
    rt.node.send("risk", _fill(1, "au2606", "B", 30000, 2))
    eventually(lambda: rt.node.query("risk")["fills"] == 1)
    journal = rt.node.run_dir / "journal.cmcj"
    hidden = journal.with_name("hidden.cmcj")
    journal.rename(hidden)  # the writer keeps its descriptor; a reader finds nothing
    try:
        for _ in range(3):
            rt.node.send("risk", FaultHook("raise"))
        eventually(lambda: sup.snapshot()["actors"]["risk"]["restarts"] == 1
                   and sup.snapshot()["actors"]["risk"]["state"] == "running", 5)
        assert rt.node.query("risk")["positions"] == {}  # fresh
        assert sup.snapshot()["rebuilds"] == []
    finally:
        rt.stop()
        hidden.rename(journal)
    why = _supervisor(rt, "rebuild_unavailable")
    assert why and why[0]["actors"] == ["risk"] and "no journal" in why[0]["reason"]
