"""The host's group commit of order intents (issue 18): the orders decided in one wake share one
fdatasync; nothing leaves before its intent is durable; nothing overtakes a held order on the
wire; a long wake does not hold the first order for the whole drain; a stream of tells does not
keep the sockets unread.

A real LegShell with a real intent WAL (a file) and a real LegExecutor core, its DEALER talking
to a venue ROUTER, LegOrders arriving over the node's real (CURVE) inbound link. The host is
driven in this thread (its ``on_start`` and ``on_receive``, as its pykka loop would) with a test
clock, so what is asserted is an order of events, never a time. The node link and the venue are
``inproc://``: a frame is in the socket's queue once ``send`` returns, so two frames sent before
a wake are both there for it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from actors.core import Core, Out
from actors.leg.executor import LegExecutorCore
from actors.runtime import link_auth
from actors.runtime.host.host import (
    GROUP_COMMIT_MAX_NS,
    GROUP_COMMIT_MIN_NS,
    INBOX_BURST,
    Directory,
    GroupBatch,
    Host,
)
from actors.runtime.host.host_commit import hold_bound_ns
from actors.runtime.host.host_inbox import IoReady, PollingInbox
from actors.runtime.link_auth import LinkKeys
from actors.runtime.shells.venue_shell import LegShell, attach_intent_wal
from tests.support.contracts import au
from transports.clock import TestClock
from transports.config.engine import RiskConfig
from transports.journal.intent_wal import IntentWal, read_intents
from transports.latency import LatencyRecorder
from transports.wire.codec import encode
from transports.wire.messages import ExecReport, Halt, IntentFailed, LegOrder
from transports.wire.venue_msgs import Ack, CancelReq, NewOrder

LINK = "inproc://engine-link"
VENUE = "inproc://venue-oe"


class _Recording:
    """The shell's DEALER, recording each frame it sends (then sending it)."""

    def __init__(self, sock: Any, log: list[str]) -> None:
        self.sock, self.log = sock, log

    def send(self, frame: bytes, *args: Any) -> None:
        self.log.append(f"send {msgspec.msgpack.decode(frame)['t']}")
        self.sock.send(frame, *args)


class _Ref:
    """Stands for the other group's host: records what this host tells it."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []

    def tell(self, msg: Any) -> None:
        self.items += msg.items


class Node:
    """One hot host with one executor shell, its venue and the inbound link's sender."""

    def __init__(self, tmp_path: Path, ctx: zmq.Context[Any], core: Core,
                 monkeypatch: pytest.MonkeyPatch, fail_sync: type[BaseException] | None = None,
                 sync_ns: int = 0) -> None:
        self.log: list[str] = []
        self.clock = TestClock(1_000_000_000)
        self.venue = ctx.socket(zmq.ROUTER)
        self.venue.setsockopt(zmq.LINGER, 0)
        self.venue.bind(VENUE)
        self.shell = LegShell(core, VENUE, "acct", self.clock, LatencyRecorder(64))
        self.wal = IntentWal(tmp_path / "intents.cmcw", run_id="r", node="engine")
        attach_intent_wal([self.shell], self.wal)
        real = os.fdatasync

        def fdatasync(fd: int) -> None:
            if fd == self.wal.fd:
                # what a crash at this instant would leave: intents written, frames sent
                self.log.append(f"sync {len(list(read_intents(self.wal.path)))}")
                if fail_sync is not None:
                    raise fail_sync(5, "Input/output error")
                self.clock.advance_ns(sync_ns)  # what the disk takes (virtual time)
            real(fd)

        monkeypatch.setattr(os, "fdatasync", fdatasync)
        d = Directory("engine", {"leg.shfe": "hot", "combo": "other", "journal": "other",
                                 "driver": "drv"},
                      {"hot": "engine", "other": "engine", "drv": "driver"},
                      {"engine": LINK, "driver": "inproc://driver-link"})
        self.other = _Ref()
        d.refs["other"] = self.other  # type: ignore[assignment]
        self.host = Host("hot", [self.shell], d, self.clock, ctx, journal="journal")
        me = threading.current_thread()
        name = me.name
        try:
            self.host.on_start()  # binds the inbound link, connects the DEALER (this thread)
        finally:
            me.name = name  # on_start names its thread ``host-hot``: a supervisor finds hosts so
        self.shell.sockets["oe"] = _Recording(self.shell.sockets["oe"], self.log)  # type: ignore[assignment]
        self.push = link_auth.push_to(ctx, "engine", LINK)

    def wake_on_link(self, *frames: list[tuple[str, Any]]) -> None:
        """Send ``frames`` on the inbound link, then run the one wake that reads them."""
        for items in frames:
            self.push.send(encode(items))
        pull = self.host.io.pull
        assert pull is not None and pull.poll(5000), "the link frame never arrived"
        self.host.on_receive(IoReady([pull]))

    def at_venue(self, n: int) -> list[str]:
        """The client ids of the next ``n`` frames the venue reads (each within a deadline)."""
        out = []
        for _ in range(n):
            assert self.venue.poll(5000), "the venue got fewer frames than expected"
            _ident, frame = self.venue.recv_multipart()
            out.append(msgspec.msgpack.decode(frame)["cl"])
        return out

    def journaled(self) -> list[tuple[str, str, Any]]:
        """What the host has journaled so far (its held output for the other group, sent)."""
        self.host.actor_inbox.idle()  # type: ignore[attr-defined]
        return [it for _, b in self.other.items if hasattr(b, "items") for it in b.items]

    def close(self) -> None:
        self.push.close(linger=0)
        self.host.on_stop()
        self.venue.close(linger=0)
        self.wal.close()


@pytest.fixture
def keyed(ctx: zmq.Context[Any]) -> Iterator[zmq.Context[Any]]:
    link_auth.attach(ctx, LinkKeys.generate())
    yield ctx
    link_auth.detach(ctx)


def _executor() -> LegExecutorCore:
    c = au(underlying="", base_per_lot=0.0)
    return LegExecutorCore("leg.shfe", "shfe", "acct", {"au2606": c}, 1, RiskConfig(),
                           ["combo"], 1000)


def _leg(combo: int, side: str = "B") -> tuple[str, LegOrder]:
    return "leg.shfe", LegOrder(combo, 0, 0, "shfe", "au2606", side, 1, 30500, "IOC",  # type: ignore[arg-type]
                                "entry", 0, 0)


def test_the_orders_of_one_wake_share_one_fdatasync_and_leave_after_it(
        tmp_path: Path, keyed: zmq.Context[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    n = Node(tmp_path, keyed, _executor(), monkeypatch)
    try:
        # two frames drained in one wake, the first with two LegOrders: three dispatch cycles
        n.wake_on_link([_leg(1, "B"), _leg(2, "S")], [_leg(3, "B")])
        assert n.log == ["sync 3", "send new", "send new", "send new"]
        assert n.wal.syncs == 1 and n.shell.latency.count("intent_fsync") == 1
        cls = n.at_venue(3)
        assert [c.split(".")[1] for c in cls] == ["1", "2", "3"]
        assert [o["cl"] for _, _, o in read_intents(n.wal.path)] == cls
        # still one cycle per input: each LegOrder journaled as its own delivery
        legs = [m.combo_id for s, d, m in n.journaled() if type(m) is LegOrder]
        assert legs == [1, 2, 3]
        # the next wake commits on its own
        n.wake_on_link([_leg(4, "S")])
        assert n.log[4:] == ["sync 4", "send new"] and n.wal.syncs == 2
        assert [c.split(".")[1] for c in n.at_venue(1)] == ["4"]
    finally:
        n.close()


def test_a_crash_before_the_wakes_fdatasync_has_sent_nothing(
        tmp_path: Path, keyed: zmq.Context[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # the process dies in the fdatasync (SystemExit unwinds the host as a kill would end it)
    n = Node(tmp_path, keyed, _executor(), monkeypatch, fail_sync=SystemExit)
    try:
        with pytest.raises(SystemExit):
            n.wake_on_link([_leg(1, "B"), _leg(2, "S")])
        assert n.log == ["sync 2"]  # both intents written, not one frame sent
    finally:
        n.shell._pending = []  # nothing to send on the way out
        n.close()


def test_a_failed_fdatasync_fails_every_order_of_the_wake_from_wal(
        tmp_path: Path, keyed: zmq.Context[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    n = Node(tmp_path, keyed, _executor(), monkeypatch, fail_sync=OSError)
    try:
        n.wake_on_link([_leg(1, "B")], [_leg(2, "S")])
        assert n.log == ["sync 2"]  # one sync tried for both; it failed, nothing left
        j = n.journaled()
        fails = [(s, d, m.cls) for s, d, m in j if type(m) is IntentFailed]
        assert [(s, d) for s, d, _ in fails] == [("@wal", "leg.shfe")]
        assert len(fails[0][2]) == 2  # one input naming both orders, after both cycles
        assert next(i for i, (_, _, m) in enumerate(j) if type(m) is IntentFailed) > max(
            i for i, (_, _, m) in enumerate(j) if type(m) is LegOrder)
        rejected = [m.combo_id for d, m in n.other.items if d == "combo"
                    and type(m) is ExecReport and m.kind == "rejected"
                    and m.reason == "intent_wal_failed"]
        assert rejected == [1, 2]
    finally:
        n.close()


class _Canceller(Core):
    """Stands in for an executor: a LegOrder becomes a NewOrder, ``Halt(cl)`` a cancel of it,
    ``Halt("")`` nothing (logged); each LegOrder moves the test clock on by ``step_ns`` (the
    work of a cycle)."""

    def __init__(self, name: str, clock: TestClock, step_ns: int = 0) -> None:
        super().__init__(name)
        self.clock, self.step_ns = clock, step_ns
        self.log: list[str] = []

    def on_leg_order(self, m: LegOrder, now_ns: int) -> Out:
        self.clock.advance_ns(self.step_ns)
        return [("@oe", NewOrder(cl=f"1.{m.combo_id}.0.0", sym=m.sym, side=m.side, px=m.px_ticks,
                                 qty=m.qty_lots, tif=m.tif, ts=now_ns))]

    def on_ack(self, m: Ack, now_ns: int) -> Out:
        """A venue frame: ``go.N`` decides order N (as a firing tick would), others nothing."""
        if not m.cl.startswith("go."):
            self.log.append("no order")
            return []
        return [("@oe", NewOrder(cl=f"1.{m.cl[3:]}.0.0", sym="au2606", side="B", px=1, qty=1,
                                 tif="IOC", ts=now_ns))]

    def on_halt(self, m: Halt, now_ns: int) -> Out:
        if not m.reason:
            self.log.append("no order")
            return []
        return [("@oe", CancelReq(cl=m.reason, ts=now_ns))]


def test_a_cancel_never_overtakes_a_held_order_on_the_wire(
        tmp_path: Path, keyed: zmq.Context[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    n = Node(tmp_path, keyed, _Canceller("leg.shfe", TestClock()), monkeypatch)
    try:
        n.host.on_receive(GroupBatch([_leg(1), ("leg.shfe", Halt("1.1.0.0")), _leg(2)]))
        # the cancel released the held order first (its own sync); the later order waited
        assert n.log == ["sync 1", "send new", "send cancel", "sync 2", "send new"]
        assert n.at_venue(3) == ["1.1.0.0", "1.1.0.0", "1.2.0.0"]
    finally:
        n.close()


def test_held_orders_do_not_wait_for_a_cycle_that_decided_no_order(
        tmp_path: Path, keyed: zmq.Context[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    core = _Canceller("leg.shfe", TestClock())
    n = Node(tmp_path, keyed, core, monkeypatch)
    core.log = n.log
    try:
        n.host.on_receive(GroupBatch([_leg(1), _leg(2), ("leg.shfe", Halt("")), _leg(3),
                                      ("leg.shfe", Halt(""))]))
        # 1 and 2 share a sync, released by the first cycle without an order, not the wake's end
        assert n.log == ["no order", "sync 2", "send new", "send new",
                         "no order", "sync 3", "send new"]
    finally:
        n.close()


def test_on_a_venue_socket_only_a_run_of_ordering_frames_shares_a_sync(
        tmp_path: Path, keyed: zmq.Context[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    core = _Canceller("leg.shfe", TestClock())
    n = Node(tmp_path, keyed, core, monkeypatch)
    try:
        n.shell.sockets["oe"].sock.send(b"hello")  # type: ignore[attr-defined]
        assert n.venue.poll(5000)
        ident, _ = n.venue.recv_multipart()  # the venue knows the DEALER now
        frames = ["go.1", "x", "go.2", "go.3", "go.4", "x"]
        for cl in frames:
            n.venue.send_multipart([ident, encode(Ack(cl=cl, oid="v", ts=0))])
        dealer = n.shell.sockets["oe"].sock  # type: ignore[attr-defined]
        assert dealer.poll(5000)
        core.log = n.log
        n.host.on_receive(IoReady([dealer]))
        # an isolated firing frame leaves at once; in a run, the orders after the first share
        # one sync, released by the first frame that decides none
        assert n.log == ["sync 1", "send new", "no order", "sync 2", "send new",
                         "no order", "sync 4", "send new", "send new"]
    finally:
        n.close()


def test_an_order_held_too_long_in_a_wake_is_released_between_cycles(
        tmp_path: Path, keyed: zmq.Context[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    step = GROUP_COMMIT_MIN_NS  # each order's cycle takes this long (virtual time)
    clock_core = _Canceller("leg.shfe", TestClock(), step_ns=step)
    n = Node(tmp_path, keyed, clock_core, monkeypatch, sync_ns=4 * step)
    clock_core.clock = n.clock  # the host's own (virtual) clock moves with the work
    try:
        n.wake_on_link([_leg(1), _leg(2), _leg(3)])
        # 1 held; after 2 the oldest has waited past the floor: 1 and 2 go; 3 at the wake's end
        assert n.log == ["sync 2", "send new", "send new", "sync 3", "send new"]
        # those syncs took 4 steps each: an order now waits up to that long for company
        del n.log[:]
        n.wake_on_link([_leg(c) for c in range(4, 10)])
        assert n.log == ["sync 8", *["send new"] * 5, "sync 9", "send new"]
        assert hold_bound_ns(10**9) == GROUP_COMMIT_MAX_NS  # a disk stall is not the bound
    finally:
        n.close()


def test_a_stream_of_tells_does_not_keep_the_sockets_unread(ctx: zmq.Context[Any]) -> None:
    inbox = PollingInbox()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        a.bind("inproc://fair")
        b.connect("inproc://fair")
        inbox.poller.register(a, zmq.POLLIN)
        for i in range(5 * INBOX_BURST):
            inbox.put(i)
        b.send(b"tick")
        got = [inbox.get() for _ in range(INBOX_BURST + 1)]
        ios = [g for g in got if not isinstance(g, int)]
        assert len(ios) == 1 and ios[0].message.socks == [a]  # the socket got its turn
        assert a.recv(zmq.NOBLOCK) == b"tick"  # the host drains it
        # and the tells are all served, in the order they were told
        while not inbox.empty():
            got.append(inbox.get(block=False))
        assert [g for g in got if isinstance(g, int)] == list(range(5 * INBOX_BURST))
    finally:
        inbox.close()
        a.close(linger=0)
        b.close(linger=0)
