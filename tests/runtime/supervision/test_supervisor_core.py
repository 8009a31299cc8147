"""The Supervisor's pure core (OTP policies, intensity, escalation) and a supervised
LegExecutor's reconciliation at start."""

from __future__ import annotations

import pytest

from actors.leg.executor import LegExecutorCore
from actors.leg.orders import LegTimer
from actors.runtime.supervisor import SupervisorCore, raised_in_on_start, wrap_leg
from transports.config.engine import load_config
from transports.config.ops import GroupPolicy, SupervisionConfig
from transports.wire.messages import ExecReport, LegOrder, SetTimer, Timer
from transports.wire.venue_msgs import (
    CancelReq,
    NewOrder,
    OpenOrderRecord,
    OpenOrders,
    OpenOrdersReq,
    PositionRecord,
    Positions,
    PositionsReq,
    Trades,
    TradesReq,
)

S = 1_000_000_000
ACTORS = ["a", "b", "c", "d"]


def _core(strategy: str, max_restarts: int = 2, period_s: float = 10.0,
          errors_to_crash: int = 3) -> SupervisorCore:
    cfg = SupervisionConfig(groups=[GroupPolicy(name="g", actors=["a", "b", "c"],
                                                strategy=strategy,  # type: ignore[arg-type]
                                                max_restarts=max_restarts, period_s=period_s)],
                            errors_to_crash=errors_to_crash, error_window_s=1.0)
    return SupervisorCore(cfg, ACTORS)


@pytest.mark.parametrize(("strategy", "crashed", "restarted"), [
    ("one_for_one", "b", ("b",)),
    ("one_for_all", "b", ("a", "b", "c")),
    ("rest_for_one", "b", ("b", "c")),
    ("rest_for_one", "a", ("a", "b", "c")),
])
def test_policies_choose_the_children_to_restart(strategy: str, crashed: str,
                                                 restarted: tuple[str, ...]) -> None:
    core = _core(strategy)
    acts = core.crash(crashed, 1 * S, "boom")
    assert [(a.kind, a.actors) for a in acts] == [("restart", restarted)]
    assert all(core.status[x]["state"] == "restarting" for x in restarted)
    core.started(restarted)
    assert all(core.status[x]["state"] == "running" for x in restarted)


def test_an_actor_in_no_group_is_supervised_alone() -> None:
    acts = _core("one_for_all").crash("d", 1 * S, "boom")
    assert [(a.kind, a.actors) for a in acts] == [("restart", ("d",))]


def test_errors_become_a_crash_only_when_frequent_or_in_on_start() -> None:
    core = _core("one_for_one")
    assert core.on_error("a", 0, "e1") == []
    assert core.on_error("a", int(1.5 * S), "e2") == []  # the first one left the 1 s window
    assert core.on_error("a", int(1.6 * S), "e3") == []
    acts = core.on_error("a", int(1.7 * S), "e4")
    assert acts[0].kind == "restart" and "3 errors" in acts[0].reason
    assert core.on_error("b", 2 * S, "bad start", in_start=True)[0].kind == "restart"


def test_past_the_intensity_the_group_escalates_once_and_is_left_alone() -> None:
    core = _core("one_for_one", max_restarts=2, period_s=10.0)
    assert core.crash("a", 1 * S, "x")[0].kind == "restart"
    assert core.crash("a", 2 * S, "x")[0].kind == "restart"
    acts = core.crash("b", 3 * S, "x")  # third crash of the group within 10 s
    assert [a.kind for a in acts] == ["escalate"]
    assert "more than 2 restarts in 10s" in acts[0].reason
    assert core.status["a"]["state"] == "failed"
    assert core.crash("a", 4 * S, "x") == []
    assert core.snapshot()["groups"]["g"]["escalated"]


def test_restarts_older_than_the_period_do_not_count() -> None:
    core = _core("one_for_one", max_restarts=1, period_s=10.0)
    assert core.crash("a", 1 * S, "x")[0].kind == "restart"
    assert core.crash("a", 12 * S, "x")[0].kind == "restart"
    assert core.crash("a", 13 * S, "x")[0].kind == "escalate"


def test_zero_intensity_escalates_on_the_first_crash() -> None:
    core = _core("one_for_one", max_restarts=0)
    assert core.crash("a", 1 * S, "x")[0].kind == "escalate"


def test_a_dead_host_counts_once_per_group_and_is_rebuilt() -> None:
    core = _core("one_for_all")
    acts = core.host_dead("h", ["a", "b", "d"], 1 * S)
    # group g restarts its child c (on another host); the host (a, b, d) is rebuilt
    assert [(a.kind, a.actors) for a in acts] == [("restart", ("c",)),
                                                  ("restart_host", ("a", "b", "d"))]
    assert len(core.groups["g"].restarts) == 1 and len(core.groups["d"].restarts) == 1


def test_a_host_that_dies_again_and_again_is_rebuilt_later_and_later() -> None:
    # P03: a host dying on every rebuild (a cause no rebuild mends) was rebuilt at the
    # heartbeat's pace for good; past three deaths a minute each rebuild waits twice as long
    core = _core("one_for_all")

    def delay_at(t_s: float) -> int:
        (act,) = [a for a in core.host_dead("h", ["d"], int(t_s * S)) if a.kind == "restart_host"]
        return act.delay_ns

    assert [delay_at(t) for t in (1, 2, 3)] == [0, 0, 0]
    assert [delay_at(t) for t in (4, 5, 6)] == [S // 2, S, 2 * S]
    assert [delay_at(10 + k) for k in range(8)][-1] == 30 * S  # at most 30 s
    assert "rebuilt in 30 s" in next(a.reason for a in core.host_dead("h", ["d"], 19 * S)
                                     if a.kind == "restart_host")
    # a minute without deaths: at once again
    assert delay_at(200) == 0


def test_a_hung_host_escalates_and_exits_by_config() -> None:
    core = _core("one_for_one")
    assert [a.kind for a in core.host_hung("h", ["a"], 1 * S)] == ["escalate", "exit"]
    halt_only = SupervisorCore(SupervisionConfig(on_hung="halt"), ACTORS)
    assert [a.kind for a in halt_only.host_hung("h", ["a"], 1 * S)] == ["escalate"]


def test_an_operator_restart_does_not_count_against_the_intensity() -> None:
    core = _core("one_for_one", max_restarts=1)
    for _ in range(5):
        assert core.manual("a")[0].actors == ("a",)
    assert core.crash("a", 1 * S, "x")[0].kind == "restart"


def test_raised_in_on_start_reads_the_traceback() -> None:
    class C:
        def on_start(self) -> None:
            raise RuntimeError("x")

    with pytest.raises(RuntimeError) as e1:
        C().on_start()
    assert raised_in_on_start(e1.value)
    try:
        raise ValueError("y")
    except ValueError as exc:
        assert not raised_in_on_start(exc)


# --- the supervised LegExecutor's reconciliation at start ------------------------------------

CFG = load_config(None)


def _leg() -> LegExecutorCore:
    contracts = {c.sym: c for c in CFG.contracts if c.venue == "shfe"}
    inner = LegExecutorCore("leg.shfe", "shfe", "shfe-acct", contracts, 3, CFG.risk,
                            ["combo", "risk"], 2000)
    core = wrap_leg("leg.shfe", inner, CFG)
    assert core is inner and inner.reconciler.at_start  # its own reconciliation, no wrapper
    return core


def _order(combo: int) -> LegOrder:
    return LegOrder(combo, 0, 0, "shfe", "au2606", "B", 1, 30000, "IOC", "entry", 0, 0)


def test_reconciler_denies_orders_until_the_venue_state_is_adopted() -> None:
    leg = _leg()
    out = leg.on_start(1 * S)
    # one request of each: the supervised executor has one reconciliation
    assert [type(m) for _, m in out if _ == "@oe"] == [OpenOrdersReq, TradesReq, PositionsReq]
    denied = leg.handle(_order(1), 1 * S)
    assert not any(isinstance(m, NewOrder) for _, m in denied)
    assert [m.reason for _, m in denied if isinstance(m, ExecReport)] == ["reconciling"] * 2
    assert leg.trading_state == "ACTIVE"  # the gate, not the trading state
    # an orphan order from the previous incarnation is cancelled, then the list asked again
    orphan = OpenOrderRecord(cl="2.5.0.0", oid="o1", sym="au2606", side="B", px=1, qty=1, cum=0)
    out = leg.handle(OpenOrders(list=[orphan]), 2 * S)
    assert [type(m) for _, m in out] == [CancelReq, OpenOrdersReq]
    assert leg.handle(Trades(list=[]), 2 * S) == []
    assert leg.handle(Positions(list=[PositionRecord("au2606", -28)]), 2 * S) == []
    out = leg.handle(OpenOrders(list=[]), 3 * S)
    assert ("@timer", SetTimer(LegTimer.RECONCILE, 0)) in out
    assert leg.snapshot()["reconcile"]["done"] and leg.positions == {"au2606": -28}
    assert leg.snapshot()["reconcile"]["denied_before"] == 1
    sent = leg.handle(_order(2), 4 * S)
    assert any(isinstance(m, NewOrder) for _, m in sent)
    assert leg.snapshot()["reconcile"]["cancelled"] == ["2.5.0.0"]


def test_reconciler_asks_again_when_the_venue_is_silent() -> None:
    leg = _leg()
    leg.on_start(1 * S)
    out = leg.handle(Timer(LegTimer.RECONCILE, 4 * S), 4 * S)
    assert [type(m) for _, m in out if _ == "@oe"] == [OpenOrdersReq, TradesReq, PositionsReq]
    assert leg.reconciler.rounds == 2 and not leg.snapshot()["reconcile"]["done"]
