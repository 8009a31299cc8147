"""The LegShell's per-delivery work: a LegOrder's tick stamps go with its order frame and are
read back when the frame leaves; every other message reaches the core untouched.

A real LegExecutorCore in a real LegShell; the venue's order-entry socket is a fake that keeps
the frames (no ZeroMQ, no clock read: ``TestClock``)."""

from __future__ import annotations

import msgspec

from actors.runtime.shells.venue_shell import LegShell
from tests.actors.leg.test_leg_executor import core, order
from transports.clock import TestClock
from transports.latency import LatencyRecorder
from transports.wire.messages import BookUpdate, LegOrder, TradingState
from transports.wire.venue_msgs import NewOrder

HOPS = ("tick_to_order", "recv_to_signal", "signal_to_send")


class _Venue:
    """The oe socket: keeps every frame sent."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def send(self, frame: bytes, *flags: int) -> None:
        self.frames.append(frame)


def _shell(epoch: int) -> tuple[LegShell, _Venue]:
    shell = LegShell(core(rate=1_000_000, epoch=epoch), "inproc://none", "shfe-acct",
                     TestClock(), LatencyRecorder(64))
    venue = _Venue()
    shell.sockets["oe"] = venue  # type: ignore[assignment]
    return shell, venue


def _stamped(o: LegOrder, recv_ns: int, signal_ns: int) -> LegOrder:
    return msgspec.structs.replace(o, ts_recv_ns=recv_ns, ts_signal_ns=signal_ns)


def _place(shell: LegShell, o: LegOrder, now_ns: int) -> list[NewOrder]:
    """Deliver ``o`` as the host does, route its frame, release the group commit."""
    out = shell.handle(o, now_ns)
    for dest, m in out:
        if dest == "@oe":
            shell.send("oe", m)
    assert shell.flush_sends() == []
    return [m for _, m in out if type(m) is NewOrder]


def test_each_sent_order_samples_its_tick_hops_once_whatever_the_epoch() -> None:
    for epoch in (1, 7, 123):  # the frame's client id carries the epoch: the stamps follow it
        shell, venue = _shell(epoch)
        for i in range(3):
            sent = _place(shell, _stamped(order(combo=10 + i, qty=1), 500, 700), 1_000 + i)
            assert [m.cl for m in sent] == [f"{epoch}.{10 + i}.0.0"]
        assert len(venue.frames) == 3
        for hop in HOPS:
            assert shell.latency.hist(hop).count == 3, (epoch, hop)
        assert shell._origin == {}


def test_a_denied_order_takes_no_stamp_and_the_next_order_is_sampled() -> None:
    shell, venue = _shell(3)
    assert _place(shell, _stamped(order(combo=1, qty=10_000), 500, 700), 1_000) == []
    assert shell._origin == {} and venue.frames == []
    assert shell.latency.hist("tick_to_order").count == 0
    assert len(_place(shell, _stamped(order(combo=2, qty=1), 500, 700), 2_000)) == 1
    assert shell.latency.hist("tick_to_order").count == 1 and shell._origin == {}


def test_an_order_without_a_tick_stamp_is_sent_unsampled() -> None:
    shell, venue = _shell(3)
    assert len(_place(shell, _stamped(order(combo=1, qty=1), 0, 0), 1_000)) == 1  # no tick
    assert len(venue.frames) == 1 and shell._origin == {}
    assert shell.latency.hist("tick_to_order").count == 0


def test_other_messages_reach_the_core_and_a_trading_state_is_timed() -> None:
    shell, _ = _shell(3)
    out = shell.handle(TradingState("HALTED", "test", 400), 1_000)
    assert shell.core.trading_state == "HALTED" and out == []
    assert shell.latency.hist("risk_to_executor").count == 1
    shell.handle(BookUpdate("shfe", "au2606", True, 1, 1, 1, [30499], [5], [30501], [5]), 1_100)
    assert shell.core.pretrade.market.touch["au2606"] == (30499, 30501)
    assert shell._origin == {} and shell.latency.hist("risk_to_executor").count == 1
