"""A frozen node notices (issue 12, failure 4), at the unit level with a ``TestClock`` jump: the
freeze watch and a host's view of it, a real host delivering ``ClockJump`` before the message
that woke it, what each core does with it, and the launcher's verdict on silent nodes."""

from __future__ import annotations

import threading
from typing import Any

import msgspec
import pytest
import zmq

from actors.core import Core, Out
from actors.feed import FeedCore
from actors.leg.executor import LegExecutorCore
from actors.runtime.freeze import FreezeSeen, FreezeWatch
from actors.runtime.host.host import Begin, Directory, GroupBatch, Host
from actors.runtime.shells.shell import Shell
from actors.strategy.strategy import MIN_WARM_SAMPLES, StrategyCore
from scripts.launch.beats import NodeWatch
from tests.support.contracts import au
from tests.support.helpers import eventually, msgs
from transports.clock import TestClock
from transports.config.engine import RiskConfig, load_config
from transports.wire.messages import BookInvalid, BookUpdate, ClockJump, ComboIntent, VenueGate
from transports.wire.venue_msgs import (
    OpenOrders,
    OpenOrdersReq,
    Positions,
    PositionsReq,
    Snapshot,
    SnapshotReq,
    Trades,
    TradesReq,
)

S = 1_000_000_000
MS = 1_000_000


# --- the watch and a host's view of it ---------------------------------------------------------


def test_a_jump_seen_by_the_host_first_is_acted_on_once() -> None:
    clock = TestClock()
    w = FreezeWatch(clock, 500 * MS, tick_ns=50 * MS)
    seen = FreezeSeen(w)
    clock.advance_ns(50 * MS)
    assert w.tick() == 0 and seen.check(clock.now_ns()) == 0
    clock.advance_ns(4 * S)  # SIGSTOP .. SIGCONT; the host thread runs before the watcher
    assert seen.check(clock.now_ns()) == 4 * S
    assert seen.check(clock.now_ns() + 1) == 0  # the next message: the same freeze
    assert w.tick() == 4 * S  # the watcher records that freeze ...
    assert seen.check(clock.now_ns()) == 0  # ... which the host already acted on
    clock.advance_ns(2 * S)  # a second freeze, this time the watcher runs first
    assert w.tick() == 2 * S
    assert seen.check(clock.now_ns()) == 2 * S
    assert seen.check(clock.now_ns()) == 0


def test_no_jump_within_the_threshold() -> None:
    clock = TestClock()
    w = FreezeWatch(clock, 500 * MS, tick_ns=50 * MS)
    seen = FreezeSeen(w)
    for _ in range(20):
        clock.advance_ns(400 * MS)  # slow, but never a freeze
        assert seen.check(clock.now_ns()) == 0
        assert w.tick() == 0


class _Rec(Core):
    """Records what it is given, in order."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.got: list[Any] = []

    def handle(self, msg: Any, now_ns: int) -> Out:
        self.got.append(msg)
        return []


def test_a_host_delivers_the_jump_before_the_message_that_woke_it() -> None:
    clock = TestClock()
    watch = FreezeWatch(clock, 1000 * MS, tick_ns=10**15)  # the watcher never runs by itself
    ctx: zmq.Context[Any] = zmq.Context()
    a, b = _Rec("a"), _Rec("b")
    d = Directory("n", {"a": "g", "b": "g"}, {"g": "n"}, {"n": "inproc://unused"})
    ref = Host.start("g", [Shell(a), Shell(b)], d, clock, ctx, freeze=watch)
    try:
        ref.tell(Begin())
        ref.tell(GroupBatch([("a", "before")]))
        eventually(lambda: a.got == ["before"], 5)
        clock.advance_ns(3 * S)  # the node was frozen for 3 s
        ref.tell(GroupBatch([("a", "after")]))
        eventually(lambda: len(a.got) == 3, 5)
        assert a.got == ["before", ClockJump(3 * S), "after"]
        assert b.got == [ClockJump(3 * S)]
        ref.tell(GroupBatch([("a", "again")]))
        eventually(lambda: len(a.got) == 4, 5)
        assert a.got[-1] == "again"  # one freeze, one jump
        assert ref.proxy().host_counters().get(timeout=5)["clock_jumps"] == 1
    finally:
        ref.stop()
        ctx.destroy(linger=0)


def test_a_freeze_before_the_cores_start_reaches_no_core() -> None:
    """Between a host's start and its ``Begin`` the cores have not started: a freeze then is
    taken as seen (their start reconciles anyway), never routed — a replay starts a launch's
    cores at their ``@start`` records, so a jump routed before would reach the previous
    launch's cores there (``cmc replay --verify`` diverged on a launch frozen at its start)."""
    clock = TestClock()
    watch = FreezeWatch(clock, 1000 * MS, tick_ns=10**15)
    ctx: zmq.Context[Any] = zmq.Context()
    a = _Rec("a")
    d = Directory("n", {"a": "g"}, {"g": "n"}, {"n": "inproc://unused"})
    ref = Host.start("g", [Shell(a)], d, clock, ctx, freeze=watch)
    try:
        clock.advance_ns(3 * S)  # frozen before the start
        ref.proxy().ping().get(timeout=5)  # a message before Begin: nothing routed
        ref.tell(Begin())
        ref.tell(GroupBatch([("a", "after")]))
        eventually(lambda: a.got == ["after"], 5)
        assert ref.proxy().host_counters().get(timeout=5).get("clock_jumps", 0) == 0
    finally:
        ref.stop()
        ctx.destroy(linger=0)


# --- the cores ---------------------------------------------------------------------------------


def test_a_feed_resyncs_every_book_and_does_not_call_its_venue_stale() -> None:
    f = FeedCore("feed.x", "x", ["S", "T"], {"S": "book.x:S", "T": "book.x:T"}, ["strategy.p"],
                 ["risk"], stale_after_ms=1500)
    f.on_start(0)
    for sym in ("S", "T"):
        f.on_snapshot(Snapshot(sym=sym, seq=1, ts=0, b=[(100, 1)], a=[(101, 1)]), 1)
    assert f.state == "SYNCED"
    now = 10 * S  # frozen well past stale_after_ms
    out = f.handle(ClockJump(now - 1), now)
    assert msgs(out, SnapshotReq) == [SnapshotReq(sym="S"), SnapshotReq(sym="T")]
    assert [m.reason for m in msgs(out, BookInvalid)] == ["clock_jump", "clock_jump"]
    assert all(f.syms[s].state == "RESYNCING" for s in ("S", "T"))
    assert f.last_hb_ns == now  # its silence was ours: no reconnect of a live feed
    out = f.on_snapshot(Snapshot(sym="S", seq=50, ts=now, b=[(100, 1)], a=[(101, 1)]), now + 1)
    assert f.syms["S"].state == "SYNCED"


def test_an_executor_reconciles_with_its_gate_shut_until_done() -> None:
    c = LegExecutorCore("leg.shfe", "shfe", "acct", {"au2606": au()}, 3, RiskConfig(),
                        ["combo", "risk"], 2000, oe_link=True, gate_to=("strategy.p",))
    c.on_start(0)
    for m in (OpenOrders(list=[]), Trades(list=[]), Positions(list=[])):
        c.handle(m, 1)
    assert c.venue_gate == "" and c.reconciler.snapshot()["count"] == 1
    now = 10 * S
    out = c.handle(ClockJump(now), now)
    assert [type(m) for d, m in out if d == "@oe"] == [OpenOrdersReq, TradesReq, PositionsReq]
    assert msgs(out, VenueGate) == [VenueGate("shfe", "reconciling", now)]
    assert c.link.last_pong_ns == now  # the pongs missed were our silence
    assert c.handle(ClockJump(now), now + 1) == []  # already asking
    for m in (OpenOrders(list=[]), Trades(list=[])):
        c.handle(m, now + 2)
    out = c.handle(Positions(list=[]), now + 3)
    assert msgs(out, VenueGate) == [VenueGate("shfe", "", now + 3)]
    assert c.reconciler.snapshot()["count"] == 2 and c.venue_gate == ""


def _strategy() -> StrategyCore:
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = msgspec.structs.replace(cfg.pairs[0], max_quote_age_ms=2000)
    return StrategyCore("strategy.au-gc", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", 1)


def _upd(venue: str, sym: str, bid: int, ask: int, ts: int) -> BookUpdate:
    return BookUpdate(venue, sym, True, ts, ts, ts, [bid, bid - 1], [100, 100], [ask, ask + 1],
                      [100, 100])


def test_a_strategy_opens_nothing_until_every_leg_is_quoted_after_the_jump() -> None:
    s = _strategy()
    gc, fx = 2650.0, 7.2
    parity = gc * fx / 31.1034768

    def books(ts: int) -> list[Any]:
        out = s.on_book_update(_upd("fx", "USDCNH", round(fx / 0.0001) - 1,
                                    round(fx / 0.0001) + 1, ts), ts)
        return out + s.on_book_update(_upd("comex", "GCZ6", round(gc / 0.1) - 1,
                                           round(gc / 0.1) + 1, ts), ts)

    def au(mid: float, ts: int, now: int) -> list[Any]:
        bid = round(mid / 0.02) - 1
        return s.on_book_update(_upd("shfe", "au2606", bid, bid + 2, ts), now)

    t = 100 * S
    books(t)
    for i in range(MIN_WARM_SAMPLES + 50):
        au(parity + 0.5 + (0.02 if i % 2 else 0.0), t + i * MS, t + i * MS)
    t_jump = t + 1 * S
    books(t_jump - 2 * MS)  # the last quotes before the node noticed (they waited in a socket)
    s.handle(ClockJump(3 * S), t_jump)
    # a quote from just before the node noticed: young enough for the age gate, yet the past
    assert msgs(au(parity + 2.1, t_jump - MS, t_jump + MS), ComboIntent) == []
    assert s.refusals["CLOCK_JUMP"] == 1
    assert msgs(au(parity + 2.1, t_jump + 2 * MS, t_jump + 3 * MS), ComboIntent) == []  # B, FX old
    # fresh snapshots of the other legs: with every leg quoted after the jump, it opens
    assert msgs(books(t_jump + 4 * MS), ComboIntent), sorted(s.refusals.items())
    assert s.fresh_after_ns == 0


# --- the launcher's verdict on silent nodes ------------------------------------------------------


def test_a_silent_node_is_hung_once_and_answers_again() -> None:
    w = NodeWatch(1000 * MS)
    w.started("trade", 42, 0)
    for t in range(0, 900 * MS, 100 * MS):
        w.beat("trade", 42, t)
        assert w.check(t) == []
    assert w.check(1900 * MS + 1) == [("trade", "hung", 1100 * MS + 1)]
    assert w.check(5 * S) == []  # reported once
    w.beat("trade", 41, 5 * S)  # a beat of a process already replaced does not count
    assert w.check(5 * S) == []
    w.beat("trade", 42, 5 * S)
    assert w.check(5 * S + 1) == [("trade", "answered", 1)]
    w.forget("trade")
    assert w.check(100 * S) == []


@pytest.mark.parametrize(("nodes_policy", "hosts_policy", "want"), [
    ("", "exit", "exit"), ("", "replace", "exit"), ("", "halt", "halt"),
    ("report", "exit", "report"), ("halt", "replace", "halt")])
def test_the_node_policy_follows_on_hung(nodes_policy: str, hosts_policy: str, want: str) -> None:
    from scripts.launch.launcher import Launcher

    cfg = load_config()
    sup = msgspec.structs.replace(
        cfg.supervision, on_hung=hosts_policy,
        nodes=msgspec.structs.replace(cfg.supervision.nodes, on_hung=nodes_policy))
    fake = threading.local()  # only the method under test reads ``cfg``
    fake.cfg = msgspec.structs.replace(cfg, supervision=sup)
    assert Launcher.node_on_hung(fake) == want  # type: ignore[arg-type]
