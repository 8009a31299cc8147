"""CTP's instrument (trading) status becomes the protocol's session ``status`` on ``md.<sym>``
(``transports.venues.ctp.status``): per product or per contract, once per change, the current
state answered to a new subscription, and the engine's own leg refuses to open a position while
its symbol is in a break the exchange declared (no calendar knows an unscheduled halt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
from openctp_ctp import thosttraderapi as tdapi

from tests.ctp.ctp_world import World, _mono_s, engine_md_topics
from tests.support.engine_md import EngineFeed
from transports.venues.ctp.status import CTP_STATES, SessionStates, product_of
from transports.wire.messages import ExecReport, FeedHealth, LegOrder
from transports.wire.venue_msgs import InstrumentsReq, MdMessage, MdStatus


def _status(iid: str, code: str) -> Any:
    f = tdapi.CThostFtdcInstrumentStatusField()
    f.ExchangeID, f.InstrumentID, f.InstrumentStatus = "SHFE", iid, code
    return f


def _statuses(sub: zmq.Socket[Any], quiet_s: float = 0.3) -> list[tuple[str, str]]:
    """Every ``status`` the SUB reads until none came for ``quiet_s`` (heartbeats flow all the
    while): (sym, state), in order."""
    out = []
    end = _mono_s() + quiet_s
    while (left := end - _mono_s()) > 0 and sub.poll(int(left * 1000) + 1):
        topic, payload = sub.recv_multipart()
        m = msgspec.msgpack.decode(payload, type=MdMessage)
        if isinstance(m, MdStatus):
            assert topic.decode() == f"md.{m.sym}"
            out.append((m.sym, m.state))
            end = _mono_s() + quiet_s
    return out


def test_the_mapping_and_the_product_rule() -> None:
    assert [product_of(s) for s in ("au2612", "SR701", "IF2612", "")] == ["au", "SR", "IF", ""]
    assert set(CTP_STATES.values()) <= {"open", "break", "auction", "closed", "halt"}
    st = SessionStates()
    syms = ["au2612", "ag2612", "aux"]  # "aux" is not an au contract: its product is "aux"
    assert [m.sym for _, m in st.on_status(_status("au", "1"), syms, 5)] == ["au2612"]
    assert st.on_status(_status("au", "1"), syms, 6) == []  # no change, nothing sent
    assert [(m.sym, m.state) for _, m in st.on_status(_status("ag2612", "2"), syms, 7)] == [
        ("ag2612", "open")]
    assert st.on_status(_status("au", "9"), syms, 8) == [] and st.unknown == 1
    assert [(t, m.state) for t, m in st.status_for("md.a", 9)] == [
        ("md.au2612", "break"), ("md.ag2612", "open")]


@pytest.fixture
def world(tmp_path: Path) -> Any:
    w = World(tmp_path)
    try:
        w.login()
        yield w
    finally:
        w.close()


def test_status_reports_reach_the_engines_topics_once_per_change(world: World) -> None:
    world.ref_req(InstrumentsReq())  # the SUB is connected once ref answers
    spi = world.gw.td_spi
    spi.OnRtnInstrumentStatus(_status("au", "3"))  # the au product's call auction
    spi.OnRtnInstrumentStatus(_status("au", "2"))
    spi.OnRtnInstrumentStatus(_status("au", "2"))  # a repeat: nothing
    spi.OnRtnInstrumentStatus(_status("au", "1"))  # a break (or a halt)
    assert _statuses(world.sub) == [("au2612", "auction"), ("au2612", "open"),
                                    ("au2612", "break")]
    spi.OnRtnInstrumentStatus(_status("m2701", "6"))  # per contract on DCE
    assert _statuses(world.sub) == [("m2701", "closed")]
    # a subscriber that joins now (an engine that restarts) hears the current states at once
    late = world.ctx.socket(zmq.SUB)
    late.setsockopt(zmq.LINGER, 0)
    for topic in engine_md_topics(world.cfg, "shfe"):
        late.setsockopt(zmq.SUBSCRIBE, topic)
    late.connect(f"ipc://{world.sock_dir}/shfe-md")
    try:
        assert sorted(_statuses(late, 1.0)) == [("au2612", "break"), ("m2701", "closed")]
    finally:
        late.close(0)


def test_the_engines_leg_opens_nothing_during_a_declared_break(tmp_path: Path) -> None:
    w = World(tmp_path)
    eng = None
    try:
        w.login()
        w.md_login()
        eng = EngineFeed(w.cfg, w.sock_dir, "shfe", leg=True)
        w.td.wait("ReqQryInvestorPosition")
        w.gw.td_spi.OnRspQryInvestorPosition(None, None, 1, True)  # nothing held
        leg = eng.shells["leg.shfe"].core

        def synced() -> bool:
            return any(h.state == "SYNCED" for h in eng.to("risk", FeedHealth))

        eng.pump_until(lambda: leg.gate == "" and synced(), "the leg never opened")
        w.gw.td_spi.OnRtnInstrumentStatus(_status("au", "1"))  # the exchange halts gold
        eng.pump_until(lambda: leg.pretrade.market.session.get("au2612") == "break",
                       "the break never reached the leg")
        eng.route("@group", "leg.shfe",
                  LegOrder(1, 0, 0, "shfe", "au2612", "B", 1, 30_000, "IOC", "entry", 0, 0))
        assert [(r.kind, r.reason) for r in eng.to("combo", ExecReport)] == [
            ("denied", "session_closed")]
        w.gw.td_spi.OnRtnInstrumentStatus(_status("au", "2"))  # trading again
        eng.pump_until(lambda: leg.pretrade.market.session.get("au2612") == "open",
                       "the reopening never reached the leg")
        eng.route("@group", "leg.shfe",
                  LegOrder(2, 0, 0, "shfe", "au2612", "B", 1, 30_000, "IOC", "entry", 0, 0))
        assert [r.kind for r in eng.to("combo", ExecReport) if r.combo_id == 2] == ["sent"]
        assert w.td.wait("ReqOrderInsert").InstrumentID == "au2612"
    finally:
        if eng is not None:
            eng.close()
        w.close()
