"""Venue protocol version 2 against the whole engine and the simulator (issue 13): the
gateway's own session going down and up (the simulator's ``session_down`` switch), a funding
payment reaching risk's PnL, and what each protocol version sees on the wire: a version 1
gateway only version 1 frames, a version 2 gateway its ``balances`` request and ``reduce_only``.

The simulator is a version 1 gateway (its ``instruments`` reply has no ``v``) and sends no
``funding``: the funding payment and, for the version 2 run, the announcement and the
``balances`` answer are given by test hooks of the harness (``SimEngine.inject``, a
``_frame`` override), each as a gateway's frame through the shells' decoders.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from tests.engine.test_engine_oe_faults import TAIL_MS, TRADE_MS, assert_holds, budgets
from tests.sim.test_sim_harness import cfg_with
from tests.support.engine_sim import MS, T0, SimEngine
from transports.wire.codec import encode
from transports.wire.messages import Decision, FundingPaid, VenueGate, VenueInfo
from transports.wire.venue_msgs import (
    BalanceRecord,
    Balances,
    BalancesReq,
    Error,
    Funding,
    Instruments,
    InstrumentsReq,
    NewOrder,
    Session,
)

#: just before a combo's comex leg leaves (9.18 s in this seed's run): that order is on its way
#: when the session drops, and the baseline run sends comex two more orders inside the window
DOWN_AT_S, DOWN_FOR_S = 9.17, 1.5
FUNDING_AT_MS = 20_000
V1_NEW_KEYS = {"t", "cl", "sym", "side", "px", "qty", "tif", "ts"}
PAID_USD = -12.5


def _recv(eng: SimEngine, actor: str, kind: type) -> list[tuple[int, Any]]:
    """(time, message) of every ``kind`` the actor received from its venue."""
    return [(ts, m) for ts, s, d, m in eng.log if d == actor and s[:1] == "@"
            and isinstance(m, kind)]


@pytest.fixture(scope="module")
def v1() -> SimEngine:
    """The demo against the (version 1) simulator: comex's session down 1.5 s at 9.17 s, a
    funding payment on comex at 20 s."""
    eng = SimEngine(cfg_with([{"kind": "session_down", "at_s": DOWN_AT_S, "for_s": DOWN_FOR_S,
                               "venue": "comex"}]))
    eng.run_to(FUNDING_AT_MS)
    eng.inject("leg.comex", "oe", Funding(sym="GCZ6", ts=T0 + FUNDING_AT_MS * MS,
                                          rate="0.0001", paid=PAID_USD))
    eng.run_to(TRADE_MS)
    eng.stop_strategies()
    eng.run_to(TAIL_MS)
    return eng


def test_session_down_sends_nothing_there_and_up_reconciles_before_trading_again(
        v1: SimEngine) -> None:
    truth = v1.truth()
    (ev,) = [e for e in truth["faults"]["events"] if e["kind"] == "session_down"]
    assert ev["venue"] == "comex"
    (down_ns, down), (up_ns, up) = _recv(v1, "leg.comex", Session)
    assert (down.state, up.state) == ("down", "up") and down_ns < up_ns
    assert ev["ts"] <= down.ts < up.ts and up.ts >= ev["until_ns"]
    # the engine sent comex no new order between hearing down and hearing up
    sent = [ts for ts, a, r in v1.frames_out if a == "leg.comex" and isinstance(r, NewOrder)]
    assert not [t for t in sent if down_ns <= t <= up_ns]
    # so the venue received none while its session was down beyond what was already on its
    # way when it went down (one way there, one way back): that one was rejected there
    lat = v1.sim.latency_ns("comex")
    acct = v1.accounts["comex"]
    during = [o for o in truth["orders"] if o["account"] == acct and down.ts <= o["ts"] < up.ts]
    assert during and all(o["ts"] <= down.ts + 2 * lat for o in during)
    assert truth["counts"]["orders_while_session_down"] == len(during)
    # the order working when the session dropped: its outcome unknown (queried), then learnt
    cls = {o["cl"] for o in during}
    (alarm,) = [a for a in v1.alarms() if a["alarm"] == "session_down"]
    assert alarm["venue"] == "comex" and alarm["open"] == len(cls)
    assert {a["cl"] for a in v1.alarms() if a["alarm"] == "unknown_outcome"
            and a["why"] == "session_down"} == cls
    assert {r.cl for r in v1.reports() if r.kind == "rejected"
            and r.reason.startswith("session_down")} == cls
    # the strategy heard it (no combo opens into comex meanwhile)
    gates = [m.state for ts, _, d, m in v1.log if d == "strategy.au-gc"
             and isinstance(m, VenueGate) and m.venue == "comex"]
    assert "session_down" in gates
    # up: open orders, trades and positions asked at the venue, then trading again
    asked = {r["t"] for r in truth["requests"] if r["account"] == acct
             and up.ts < r["ts"] < up.ts + 100 * MS}
    assert asked == {"open_orders", "trades", "positions"}
    (rec_ns,) = [d.ts_ns for d in v1.decisions if d.what == "reconciled"
                 and d.actor == "leg.comex" and up_ns <= d.ts_ns]
    after = [t for t in sent if t > up_ns]
    assert after and min(after) >= rec_ns, "no order before the reconciliation, orders after it"
    leg = v1.cores["leg.comex"].snapshot()
    assert leg["counters"]["session_downs"] == 1 and leg["session"]["state"] == "up"
    # and the run holds every order-entry invariant against the venue's record
    assert_holds(v1, budgets(v1)[1])


def test_a_funding_payment_reaches_risks_pnl_in_the_venues_currency(v1: SimEngine) -> None:
    (_, f), = [(ts, m) for ts, s, d, m in v1.log if d == "risk" and isinstance(m, FundingPaid)]
    assert (f.venue, f.sym, f.ccy, f.paid) == ("comex", "GCZ6", "USD", PAID_USD)
    risk = v1.cores["risk"]
    fx = risk.book.fx("USD")
    assert 7.0 < fx < 7.4
    assert risk.snapshot()["funding"] == {"USD": PAID_USD}
    assert risk.pnl()["funding"] == pytest.approx(PAID_USD * fx)
    assert v1.cores["leg.comex"].snapshot()["session"]["funding"] == {"GCZ6": {"USD": PAID_USD}}


def test_a_version_1_gateway_sees_only_version_1_frames(v1: SimEngine) -> None:
    # the feeds asked the (version 1) instruments and told their legs: version 1
    infos = [m for _, s, d, m in v1.log if isinstance(m, VenueInfo) and d.startswith("leg.")]
    assert {(m.venue, m.version) for m in infos} == {("shfe", 1), ("comex", 1)}
    assert not [r for _, _, r in v1.frames_out if isinstance(r, BalancesReq)]
    assert not [m for _, s, _, m in v1.log if s == "@oe" and isinstance(m, Error)]
    news = [msgspec.msgpack.decode(raw) for _, a, raw in v1.wire_out if a.startswith("leg.")]
    news = [n for n in news if n["t"] == "new"]
    assert len(news) > 20 and all(set(n) == V1_NEW_KEYS for n in news)
    assert all(lc.snapshot()["session"]["protocol"] == 1 for lc in v1.leg_cores())


class _V2Comex(SimEngine):
    """comex announces version 2 and a perpetual, and answers ``balances`` (test hooks)."""

    def _frame(self, sender: str, key: str, msg: Any) -> None:
        if sender == "feed.comex" and isinstance(msg, InstrumentsReq):
            ins = self.sim.ref(self.now, "comex", msg)
            assert isinstance(ins, Instruments)
            v2 = Instruments(list=[msgspec.structs.replace(i, kind="perp") for i in ins.list],
                             v=2)
            self._push(self.now + 2 * self.sim.latency_ns("comex"), sender, key, encode(v2))
            return
        if sender == "leg.comex" and isinstance(msg, BalancesReq):
            self.frames_out.append((self.now, sender, msg))
            self._push(self.now + 2 * self.sim.latency_ns("comex"), sender, key, encode(
                Balances(list=[BalanceRecord("USD", 1e6, 9.9e5, 1e4)])))
            return
        super()._frame(sender, key, msg)


def test_a_version_2_gateway_is_asked_balances_and_gets_reduce_only_on_closes() -> None:
    eng = _V2Comex(cfg_with())
    eng.run_to(TRADE_MS)
    eng.stop_strategies()
    eng.run_to(TAIL_MS)
    asked = [a for _, a, r in eng.frames_out if isinstance(r, BalancesReq)]
    assert asked and set(asked) == {"leg.comex"}  # shfe stays version 1: never asked
    snap = eng.cores["leg.comex"].snapshot()["session"]
    assert snap["protocol"] == 2 and snap["balances"]["USD"]["total"] == 1e6
    assert snap["reduce_only"] == ["GCZ6"]
    # reduce_only exactly on comex's orders that close what the leg held when it sent them
    news = [(a, msgspec.msgpack.decode(raw)) for _, a, raw in eng.wire_out]
    comex = [n for a, n in news if a == "leg.comex" and n["t"] == "new"]
    assert any(n.get("reduce_only") for n in comex) and not all(
        n.get("reduce_only") for n in comex)
    assert all(set(n) == V1_NEW_KEYS for a, n in news if a == "leg.shfe" and n["t"] == "new")
    # each reduce_only order closed what the account held at the venue when it arrived
    truth = eng.truth()
    acct = eng.accounts["comex"]
    fills = sorted((f["ts"], f["qty"] if f["side"] == "B" else -f["qty"])
                   for f in truth["fills"] if f["account"] == acct)
    arrived = {o["cl"]: o["ts"] for o in truth["orders"] if o["account"] == acct}
    for n in comex:
        if n.get("reduce_only"):
            pos = sum(q for ts, q in fills if ts < arrived[n["cl"]])
            sign = 1 if n["side"] == "B" else -1
            assert pos * sign < 0 and n["qty"] <= abs(pos), (n, pos)
    assert_holds(eng, budgets(eng)[1])
    assert not [d for d in eng.decisions if isinstance(d, Decision) and d.what == "error"]
