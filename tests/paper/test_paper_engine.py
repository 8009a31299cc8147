"""The engine trades a paper venue: the demo's pair with its foreign leg on ``comex-paper``
(paper fills on the simulator's ``comex`` market data). The engine cannot tell: it opens combos,
and every fill it recorded is one the paper venue made (and the other way round)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

import kernels
from actors.runtime.instruments import check_instruments
from actors.runtime.node import Node
from tests.paper.confs import PAPER, paper_conf
from tests.paper.world import CLOCK, World, deadline
from transports.clock import sleep_s
from transports.config.engine import load_config
from transports.journal.reader import read_journal
from transports.venues.paper.gateway import sim_view
from transports.wire.messages import ExecReport, Flatten, Halt


def _wait(pred: Any, timeout_s: float) -> bool:
    end = deadline(timeout_s)
    while CLOCK.mono_ns() < end:
        if pred():
            return True
        sleep_s(0.05)
    return bool(pred())


@pytest.mark.e2e
def test_the_engine_trades_the_paper_venue_and_its_fills_are_the_paper_venues(
        tmp_path: Path, sock_dir: str, ctx: zmq.Context[Any]) -> None:
    cfg = load_config(paper_conf(tmp_path / "paper.toml", trade_paper=True))
    assert cfg.pairs[0].leg_b == f"{PAPER}:GCZ6"
    kernels.warm_up()
    # the simulator runs the config without the paper venue, the pair's leg on comex again
    w = World(cfg, sim_view(cfg), sock_dir)
    node: Node | None = None
    try:
        w.start_sim()
        w.start_paper()
        assert check_instruments(cfg, ctx, sock_dir)[PAPER] == 1
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        node = Node(cfg, "engine", ctx, CLOCK, sock_dir, run_dir)
        node.start()

        def combos() -> int:
            assert node is not None
            return int(node.query("combo").get("counters", {}).get("combos", 0))

        assert _wait(lambda: combos() >= 2, 60), "no combo on the paper venue"
        node.tell("strategy.au-gc", Flatten("test"))

        def flat() -> bool:
            assert node is not None
            s = node.query("strategy.au-gc")
            return s["pending"] is None and s["pos_dir"] == 0

        assert _wait(flat, 15)
        node.tell("risk", Halt("test"))
        leg = node.query(f"leg.{PAPER}")
        journal = node.journal_path
    finally:
        if node is not None:
            node.stop()
        truth = w.stop_paper() if "paper" in {t.name for t in w.threads} else {}
        w.close()
    assert journal is not None
    engine = set()
    for _ts, _group, dest, msg in read_journal(journal):
        if dest == "risk" and isinstance(msg, list) and msg and msg[0] == "ExecReport":
            rep = msgspec.convert(msg, ExecReport)
            if rep.kind == "fill" and rep.venue == PAPER:
                engine.add((rep.cl, rep.trade_id, rep.px_ticks, rep.qty_lots))
    account = next(v.account for v in cfg.venues if v.name == PAPER)
    venue = {(f["cl"], f["tid"], f["px"], f["qty"]) for f in truth["fills"]
             if f["account"] == account}
    assert engine, "the engine recorded no fill on the paper venue"
    assert engine <= venue, f"fills the paper venue never made: {sorted(engine - venue)[:3]}"
    assert venue == engine, f"fills the engine never saw: {sorted(venue - engine)[:3]}"
    assert truth["counts"]["duplicate_client_ids"] == 0
    net = sum(q if side == "B" else -q for (side, q) in
              ((f["side"], f["qty"]) for f in truth["fills"] if f["account"] == account))
    assert truth["positions"][account]["GCZ6"] == net == leg["positions"].get("GCZ6", net)


def test_the_simulators_view_of_a_config_with_paper_venues(tmp_path: Path) -> None:
    cfg = load_config(paper_conf(tmp_path / "paper.toml", trade_paper=True))
    demo = load_config(None)
    view = sim_view(cfg)
    assert [v.name for v in view.venues] == [v.name for v in demo.venues]
    assert view.contracts == demo.contracts and view.pairs == demo.pairs
    assert sim_view(demo) is demo
