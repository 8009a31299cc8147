"""A venue report (ack, fill, done) tells the strategies of every change of the venue gate.

The LegExecutor's ``on_ack``, ``on_fill`` and ``on_done`` ask ``_gated`` only when its own first
test says the gate may have changed (issue 18, session 10); each case here sets one of the
things that test reads and fails if a report stops sending the ``VenueGate`` the rule asks for
(sent exactly when ``venue_gate`` differs from the state the strategies last heard)."""

from __future__ import annotations

from typing import Any

import pytest

from actors.leg.executor import LegExecutorCore
from tests.actors.leg.test_leg_executor import AU, order
from transports.config.engine import RiskConfig
from transports.wire.messages import VenueGate
from transports.wire.venue_msgs import Ack, Done, Fill, NewOrder

NOW = 1_000_000_000
GATE_TO = ("strategy.au-gc",)


def _core(oe_link: bool) -> LegExecutorCore:
    return LegExecutorCore("leg.shfe", "shfe", "shfe-acct", {"au2606": AU}, 3,
                           RiskConfig(max_orders_per_s=1_000), ["combo", "risk"], 2000,
                           oe_link=oe_link, gate_to=GATE_TO)


def _set(c: LegExecutorCore, what: str) -> None:
    if what == "heard_uncertain":  # the strategies heard "uncertain"; nothing holds it now
        c._gate_sent = "uncertain"
    elif what == "gate":
        c.gate = "reconciling"
    elif what == "unknown":  # an outcome flagged unknown by another path
        c.book.unknown.add("3.9.0.0")
    elif what == "suspect":  # a bad frame came (cleared by a report that decodes, no pings)
        c.frames.suspect_ns = NOW - 1
    elif what == "throttled":
        c.throttle.until_ns = NOW + 10**9


def _report(kind: str, cl: str) -> Any:
    if kind == "ack":
        return Ack(cl=cl, oid="o1", ts=NOW)
    if kind == "fill":
        return Fill(cl=cl, oid="o1", tid="t1", px=30500, qty=10, ts=NOW)
    return Done(cl=cl, oid="o1", state="canceled", cum=0, ts=NOW)


@pytest.mark.parametrize("oe_link", [False, True])
@pytest.mark.parametrize("what", ["none", "heard_uncertain", "gate", "unknown", "suspect",
                                  "throttled"])
@pytest.mark.parametrize("kind", ["ack", "fill", "done"])
def test_a_report_sends_the_venue_gate_exactly_when_it_changed(kind: str, what: str,
                                                               oe_link: bool) -> None:
    c = _core(oe_link)
    (new,) = [m for _, m in c.handle(order(qty=10), NOW - 10) if type(m) is NewOrder]
    _set(c, what)
    heard = c._gate_sent
    out = c.handle(_report(kind, new.cl), NOW)
    gates = [(d, m) for d, m in out if type(m) is VenueGate]
    now_gate = c.venue_gate
    if now_gate != heard:
        assert gates == [(GATE_TO[0], VenueGate("shfe", now_gate, NOW))]
        assert c._gate_sent == now_gate
    else:
        assert gates == [] and c._gate_sent == heard
    expected = {"none": "", "heard_uncertain": "", "gate": "reconciling", "unknown": "uncertain",
                "suspect": "uncertain" if oe_link else "", "throttled": "throttled"}[what]
    assert now_gate == expected  # the case set up what it meant to
