"""The host's hot-path rules (issue 18): orders leave at once when there is no durable sync to
share, output for other groups of the node waits for the host to be idle (smart batching), and
the collector freezes what survived.

The host is driven in this thread (its ``on_receive``, as its pykka loop would), with a test
clock and a recording stand-in for the other group's actor ref: what these tests assert is an
order of events, which a real thread would make a race to observe.
"""

from __future__ import annotations

import gc
from typing import Any

from actors.core import Core, Out
from actors.runtime.host.host import (
    GROUP_BATCH_MAX_NS,
    Begin,
    Directory,
    GcPolicy,
    GroupBatch,
    Host,
)
from actors.runtime.shells.shell import Shell
from transports.clock import TestClock
from transports.wire.messages import BookUpdate, ExecReport, Halt


class _Ref:
    """Records what a host tells the group it stands for."""

    def __init__(self) -> None:
        self.told: list[list[Any]] = []

    def tell(self, msg: Any) -> None:
        self.told.append(list(msg.items))


def _upd(sym: str, px: int) -> BookUpdate:
    return BookUpdate("v", sym, True, px, px, px, [px], [1], [px + 1], [1])


class Ticker(Core):
    """On ``Halt(sym:px)``: one book update of ``sym`` for ``dst``; ``fill``: a report."""

    def on_halt(self, c: Halt, now_ns: int) -> Out:
        if c.reason == "fill":
            return [("dst", ExecReport("v", "1.1.0.0", 1, 0, 0, "A", "B", "fill", "FILLED",
                                       100, 1, 1, 0, 0.0, "t1", "", 0, 0))]
        sym, px = c.reason.split(":")
        return [("dst", _upd(sym, int(px)))]


def _host(clock: TestClock, shells: list[Shell], ctx: Any) -> tuple[Host, _Ref]:
    d = Directory("n", {**{s.name: "g1" for s in shells}, "dst": "g2"},
                  {"g1": "n", "g2": "n"}, {"n": "inproc://unused"})
    ref = _Ref()
    d.refs["g2"] = ref  # type: ignore[assignment]
    h = Host("g1", shells, d, clock, ctx)
    h.on_receive(Begin())
    return h, ref


def _tick(h: Host, *reasons: str) -> None:
    h.on_receive(GroupBatch([("src", Halt(r)) for r in reasons]))


def test_output_for_another_group_waits_for_idle_and_conflates_over_the_batch(
        ctx: Any) -> None:
    clock = TestClock(1_000_000_000)
    h, ref = _host(clock, [Shell(Ticker("src"))], ctx)
    _tick(h, "A:100")
    _tick(h, "fill", "A:101")
    _tick(h, "B:200", "A:102")
    assert ref.told == []  # three cycles, the host never idle: nothing told yet
    assert h.actor_inbox.deferred()  # type: ignore[attr-defined]
    h.actor_inbox.idle()  # type: ignore[attr-defined]  # about to sleep: one tell
    assert len(ref.told) == 1
    got = [(type(m).__name__, m.sym, m.px_ticks if isinstance(m, ExecReport) else m.bid_px[0])
           for _, m in ref.told[0]]
    # the report in its place, each symbol's latest book after it, in the order they came
    assert got == [("ExecReport", "A", 100), ("BookUpdate", "B", 200), ("BookUpdate", "A", 102)]
    assert not h.actor_inbox.deferred()  # type: ignore[attr-defined]


def test_held_output_leaves_once_it_is_old_enough_even_if_the_host_is_never_idle(
        ctx: Any) -> None:
    clock = TestClock(1_000_000_000)
    h, ref = _host(clock, [Shell(Ticker("src"))], ctx)
    _tick(h, "A:100")
    clock.advance_ns(GROUP_BATCH_MAX_NS - 1)
    _tick(h, "A:101")
    assert ref.told == []
    clock.advance_ns(1)
    _tick(h, "A:102")
    assert [m.bid_px[0] for _, m in ref.told[0]] == [102]


class _Leg(Shell):
    """A stand-in for ``LegShell``: ``@oe`` frames wait in ``pending`` until ``flush_sends``."""

    def __init__(self, core: Core, log: list[str], durable: bool) -> None:
        super().__init__(core)
        self.log = log
        self.queued: list[Any] = []
        self.intent_wal = type("Wal", (), {"durable": durable})()
        self.replicate = None

    @property
    def pending(self) -> bool:
        return bool(self.queued)

    def send(self, key: str, msg: Any) -> None:
        self.queued.append(msg)

    def flush_sends(self) -> list[Any]:
        self.log += [f"sent {m.reason}" for m in self.queued]
        self.queued = []
        return []


class Orders(Core):
    """``Halt(x)``: an order frame, then a message for ``after`` in the same group."""

    def on_halt(self, c: Halt, now_ns: int) -> Out:
        return [("@oe", c), ("after", Halt("after"))]


class After(Core):
    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__(name)
        self.log = log

    def on_halt(self, c: Halt, now_ns: int) -> Out:
        self.log.append("after ran")
        return []


def _orders_host(ctx: Any, durable: bool) -> tuple[Host, list[str]]:
    log: list[str] = []
    shells = [_Leg(Orders("src"), log, durable), Shell(After("after", log))]
    h, _ = _host(TestClock(1), shells, ctx)
    return h, log


def test_without_a_durable_sync_to_share_an_order_leaves_before_the_rest_of_the_cycle(
        ctx: Any) -> None:
    h, log = _orders_host(ctx, durable=False)
    _tick(h, "o1")
    assert log == ["sent o1", "after ran"]


def test_durable_intents_keep_the_group_commit_at_the_end_of_the_cycle(ctx: Any) -> None:
    h, log = _orders_host(ctx, durable=True)
    _tick(h, "o1")
    assert log == ["after ran", "sent o1"]


def test_the_gc_policy_freezes_at_once_then_at_most_once_a_period_and_a_stop_thaws() -> None:
    p = GcPolicy(every_ns=1_000)
    try:
        p.due(5_000)
        assert p.freezes == 1 and gc.get_freeze_count() > 0
        p.due(5_999)
        assert p.freezes == 1
        p.due(6_000)
        assert p.freezes == 2
        # a stopping host thaws everything: what it leaves behind is collectable again (an
        # earlier launch's sockets must be finalized before the next one binds the same names)
        p.stop()
        assert gc.get_freeze_count() == 0
        p.due(6_001)
        assert p.freezes == 3  # due again at once after a stop
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
