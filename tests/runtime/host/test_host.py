"""The dispatcher host: in-group calls, cross-group tells, cross-node ZeroMQ, timers, failures.

These run real pykka actors and real ZeroMQ sockets; every wait has a deadline.
"""

from __future__ import annotations

from typing import Any

import zmq

from actors.core import Core, Out
from actors.runtime import link_auth
from actors.runtime.host.host import Begin, Directory, GroupBatch, Host
from actors.runtime.link_auth import LinkKeys
from actors.runtime.shells.shell import Shell
from tests.support.helpers import eventually
from transports.clock import LiveClock
from transports.wire.messages import (
    BookUpdate,
    ExecReport,
    Halt,
    JournalBatch,
    SetTimer,
    Start,
    Stop,
    Timer,
)


class Relay(Core):
    """Forwards every ``Halt`` (a message with a text, used here as a payload) to ``nxt`` with
    its own name appended to ``reason``; ``boom`` raises, ``timer`` arms timers."""

    def __init__(self, name: str, nxt: str = "") -> None:
        super().__init__(name)
        self.nxt = nxt
        self.seen: list[str] = []
        self.timers: list[str] = []

    def on_halt(self, c: Halt, now_ns: int) -> Out:
        if c.reason == "boom":
            raise RuntimeError("handler bug")
        if c.reason == "timer":
            return [("@timer", SetTimer("t1", now_ns + 20_000_000)),
                    ("@timer", SetTimer("t2", now_ns + 1_000_000)),
                    ("@timer", SetTimer("t2", 0))]  # cancelled again
        self.seen.append(c.reason)
        return [(self.nxt, Halt(c.reason + ">" + self.name))] if self.nxt else []

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        self.timers.append(t.key)
        return []

    def snapshot(self) -> dict[str, Any]:
        return {"seen": list(self.seen), "timers": list(self.timers)}


class Sink(Core):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.items: list[tuple[str, str, Any]] = []

    def on_journal_batch(self, b: JournalBatch, now_ns: int) -> Out:
        self.items.extend(b.items)
        return []

    def snapshot(self) -> dict[str, Any]:
        return {"dests": [d for _, d, m in self.items if not isinstance(m, Start | Stop)],
                "srcs": [s for s, _, _ in self.items]}


def _start(group: str, shells: list[Shell], d: Directory, ctx: Any) -> Any:
    ref = Host.start(group, shells, d, LiveClock(), ctx)
    d.refs[group] = ref
    return ref


def test_same_group_is_a_call_other_group_is_a_tell_and_all_is_journaled(ctx: Any) -> None:
    d = Directory("n", {"a": "g1", "b": "g1", "c": "g2", "journal": "g2"}, {"g1": "n", "g2": "n"},
                  {"n": "inproc://unused"})
    a, b, c = Relay("a", "b"), Relay("b", "c"), Relay("c")
    g1 = _start("g1", [Shell(a), Shell(b)], d, ctx)
    g2 = _start("g2", [Shell(c), Shell(Sink("journal"))], d, ctx)
    for r in (g1, g2):
        r.tell(Begin())
    g1.tell(GroupBatch([("a", Halt("0"))]))
    eventually(lambda: g2.proxy().query("c").get(timeout=1)["seen"] == ["0>a>b"])
    assert g1.proxy().query("b").get(timeout=1)["seen"] == ["0>a"]
    eventually(lambda: len(g2.proxy().query("journal").get(timeout=1)["dests"]) == 3)
    snap = g2.proxy().query("journal").get(timeout=1)
    assert snap["dests"] == ["a", "b", "c"]
    # external deliveries are marked by where they came from, internal ones by their sender
    assert [s for s in snap["srcs"] if s != "@start"] == ["@group", "a", "@group"]


def test_nodes_talk_over_zeromq_with_the_same_code(ctx: Any, sock_dir: str) -> None:
    link_auth.attach(ctx, LinkKeys.generate())  # node links are CURVE (test_link_auth.py)
    actor_group = {"a": "g1", "b": "g2"}
    group_node = {"g1": "n1", "g2": "n2"}
    addrs = {"n1": f"ipc://{sock_dir}/n1", "n2": f"tcp://127.0.0.1:{_free_port()}"}
    d1 = Directory("n1", actor_group, group_node, addrs)
    d2 = Directory("n2", actor_group, group_node, addrs)
    a, b = Relay("a", "b"), Relay("b", "a")
    h1 = _start("g1", [Shell(a)], d1, ctx)
    h2 = _start("g2", [Shell(b)], d2, ctx)
    for r in (h1, h2):
        r.tell(Begin())
    eventually(lambda: h2.proxy().host_counters().get(timeout=1) is not None)
    h1.tell(GroupBatch([("a", Halt("0"))]))
    # a -> b over tcp, b -> a over ipc, a -> b again, ... (bounded by the deadline)
    eventually(lambda: len(h1.proxy().query("a").get(timeout=1)["seen"]) >= 3)
    seen = h1.proxy().query("a").get(timeout=1)["seen"]
    assert seen[:2] == ["0", "0>a>b"]


def test_timers_fire_in_order_and_cancel(ctx: Any) -> None:
    d = Directory("n", {"a": "g1"}, {"g1": "n"}, {"n": "inproc://unused"})
    h = _start("g1", [Shell(Relay("a"))], d, ctx)
    h.tell(Begin())
    h.tell(GroupBatch([("a", Halt("timer"))]))
    eventually(lambda: h.proxy().query("a").get(timeout=1)["timers"] == ["t1"])


def test_a_handler_exception_drops_the_message_and_keeps_the_host_alive(ctx: Any) -> None:
    errors: list[str] = []
    d = Directory("n", {"a": "g1"}, {"g1": "n"}, {"n": "inproc://unused"})
    h = Host.start("g1", [Shell(Relay("a"))], d, LiveClock(), ctx,
                   on_error=lambda name, exc: errors.append(name))
    d.refs["g1"] = h
    h.tell(Begin())
    h.tell(GroupBatch([("a", Halt("boom")), ("a", Halt("1"))]))
    eventually(lambda: h.proxy().query("a").get(timeout=1)["seen"] == ["1"])
    assert errors == ["a"]
    assert h.proxy().host_counters().get(timeout=1) == {"errors.a": 1}



def test_supervision_is_the_hosts_helper_reached_through_its_pykka_methods(ctx: Any) -> None:
    # the Supervisor's calls (checkpoints, restart_cores) go through the host's thin methods to
    # ``Host.supervision``; a checkpoint and a restart marker land in the host's journal stream
    d = Directory("n", {"a": "g1", "journal": "g1"}, {"g1": "n"}, {"n": "inproc://unused"})
    h = _start("g1", [Shell(Relay("a")), Shell(Sink("journal"))], d, ctx)
    h.tell(Begin())
    p = h.proxy()
    assert p.checkpoint_stats().get(timeout=1) == {}  # off until enabled
    assert p.checkpoint_now().get(timeout=5)["taken"] == 1
    res = p.restart_cores({"a": Relay("a")}, 7, "test").get(timeout=5)
    assert res == {"mode": "fresh", "fallback": "", "errors": {}, "differs": {}}
    h.tell(GroupBatch([("a", Halt("x"))]))
    eventually(lambda: p.query("a").get(timeout=1)["seen"] == ["x"])  # the new core
    srcs = p.query("journal").get(timeout=1)["srcs"]
    assert "@checkpoint" in srcs and "@supervisor" in srcs
    assert p.host_counters().get(timeout=1)["checkpoints"] == 1

def _free_port() -> int:
    c: zmq.Context[Any] = zmq.Context()
    s = c.socket(zmq.PULL)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    s.close(linger=0)
    c.term()
    return port


class Burst(Core):
    """On a ``Halt``, sends a burst to ``peer`` in one cycle: ten BookUpdates of one symbol,
    a fill report in the middle, two of another symbol."""

    def __init__(self, name: str, peer: str) -> None:
        super().__init__(name)
        self.peer = peer

    def on_halt(self, c: Halt, now_ns: int) -> Out:
        def upd(sym: str, px: int) -> BookUpdate:
            return BookUpdate("v", sym, True, px, px, px, [px], [1], [px + 1], [1])

        out: Out = [(self.peer, upd("A", 100 + i)) for i in range(5)]
        out.append((self.peer, ExecReport("v", "1.1.0.0", 1, 0, 0, "A", "B", "fill", "FILLED",
                                          100, 1, 1, 0, 0.0, "t1", "", 0, 0)))
        out += [(self.peer, upd("A", 105 + i)) for i in range(5)]
        out += [(self.peer, upd("B", 200 + i)) for i in range(2)]
        return out


class Collect(Core):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.got: list[tuple[str, str, int]] = []

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        self.got.append(("book", u.sym, u.bid_px[0]))
        return []

    def on_exec_report(self, r: ExecReport, now_ns: int) -> Out:
        self.got.append(("fill", r.sym, r.px_ticks))
        return []

    def snapshot(self) -> dict[str, Any]:
        return {"got": list(self.got)}


def test_market_data_to_another_group_conflates_per_cycle_orders_and_reports_never(
        ctx: Any) -> None:
    """A slow consumer outside the group (risk's marks) gets the latest top of book per
    symbol of each dispatch cycle; every report still arrives, in order."""
    d = Directory("n", {"src": "g1", "dst": "g2"}, {"g1": "n", "g2": "n"},
                  {"n": "inproc://unused"})
    g1 = _start("g1", [Shell(Burst("src", "dst"))], d, ctx)
    g2 = _start("g2", [Shell(Collect("dst"))], d, ctx)
    for r in (g1, g2):
        r.tell(Begin())
    g1.tell(GroupBatch([("src", Halt("go"))]))
    eventually(lambda: len(g2.proxy().query("dst").get(timeout=1)["got"]) >= 3)
    got = g2.proxy().query("dst").get(timeout=1)["got"]
    # the fill first (it came before A's later updates), then A's latest, then B's latest
    assert got == [("fill", "A", 100), ("book", "A", 109), ("book", "B", 201)]
    assert g1.proxy().host_counters().get(timeout=1)["conflated"] == 9 + 1
