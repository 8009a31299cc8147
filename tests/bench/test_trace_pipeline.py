"""The pipeline trace (a dev tool): cycles are cut where they start, only ordering cycles count,
and the tool leaves nothing patched behind."""

from __future__ import annotations

import zmq

from actors.runtime import dispatch as dispatch_mod
from actors.runtime.host import host_commit
from actors.runtime.shells import venue_shell
from scripts.bench.trace_pipeline import ordering_steps, traced


def test_ordering_steps_keep_ordering_cycles_up_to_the_second_leg() -> None:
    ev = [
        (100, "start", "@md"), (105, "feed.a", "Delta"), (120, "book.a", "BookDelta"),
        (140, "strategy.s", "BookUpdate"),  # no order in this cycle: left out
        (1000, "start", "@md"), (1006, "feed.a", "Delta"), (1020, "book.a", "BookDelta"),
        (1050, "strategy.s", "BookUpdate"), (1080, "combo", "ComboIntent"),
        (1100, "leg.bench-a", "LegOrder"), (1110, "combo", "ExecReport"),
        (1130, "combo", "ExecReport"), (1200, "leg.bench-b", "LegOrder"),
        (1300, "combo", "ExecReport"),  # after the last step: not a step
        (2000, "start", "@md"), (2010, "feed.a", "Delta"),
    ]
    steps = ordering_steps(ev)
    assert steps["feed.a:Delta"] == [(6, 6)]
    assert steps["strategy.s:BookUpdate"] == [(30, 50)]
    assert steps["combo:ExecReport"] == [(10, 110)]
    assert steps["combo:ExecReport#2"] == [(20, 130)]  # a repeat in one cycle is its own step
    assert steps["leg.bench-b:LegOrder"] == [(70, 200)]
    assert "combo:ExecReport#3" not in steps


def test_traced_restores_what_it_wrapped() -> None:
    before = [dispatch_mod.Dispatcher.__init__, dispatch_mod.Dispatcher.route,
              host_commit.HostSink.send, venue_shell.LegShell.flush_sends, zmq.Socket.send]
    with traced() as (events, _calls):
        d = dispatch_mod.Dispatcher({"strategy.s": _Core()})
        d.route("@md", [("strategy.s", object())], 0)
        assert [e[1:] for e in events] == [("start", "@md"), ("strategy.s", "object")]
        assert dispatch_mod.Dispatcher.route is not before[1]
    after = [dispatch_mod.Dispatcher.__init__, dispatch_mod.Dispatcher.route,
             host_commit.HostSink.send, venue_shell.LegShell.flush_sends, zmq.Socket.send]
    assert after == before


class _Core:
    def handle(self, msg: object, now_ns: int) -> list[object]:
        return []
