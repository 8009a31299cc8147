"""Every live change is a journaled input (issue 11): ``cmc admin set`` sends ``SetParams`` through
the dispatcher to every actor that holds the value, each node keeps the new value in its config
copy, a restarted actor (rebuilt from the journal or fresh) keeps it, the executors deny by a new
limit, and the launch's journal replays identically.

Three levels: the LegExecutor's handler driven directly; one node in this process (its hosts,
journal and supervisor real); a launch with a child node process, the simulator and the admin
socket, driven by the ``cmc admin`` client.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
from click.testing import CliRunner

from actors.leg.executor import LegExecutorCore
from actors.runtime.node_runtime import NodeRuntime
from scripts.admin.client import request
from scripts.cli import main as cli
from scripts.launch.launcher import Launcher, load_launch_config
from scripts.replay.core import Verifier
from tests.scripts.launch.test_launch_helpers import TWO_NODES, write_conf
from tests.support.contracts import MS, au
from tests.support.helpers import eventually
from transports.clock import LiveClock
from transports.config.engine import RiskConfig, load_config, with_overrides
from transports.errors import OpError
from transports.journal.reader import read_journal
from transports.wire.messages import ExecReport, LegOrder, SetParams

AU = au(fee_per_lot=10.0, max_lots_per_order=30, max_position_lots=40)
STRATEGY = "strategy.au-gc"


def _order(combo: int, px: int = 30500) -> LegOrder:
    return LegOrder(combo, 0, 0, "shfe", "au2606", "B", 1, px, "IOC", "entry", 0, 0)


def _denials(out: list[tuple[str, Any]]) -> list[str]:
    return [m.reason for d, m in out if isinstance(m, ExecReport) and d == "combo"
            and m.kind == "denied"]


# --- the executor's pre-trade limits ------------------------------------------------------------


def test_an_executor_denies_by_the_rate_it_was_set_to() -> None:
    leg = LegExecutorCore("leg.shfe", "shfe", "acct", {"au2606": AU}, 1, RiskConfig(), ["combo"],
                          2000)
    ids = itertools.count(1)
    sent = [_denials(leg.handle(_order(next(ids)), 1_000 + i)) for i in range(5)]
    assert sent == [[]] * 5  # 200 a second: five pass
    out = leg.handle(SetParams("risk", {"max_orders_per_s": 2, "max_notional_per_order": 1e9}),
                     2_000)
    assert [(d, m.what) for d, m in out] == [("journal", "set")]
    # what the bucket holds is capped at the new burst: two pass, the third is denied at once
    got = [_denials(leg.handle(_order(next(ids)), 3_000 + i)) for i in range(3)]
    assert got == [[], [], ["rate_limit"]]
    # refilled at 2 a second: one more after half a second
    assert _denials(leg.handle(_order(next(ids)), 3_000 + 500 * MS)) == []
    assert leg.risk.max_orders_per_s == 2 and leg.market.max_notional == 1e9
    out = leg.handle(SetParams("risk", {"price_band_ticks": 5, "max_cancels_per_s": 0}), 4_000)
    ((_, d),) = out
    assert d.what == "set_rejected" and "max_cancels_per_s" in d.detail
    assert leg.risk.price_band_ticks == 0 and leg.market.band == 0  # nothing half-applied
    ((_, d),) = leg.handle(SetParams("pairs.au-gc", {"z_entry": 3.0}), 4_001)
    assert d.what == "set_rejected" and leg.risk.max_orders_per_s == 2


# --- one node in this process -------------------------------------------------------------------


def _journaled(run: Path, dest: str, tag: str) -> list[Any]:
    return [m for _ts, _g, d, m in read_journal(run / "journal.cmcj")
            if d == dest and isinstance(m, list) and m and m[0] == tag]


def _set_decisions(run: Path, actor: str) -> list[str]:
    return [m[2] for m in _journaled(run, "journal", "Decision") if m[1] == actor]


def _core_value(rt: NodeRuntime, actor: str, fn: Any) -> Any:
    return rt.node.host_of(actor).proxy().call(actor, lambda core, now: fn(core)).get(timeout=5)


def test_set_params_reaches_every_holder_through_the_journal_and_a_rebuild_keeps_it(
        runtime: NodeRuntime) -> None:
    rt = runtime
    run = rt.node.run_dir
    told = rt.set_params("pairs.au-gc", {"z_entry": 2.5})
    assert told == {"node": "engine", "told": [STRATEGY]}
    told = rt.set_params("risk", {"max_orders_per_s": 7})
    assert told["told"] == ["risk", "leg.shfe", "leg.comex"]
    # the node's copy: cores built from now on have the new values
    assert rt.cfg.pairs[0].z_entry == 2.5 and rt.node.cfg.risk.max_orders_per_s == 7
    assert rt.supervisor is not None and rt.supervisor.cfg is rt.cfg
    eventually(lambda: rt.node.query(STRATEGY)["params"]["z_entry"] == 2.5, 5)
    for actor in ("risk", "leg.shfe", "leg.comex"):
        eventually(lambda a=actor: _core_value(rt, a, lambda c: c.risk.max_orders_per_s) == 7, 5)
    # journaled as inputs (what replay and a rebuild read) with each holder's verdict
    eventually(lambda: _journaled(run, STRATEGY, "SetParams"), 5)
    eventually(lambda: {"set"} == set(_set_decisions(run, "leg.comex")), 5)
    # invalid: refused whole, nothing told, the copy unchanged
    with pytest.raises(OpError, match="z_exit"):
        rt.set_params("pairs.au-gc", {"z_entry": 0.1})
    assert rt.cfg.pairs[0].z_entry == 2.5
    # a restart rebuilds the strategy from the journal: it replays the set
    assert rt.op("restart", {"actor": STRATEGY}, timeout_s=5.0) == {"restarted": STRATEGY}
    assert rt.node.query(STRATEGY)["params"]["z_entry"] == 2.5
    assert rt.supervisor.snapshot()["rebuilds"], "the restart was not a rebuild"


def test_a_fresh_core_after_a_restart_keeps_the_value_set(tmp_path: Path, sock_dir: str,
                                                          ctx: zmq.Context[Any]) -> None:
    cfg = load_config()
    cfg = with_overrides(cfg, supervision=msgspec.structs.replace(cfg.supervision,
                                                                  rebuild=False))
    run = tmp_path / "run"
    run.mkdir()
    rt = NodeRuntime(cfg, "engine", ctx, LiveClock(), sock_dir, run)
    rt.start()
    try:
        rt.set_params("pairs.au-gc", {"z_entry": 3.5, "min_edge": 1.25})
        rt.set_params("risk", {"max_orders_per_s": 9})
        eventually(lambda: rt.node.query(STRATEGY)["params"]["z_entry"] == 3.5, 5)
        for actor in (STRATEGY, "leg.shfe"):
            rt.op("restart", {"actor": actor}, timeout_s=5.0)
        params = rt.node.query(STRATEGY)["params"]
        assert (params["z_entry"], params["min_edge"]) == (3.5, 1.25)
        assert _core_value(rt, "leg.shfe", lambda c: c.risk.max_orders_per_s) == 9
        assert _core_value(rt, "leg.shfe", lambda c: c.pretrade.bucket.rate_per_s) == 9
        assert rt.supervisor is not None and not rt.supervisor.snapshot()["rebuilds"]
    finally:
        rt.stop()


# --- a launch: child node process, simulator, admin socket -------------------------------------


def _cli(*args: str) -> Any:
    r = CliRunner().invoke(cli, ["admin", *args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)["result"]


def _rate_denied(launcher: Launcher) -> int:
    snap = launcher.cluster.query("leg.shfe")
    return int(snap["counters"]["denied"].get("rate_limit", 0))


def _burst(launcher: Launcher, combos: range, far_px: int) -> None:
    """Send one resting buy per combo id to leg.shfe at once; wait until it has them all."""
    for c in combos:
        launcher.cluster.send("leg.shfe", LegOrder(c, 0, 0, "shfe", "au2606", "B", 1, far_px,
                                                   "GTC", "entry", 0, 0))
    eventually(lambda: sum(f".{c}.0.0" in cl for c in combos
                           for cl in launcher.cluster.query("leg.shfe")["orders"]) == len(combos),
               10)


@pytest.mark.e2e
def test_admin_set_on_a_launch_is_journaled_kept_and_enforced(tmp_path: Path) -> None:
    sock_dir = tempfile.mkdtemp(prefix="cmcs-")
    conf = write_conf(tmp_path, sock_dir, TWO_NODES, gateways=True, admin=True,
                      flatten_timeout_s=3.0)
    launcher = Launcher(str(conf), load_launch_config(str(conf)), quiet=True)
    try:
        launcher.start()
        q = launcher.cluster.query
        ep, keys = launcher.admin_endpoint, str(tmp_path / "keys")
        opts = ("--endpoint", ep, "--keys", keys)
        eventually(lambda: q("leg.shfe").get("reconcile", {}).get("done"), 15)
        eventually(lambda: q("book.shfe:au2606")["valid"] and q("book.shfe:au2606")["bids"], 15)
        eventually(lambda: q(STRATEGY)["intents"] >= 1, 30, step_s=0.1)  # it decided with 2.0
        # z_entry out of reach: from the next decision on the strategy opens nothing, and a
        # replay that missed the change would open where the launch did not
        res = _cli("set", "pairs.au-gc.z_entry", "1000", *opts)
        assert res["applied_to"] == [STRATEGY] and res["previous"] == 2.0
        res = _cli("set", "risk.max_orders_per_s", "2", *opts)
        assert res["applied_to"] == ["leg.comex", "leg.shfe", "risk"]
        eventually(lambda: q(STRATEGY)["params"]["z_entry"] == 1000.0, 5)
        far = q("book.shfe:au2606")["bids"][0][0] - 2000  # rests until the shutdown cancels it
        before = _rate_denied(launcher)
        _burst(launcher, range(7_000_001, 7_000_007), far)
        # a burst of six within milliseconds against 2 a second: at least four denied
        assert _rate_denied(launcher) - before >= 4
        # restart the strategy (its supervision group: combo and both executors too)
        reply = request(ep, keys, "restart", {"actor": STRATEGY}, timeout_s=10)
        assert reply["ok"], reply
        assert q(STRATEGY)["params"]["z_entry"] == 1000.0
        eventually(lambda: q("leg.shfe").get("reconcile", {}).get("done"), 15)
        before = _rate_denied(launcher)
        _burst(launcher, range(7_000_011, 7_000_017), far)
        assert _rate_denied(launcher) - before >= 4  # the restarted executor kept the limit
        got = request(ep, keys, "get", {"key": "risk.max_orders_per_s"}, timeout_s=5)
        assert got["result"] == {"risk.max_orders_per_s": 2}
    finally:
        launcher.request_shutdown("test over")
        launcher.shutdown()
    run = Path(launcher.run_dir)
    sets = [m for _ts, _g, d, m in read_journal(run / "journal.cmcj")
            if isinstance(m, list) and m and m[0] == "SetParams"]
    assert ["SetParams", "pairs.au-gc", {"z_entry": 1000}] in sets
    assert sum(m == ["SetParams", "risk", {"max_orders_per_s": 2}] for m in sets) == 3
    res = Verifier(run).run()
    assert res["status"] == "identical", res["divergence"]
