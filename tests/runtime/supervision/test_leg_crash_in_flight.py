"""A leg executor that crashes with an order in flight, inside a live node (fault catalogue P02):
the supervisor rebuilds it (and its group, one_for_all) from the journal; the rebuilt executor
must find out what became of the order from the venue -- never send it again -- and keep its
fill. Checked against the simulator's own record, not the engine's view.

The launcher in this process, the simulator as its child gateway, real ZeroMQ. A spread is sent
to the combo executor; SHFE answers 150 ms after each request, so its leg's order is still
unanswered when the SHFE executor crashes (three handler errors within the error window,
``FaultHook("raise")``) and the exec group (strategy, combo, both executors) is rebuilt.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from tests.scripts.launch.test_launch_helpers import (
    ONE_NODE,
    combo_of,
    launched,
    sim_truth,
    write_conf,
)
from tests.support.engine_sim import blind_resends, journal_log
from tests.support.helpers import FaultyCore, eventually
from transports.wire.messages import ComboIntent, ExecReport, FaultHook, LegSpec

pytestmark = pytest.mark.e2e
LEG = "leg.shfe"
#: the test's own combo id, far from the strategy's
COMBO = 8_000_001
#: SHFE's one-way latency: the order is unanswered for twice this
SLOW_US = 150_000


def _wrap(name: str, core: Any) -> Any:
    return FaultyCore(core) if name == LEG else core


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield  # overrides conftest's per-test ActorRegistry.stop_all: the launcher stops its own


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[dict[str, Any]]:
    sock_dir = tempfile.mkdtemp(prefix="cmcl-")
    conf = write_conf(tmp_path, sock_dir, ONE_NODE, gateways=True, admin=False,
                      flatten_timeout_s=3.0)
    text = conf.read_text()
    slow = text.replace('name = "shfe"\nlatency_us = 400\n',
                        f'name = "shfe"\nlatency_us = {SLOW_US}\n', 1)
    assert slow != text
    conf.write_text(slow)
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        with launched(conf, _wrap) as launcher:
            yield {"l": launcher, "ctx": ctx, "sock": sock_dir}
    finally:
        ctx.destroy(linger=0)


def _q(e: dict[str, Any]) -> dict[str, Any]:
    return e["l"].cluster.query(LEG)  # type: ignore[no-any-return]


def _combo(e: dict[str, Any]) -> dict[str, Any] | None:
    return e["l"].cluster.query("combo")["combos"].get(COMBO)  # type: ignore[no-any-return]


def test_a_leg_crashed_with_an_order_in_flight_never_resends_it_and_keeps_its_fill(
        engine: dict[str, Any]) -> None:
    e = engine
    cl = e["l"].cluster
    leg_a, leg_b = (f"{e['l'].cfg.run.epoch}.{COMBO}.{k}.0" for k in (0, 1))  # client ids
    eventually(lambda: _q(e)["reconcile"].get("done"), 15)
    eventually(lambda: all(cl.query(b)["valid"] and cl.query(b)["asks"] and cl.query(b)["bids"]
                           for b in ("book.shfe:au2606", "book.comex:GCZ6")), 10)
    ask_a = cl.query("book.shfe:au2606")["asks"][0][0]
    bid_b = cl.query("book.comex:GCZ6")["bids"][0][0]
    sup = e["l"].runtime.supervisor
    restarts = sup.snapshot()["actors"][LEG]["restarts"]
    # a spread of the pair's own clip, each leg an IOC through its touch; then the crash of
    # the SHFE executor, queued behind the combo's order in its inbox
    cl.send("combo", ComboIntent(COMBO, "au-gc", "open", 1, [
        LegSpec("shfe", "au2606", "B", 28, ask_a + 3, float(ask_a)),
        LegSpec("comex", "GCZ6", "S", 9, bid_b - 3, float(bid_b))],
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0))
    eventually(lambda: any(combo_of(c) == COMBO for c in _q(e)["orders"]), 2, step_s=0.001)
    for _ in range(3):
        cl.send(LEG, FaultHook("raise"))
    eventually(lambda: sup.snapshot()["actors"][LEG]["restarts"] > restarts, 5)
    # the crash came before the venue's answer to the SHFE leg (it takes 2 x SLOW_US)
    at_crash = sim_truth(e["ctx"], e["sock"])
    assert not [f for f in at_crash["fills"] if f["cl"] == leg_a]
    eventually(lambda: sup.snapshot()["actors"][LEG]["state"] == "running"
               and _q(e)["reconcile"].get("done"), 15)
    eventually(lambda: (_combo(e) or {}).get("state") in ("complete", "repaired", "failed"), 15)
    truth = sim_truth(e["ctx"], e["sock"])
    sent = [o["cl"] for o in truth["orders"] if combo_of(o["cl"]) == COMBO]
    mine_fills = [f for f in truth["fills"] if combo_of(f["cl"]) == COMBO]
    # no client id reached the venue twice, and the crashed executor's order went once (on a
    # loaded machine the touch may move under the IOCs: the combo then repairs with new
    # attempts, each a client id of its own)
    assert len(set(sent)) == len(sent) and sent.count(leg_a) == 1 and leg_b in sent, sent
    # the rebuilt executor learnt the order's end from the venue and kept its fill
    mine = _q(e)["orders"][leg_a]
    assert mine["state"] == "FILLED"
    assert mine["cum"] == sum(f["qty"] for f in mine_fills if f["cl"] == leg_a) > 0

    def held(leg: int, side: str) -> int:  # the venue's fills of one leg, in the intent's way
        return sum(f["qty"] if f["side"] == side else -f["qty"] for f in mine_fills
                   if f["cl"].split(".")[2] == str(leg))

    # the rebuilt combo holds what the venue filled, leg by leg
    combo = _combo(e)
    assert combo is not None and combo["state"] in ("complete", "repaired"), combo
    assert combo["held"] == [held(0, "B"), held(1, "S")]
    # and a repair it made went only once the leg's earlier orders had ended (the journal)
    log = journal_log(e["l"].run_dir)
    assert any(type(m) is ExecReport and m.combo_id == COMBO for _t, _s, _d, m in log)
    assert blind_resends(log) == []
    # and the executor's position is the venue's once the strategy's own orders are done too
    eventually(lambda: not _q(e)["open"] and _q(e)["positions"].get("au2606", 0)
               == sim_truth(e["ctx"], e["sock"])["positions"].get("shfe-acct", {}).get(
                   "au2606", 0), 15, step_s=0.05)
