"""A venue frame the executor cannot read is never silent (issue 12, failure 1).

The core is driven directly with integer clocks; the shell's ``decode`` is checked on a real
garbled frame. What each test proves is in its docstring."""

from __future__ import annotations

from actors.leg.executor import LegExecutorCore
from actors.risk.risk import RiskCore
from actors.runtime.shells.venue_shell import LegShell
from tests.actors.leg.test_leg_executor import AU, alarms, of, order, send
from tests.support.contracts import MS
from transports.clock import TestClock
from transports.config.engine import RiskConfig
from transports.latency import LatencyRecorder
from transports.wire.codec import encode
from transports.wire.messages import BadFrame, ExecReport, Reduce, TradingState, VenueGate
from transports.wire.venue_msgs import (
    Ack,
    Fill,
    OpenOrders,
    OrderStatus,
    Pong,
    Positions,
    QueryReq,
    Trades,
)


def core(link: bool = True, limit: int = 3) -> LegExecutorCore:
    return LegExecutorCore("leg.shfe", "shfe", "shfe-acct", {"au2606": AU}, 3, RiskConfig(),
                           ["combo", "risk"], 2000, oe_link=link, gate_to=("strategy.x",),
                           bad_frame_limit=limit, bad_frame_window_ms=10_000)


def test_the_shell_turns_a_garbled_frame_into_a_counted_bad_frame() -> None:
    shell = LegShell(core(), "ipc:///nowhere", "shfe-acct", TestClock(), LatencyRecorder(64))
    good = shell.decode("oe", [encode(Ack(cl="3.1.0.0", oid="o", ts=1))], 5)
    assert isinstance(good, Ack) and shell.bad_frames == 0
    bad = shell.decode("oe", [encode({"cl": "3.1.0.0", "oid": "o", "ts": 1})], 5)  # no ``t``
    assert isinstance(bad, BadFrame) and bad.key == "oe" and shell.bad_frames == 1


def test_a_bad_frame_makes_the_venue_uncertain_until_a_pong_and_every_answer() -> None:
    """The frame may have been the fill of the open order: it is flagged unknown and queried
    (never resent); only reducing orders pass until a pong AND the order's answer came."""
    c = core()
    c.on_start(0)
    for m in (OpenOrders(list=[]), Trades(list=[]), Positions(list=[])):
        c.handle(m, 1)  # the start's reconciliation: nothing at the venue
    assert c.venue_gate == ""
    cl = send(c, order(qty=5), 10 * MS)
    c.handle(Ack(cl=cl, oid="o1", ts=1), 11 * MS)
    out = c.handle(BadFrame("oe", "invalid message"), 12 * MS)
    assert alarms(out)[0] == "bad_frame" and "unknown_outcome" in alarms(out)
    assert [q.cl for q in of(out, QueryReq, "@oe")] == [cl]
    assert of(out, VenueGate, "strategy.x")[0].state == "uncertain"
    assert c.counters["bad_frames"] == 1 and c.venue_gate == "uncertain"
    denied = c.handle(order(combo=43, qty=1), 13 * MS)
    assert of(denied, ExecReport)[0].reason == "venue_uncertain"
    c.handle(Pong(ts=2), 14 * MS)  # the link decodes again, but the order is still unknown
    assert c.suspect_ns == 0 and c.venue_gate == "uncertain"
    out = c.handle(OrderStatus(cl=cl, state="filled", cum=5, oid="o1",
                               fills=[]), 15 * MS)
    # the status says 5 traded that we never saw: the missing fills are queried, gate opens
    assert c.venue_gate == "" and of(out, VenueGate, "strategy.x")[-1].state == ""
    c.handle(Fill(cl=cl, tid="t1", px=30500, qty=5, fee=0.0, ts=3, oid="o1"), 16 * MS)
    assert c.positions["au2606"] == 5


def test_without_a_link_the_next_good_report_is_the_proof() -> None:
    c = core(link=False)
    c.handle(BadFrame("oe", "x"), 1)
    assert c.venue_gate == "uncertain"
    c.handle(Ack(cl="3.9.0.0", oid="o", ts=1), 2)  # unknown cl: alarmed, but it decoded
    assert c.venue_gate == ""


def test_repeated_bad_frames_ask_risk_to_reduce_once_per_window() -> None:
    c = core(limit=3)
    outs = [c.handle(BadFrame("oe", "x"), i * MS) for i in range(1, 6)]
    sent = [m for out in outs for m in of(out, Reduce, "risk")]
    assert len(sent) == 1 and sent[0].reason.startswith("bad_frames:shfe")
    assert of(outs[2], Reduce, "risk")  # the third within the window
    # spread out beyond the window: no new Reduce
    c2 = core(limit=3)
    spread = [c2.handle(BadFrame("oe", "x"), i * 6_000 * MS) for i in range(1, 5)]
    assert not any(of(out, Reduce) for out in spread)


def test_risk_keeps_an_executors_reduce_under_its_own_reason() -> None:
    r = RiskCore("risk", {"shfe:au2606": AU}, RiskConfig(), ["leg.shfe"])
    out = r.on_reduce(Reduce("bad_frames:shfe: 3 undecodable frames in 10000 ms"), 5)
    assert r.state == "REDUCING" and r.reasons == {"bad_frames": "REDUCING"}
    assert of(out, TradingState)[0].reason == "bad_frames"
    r.on_reduce(Reduce("operator said so"), 6)
    assert "operator_reduce" in r.reasons
