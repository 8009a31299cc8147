"""The CTP gateway end to end: its SPI called with real CThostFtdc*Field structures from a
non-loop thread, its Req* calls recorded, the engine's side on real ZeroMQ sockets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from openctp_ctp import thostmduserapi as mdapi
from openctp_ctp import thosttraderapi as tdapi

from tests.ctp.ctp_world import World, rsp_info
from tests.support.hostile import HOSTILE_REQUESTS, is_malformed
from transports.venues.ctp.time import CHINA
from transports.wire.venue_msgs import (
    Ack,
    BalancesReq,
    CancelReject,
    CancelReq,
    Delta,
    Done,
    Fill,
    Instruments,
    InstrumentsReq,
    NewOrder,
    OpenOrdersReq,
    Ping,
    Pong,
    PositionsReq,
    QueryReq,
    Reject,
    Session,
    SnapshotReq,
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        w.login()
        yield w
    finally:
        w.close()


def new(cl: str, side: str = "B", px: int = 30_000, qty: int = 3, tif: str = "GTC",
        offset: str = "open", sym: str = "au2612") -> NewOrder:
    return NewOrder(cl=cl, sym=sym, side=side, px=px, qty=qty, tif=tif, ts=1,  # type: ignore[arg-type]
                    offset=offset)  # type: ignore[arg-type]


def rtn_order(req: tdapi.CThostFtdcInputOrderField, *, status: str, traded: int,
              sys_id: str = "  123", submit: str = "3", front: int = 1,
              session: int = 100, msg: str = "") -> tdapi.CThostFtdcOrderField:
    f = tdapi.CThostFtdcOrderField()
    f.InstrumentID, f.ExchangeID, f.OrderRef = req.InstrumentID, req.ExchangeID, req.OrderRef
    f.FrontID, f.SessionID, f.OrderSysID = front, session, sys_id
    f.OrderStatus, f.OrderSubmitStatus, f.VolumeTraded = status, submit, traded
    f.VolumeTotalOriginal, f.StatusMsg = req.VolumeTotalOriginal, msg
    return f


def rtn_trade(req: tdapi.CThostFtdcInputOrderField, *, tid: str, qty: int, price: float,
              sys_id: str = "  123", time: str = "10:00:01") -> tdapi.CThostFtdcTradeField:
    f = tdapi.CThostFtdcTradeField()
    f.InstrumentID, f.ExchangeID, f.OrderRef = req.InstrumentID, req.ExchangeID, req.OrderRef
    f.OrderSysID, f.TradeID, f.Volume, f.Price = sys_id, tid, qty, price
    f.OffsetFlag, f.Direction, f.TradeTime = req.CombOffsetFlag, req.Direction, time
    f.TradeDate = "20261207"
    return f


def test_login_chain_and_instruments(world: World) -> None:
    auth = world.td.of("ReqAuthenticate")[0]
    assert (auth.BrokerID, auth.UserID, auth.AppID, auth.AuthCode) == (
        "9999", "u1", "app", "auth-code-x")
    login = world.td.of("ReqUserLogin")[0]
    assert login.Password == "s3cret-pw"
    conf = world.td.of("ReqSettlementInfoConfirm")[0]
    assert (conf.BrokerID, conf.InvestorID) == ("9999", "u1")
    inst = world.ref_req(InstrumentsReq())
    assert isinstance(inst, Instruments) and inst.v == 2
    by = {i.sym: i for i in inst.list}
    assert set(by) == {"au2612", "m2701"}  # the listed instrument nobody configured is left out
    assert by["au2612"].offsets and by["au2612"].close_today and by["au2612"].tick == "0.02"
    assert by["au2612"].lot == "1000" and by["au2612"].fee_per_lot == 10.0
    assert by["m2701"].offsets and not by["m2701"].close_today
    assert by["au2612"].expiry == int(dt.datetime(2026, 12, 15, 15, tzinfo=CHINA).timestamp()) \
        * 1_000_000_000
    world.send(Ping(ts=7))
    assert isinstance(world.recv(), Pong)


def test_order_fields_offsets_and_tif(world: World) -> None:
    world.send(new("c1", offset="close_today", tif="FOK", side="S", px=30_001))
    f = world.td.wait("ReqOrderInsert")
    assert (f.CombOffsetFlag, f.Direction, f.TimeCondition, f.VolumeCondition) == ("3", "1",
                                                                                 "1", "3")
    assert f.LimitPrice == pytest.approx(600.02) and f.VolumeTotalOriginal == 3
    assert (f.ExchangeID, f.InstrumentID, f.OrderPriceType, f.CombHedgeFlag) == (
        "SHFE", "au2612", "2", "1")
    world.send(new("c2", offset="close_yesterday", tif="IOC", sym="m2701", px=3000))
    g = world.td.wait("ReqOrderInsert", 2)
    assert (g.CombOffsetFlag, g.TimeCondition, g.VolumeCondition, g.ExchangeID) == (
        "4", "1", "1", "DCE")
    world.send(new("c3", offset="close"))
    h = world.td.wait("ReqOrderInsert", 3)
    assert (h.CombOffsetFlag, h.TimeCondition) == ("1", "3")  # GTC = GFD
    assert int(h.OrderRef) > int(g.OrderRef) > int(f.OrderRef)
    # the cl map was durable before the sends
    lines = (world.tmp / "state" / "shfe-ctp-orders.jsonl").read_text().splitlines()
    assert sum('"ref"' in line for line in lines) == 3


def test_fill_partial_done_and_duplicate(world: World) -> None:
    world.send(new("c1"))
    req = world.td.wait("ReqOrderInsert")
    spi = world.gw.td_spi
    spi.OnRtnOrder(rtn_order(req, status="a", traded=0, sys_id=""))  # at the front only
    spi.OnRtnOrder(rtn_order(req, status="3", traded=0))
    ack = world.recv()
    assert isinstance(ack, Ack) and ack.oid == "SHFE:123"
    spi.OnRtnOrder(rtn_order(req, status="1", traded=1))
    spi.OnRtnTrade(rtn_trade(req, tid=" 9001", qty=1, price=600.0))
    fill = world.recv()
    assert isinstance(fill, Fill) and (fill.tid, fill.px, fill.qty, fill.fee) == (
        "SHFE:9001", 30_000, 1, 10.0)
    # all traded arrives BEFORE the last trade: done waits for it
    spi.OnRtnOrder(rtn_order(req, status="0", traded=3))
    spi.OnRtnTrade(rtn_trade(req, tid=" 9001", qty=1, price=600.0))  # a duplicate
    spi.OnRtnTrade(rtn_trade(req, tid=" 9002", qty=2, price=600.02))
    got = world.recv_until(Done)
    assert [type(m) for m in got] == [Fill, Done]
    assert got[0].tid == "SHFE:9002" and got[0].px == 30_001
    assert got[1].state == "filled" and got[1].cum == 3
    assert world.gw.tracker.duplicate_trades == 1
    world.send(QueryReq(cl="c1"))
    st = world.recv()
    assert st.state == "filled" and st.cum == 3 and len(st.fills) == 2


def test_reject_with_ctp_error_id_once(world: World) -> None:
    world.send(new("c1", offset="close"))
    req = world.td.wait("ReqOrderInsert")
    bad = tdapi.CThostFtdcInputOrderField()
    bad.InstrumentID, bad.ExchangeID, bad.OrderRef = "au2612", "SHFE", req.OrderRef
    world.gw.td_spi.OnRspOrderInsert(bad, rsp_info(30, "over close"), 5, True)
    world.gw.td_spi.OnErrRtnOrderInsert(bad, rsp_info(30, "over close"))
    rej = world.recv()
    assert isinstance(rej, Reject) and rej.code == "over_close" and "CTP 30" in rej.reason
    world.no_oe()  # the second callback of the same refusal is not a second reject
    world.send(new("c2"))
    req2 = world.td.wait("ReqOrderInsert", 2)
    bad.OrderRef = req2.OrderRef
    world.gw.td_spi.OnErrRtnOrderInsert(bad, rsp_info(31, "no money"))
    assert world.recv().code == "insufficient_funds"


def test_throttled_send_is_a_definitive_reject(world: World) -> None:
    world.td.rc["ReqOrderInsert"] = -3
    world.send(new("c1"))
    rej = world.recv()
    assert isinstance(rej, Reject) and rej.code == "throttled" and rej.retry_ms == 1000
    world.td.rc["ReqOrderInsert"] = -1  # the network: the outcome is unknown, nothing sent
    world.send(new("c2"))
    world.td.wait("ReqOrderInsert", 2)
    world.no_oe()
    world.send(QueryReq(cl="c2"))
    assert world.recv().state == "unknown"
    world.send(OpenOrdersReq())
    assert world.recv().list == []


def test_cancel_race_fill_after_cancel(world: World) -> None:
    world.send(new("c1", qty=2))
    req = world.td.wait("ReqOrderInsert")
    spi = world.gw.td_spi
    spi.OnRtnOrder(rtn_order(req, status="3", traded=0))
    assert isinstance(world.recv(), Ack)
    world.send(CancelReq(cl="c1", ts=2))
    act = world.td.wait("ReqOrderAction")
    assert (act.ActionFlag, act.ExchangeID, act.OrderSysID.strip()) == ("0", "SHFE", "123")
    # the exchange filled one lot before the cancel arrived; the canceled report comes first
    spi.OnRtnOrder(rtn_order(req, status="5", traded=1))
    world.no_oe(0.2)  # done must wait for the fill CTP said happened
    spi.OnRtnTrade(rtn_trade(req, tid="77", qty=1, price=600.0))
    got = world.recv_until(Done)
    assert [type(m) for m in got] == [Fill, Done]
    assert got[1].state == "canceled" and got[1].cum == 1
    world.send(CancelReq(cl="c1", ts=3))
    cr = world.recv()
    assert isinstance(cr, CancelReject) and cr.code == "not_open"
    world.send(CancelReq(cl="nope", ts=3))
    assert world.recv().code == "unknown_order"


def test_cancel_reject_from_ctp_and_ioc_expiry(world: World) -> None:
    world.send(new("c1", tif="IOC"))
    req = world.td.wait("ReqOrderInsert")
    world.send(CancelReq(cl="c1", ts=2))
    act = world.td.wait("ReqOrderAction")
    assert (act.FrontID, act.SessionID, act.OrderRef) == (1, 100, req.OrderRef)  # no sys id yet
    bad = tdapi.CThostFtdcInputOrderActionField()
    bad.ExchangeID, bad.OrderRef, bad.FrontID, bad.SessionID = "SHFE", req.OrderRef, 1, 100
    world.gw.td_spi.OnRspOrderAction(bad, rsp_info(26, "status"), 9, True)
    assert world.recv().code == "not_open"
    world.gw.td_spi.OnRtnOrder(rtn_order(req, status="5", traded=0))
    got = world.recv_until(Done)
    assert got[-1].state == "expired" and got[-1].cum == 0


def test_exchange_rejected_order(world: World) -> None:
    world.send(new("c1"))
    req = world.td.wait("ReqOrderInsert")
    world.gw.td_spi.OnRtnOrder(rtn_order(req, status="5", traded=0, sys_id="", submit="4",
                                         msg="price out of limit"))
    rej = world.recv()
    assert isinstance(rej, Reject) and rej.code == "exchange_rejected"


def test_disconnect_reconnect_resume_drops_duplicates(world: World) -> None:
    world.send(new("c1", qty=2))
    req = world.td.wait("ReqOrderInsert")
    spi = world.gw.td_spi
    spi.OnRtnOrder(rtn_order(req, status="1", traded=1))
    spi.OnRtnTrade(rtn_trade(req, tid="500", qty=1, price=600.0))
    assert [type(m) for m in world.recv_until(Fill)] == [Ack, Fill]
    spi.OnFrontDisconnected(0x1001)
    down = world.recv()
    assert isinstance(down, Session) and down.state == "down"
    world.send(new("c2"))
    assert world.recv().code == "session_down"
    world.login(front=2, session=200, max_ref="40")  # no second instrument query
    assert len(world.td.of("ReqQryInstrument")) == 1
    # resume: the private topic replays the day's reports, then what was missed
    spi.OnRtnOrder(rtn_order(req, status="1", traded=1))
    spi.OnRtnTrade(rtn_trade(req, tid="500", qty=1, price=600.0))
    spi.OnRtnOrder(rtn_order(req, status="0", traded=2))
    spi.OnRtnTrade(rtn_trade(req, tid="501", qty=1, price=600.0))
    got = world.recv_until(Done)
    assert [(type(m).__name__, getattr(m, "tid", "")) for m in got] == [
        ("Fill", "SHFE:501"), ("Done", "")]
    assert world.gw.tracker.duplicate_trades == 1
    world.send(new("c3"))
    assert int(world.td.wait("ReqOrderInsert", 2).OrderRef) == 41  # above MaxOrderRef


def test_positions_and_balances_via_query_queue(world: World) -> None:
    world.send(PositionsReq())
    world.send(BalancesReq())
    q = world.td.wait("ReqQryInvestorPosition")
    assert (q.BrokerID, q.InvestorID) == ("9999", "u1")
    rows = []
    for d, pos, today in (("2", 5, 2), ("3", 1, 0), ("2", 3, 0)):
        r = tdapi.CThostFtdcInvestorPositionField()
        r.InstrumentID, r.PosiDirection, r.Position, r.TodayPosition = "au2612", d, pos, today
        rows.append(r)
    for i, r in enumerate(rows):
        world.gw.td_spi.OnRspQryInvestorPosition(r, None, 1, i == len(rows) - 1)
    pos = world.recv()
    assert [(p.sym, p.long, p.short, p.long_today, p.short_today, p.net) for p in pos.list] == [
        ("au2612", 8, 1, 2, 0, 7)]
    world.td.wait("ReqQryTradingAccount")  # only after the first query's interval
    acct = tdapi.CThostFtdcTradingAccountField()
    acct.Balance, acct.Available, acct.CurrMargin = 1_000_000.0, 900_000.0, 80_000.0
    world.gw.td_spi.OnRspQryTradingAccount(acct, None, 2, True)
    bal = world.recv()
    assert [(b.ccy, b.total, b.available, b.margin_used) for b in bal.list] == [
        ("CNY", 1_000_000.0, 900_000.0, 80_000.0)]
    world.send(OpenOrdersReq())
    assert world.recv().list == []


def test_md_deltas_night_session_and_repeats(world: World) -> None:
    world.md_login()
    subs = world.md.of("SubscribeMarketData")[0]
    assert set(subs) == {b"au2612", b"m2701"}
    world.ref_req(SnapshotReq(sym="au2612"))  # the SUB is connected once ref answers
    f = mdapi.CThostFtdcDepthMarketDataField()
    f.InstrumentID, f.ExchangeID = "au2612", "SHFE"
    f.TradingDay, f.ActionDay, f.UpdateTime, f.UpdateMillisec = "20261207", "20261205", \
        "01:30:00", 500  # Saturday 01:30 of Friday's night session; trading day Monday
    want = dt.datetime(2026, 12, 5, 1, 30, 0, 500_000, tzinfo=CHINA)
    # received 0.3 s later: the gateway's receipt clock decides only when ActionDay is off by
    # more than 12 h, so the test must not depend on the wall clock's time of day
    world.gw.now_ns = lambda: int(want.timestamp() * 1000) * 1_000_000 + 300_000_000
    f.BidPrice1, f.BidVolume1, f.AskPrice1, f.AskVolume1 = 600.0, 4, 600.04, 2
    f.BidPrice2, f.BidVolume2 = 1.7976931348623157e308, 0
    world.gw.md_spi.OnRtnDepthMarketData(f)
    d = world.md_next()
    assert isinstance(d, Delta) and (d.seq, d.b, d.a) == (1, [(30_000, 4)], [(30_002, 2)])
    assert d.ts == int(want.timestamp() * 1000) * 1_000_000
    world.gw.md_spi.OnRtnDepthMarketData(f)  # the same snapshot again: nothing
    f.BidVolume1 = 5
    world.gw.md_spi.OnRtnDepthMarketData(f)
    d2 = world.md_next()
    assert (d2.seq, d2.b, d2.a) == (2, [(30_000, 5)], [])
    snap = world.ref_req(SnapshotReq(sym="au2612"))
    assert (snap.seq, snap.b, snap.a) == (2, [(30_000, 5)], [(30_002, 2)])


def test_commission_and_margin_rates_from_queries(world: World) -> None:
    q = world.td.wait("ReqQryInstrumentCommissionRate")
    assert (q.BrokerID, q.InvestorID, q.InstrumentID) == ("9999", "u1", "au2612")
    m = world.td.wait("ReqQryInstrumentMarginRate")
    assert (m.InstrumentID, m.HedgeFlag) == ("au2612", "1")
    row = tdapi.CThostFtdcInstrumentCommissionRateField()
    row.InstrumentID = "au"  # answered per product
    row.OpenRatioByVolume, row.CloseTodayRatioByMoney = 2.0, 0.0001
    world.gw.td_spi.OnRspQryInstrumentCommissionRate(row, None, 1, True)
    mr = tdapi.CThostFtdcInstrumentMarginRateField()
    mr.InstrumentID, mr.LongMarginRatioByMoney = "au2612", 0.12
    world.gw.td_spi.OnRspQryInstrumentMarginRate(mr, None, 2, True)
    for _ in range(100):  # the loop applies them in order: wait for the instrument list
        inst = {i.sym: i for i in world.ref_req(InstrumentsReq()).list}
        if inst["au2612"].margin_rate == 0.12:
            break
    assert inst["au2612"].fee_per_lot == 2.0 and inst["au2612"].margin_rate == 0.12
    world.send(new("c1", offset="close_today", qty=1))
    req = world.td.wait("ReqOrderInsert")
    world.gw.td_spi.OnRtnOrder(rtn_order(req, status="0", traded=1))
    world.gw.td_spi.OnRtnTrade(rtn_trade(req, tid="1", qty=1, price=600.0))
    fill = world.recv_until(Fill)[-1]
    assert fill.fee == pytest.approx(600.0 * 1000 * 0.0001)


def test_secrets_never_logged(tmp_path: Path) -> None:
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lines.append, level="TRACE")
    w = World(tmp_path)
    try:
        w.login()
        w.gw.td_spi.OnFrontDisconnected(0x2002)
        assert w.recv().state == "down"
        w.login(front=3, session=5)
    finally:
        w.close()
        logger.remove(sink)
    text = "".join(lines)
    assert "session up" in text and "s3cret-pw" not in text and "auth-code-x" not in text



def test_hostile_requests_are_answered_malformed_and_both_loops_go_on(world: World) -> None:
    # before, a request of three frames was read by its last part, and an exception in a
    # request's handling ended the oe loop: the gateway went deaf to every later order
    for parts, piece in HOSTILE_REQUESTS:
        world.oe.send_multipart(parts)
        assert is_malformed(world.recv(), piece), parts
        world.ref.send_multipart(parts)
        assert world.ref.poll(5_000), f"no ref reply to {parts}"
        assert is_malformed(world.ref_dec.decode(world.ref.recv_multipart()[-1]), piece), parts
    world.send(Ping(ts=7))
    pong = world.recv()
    assert isinstance(pong, Pong) and pong.echo == 7
    assert isinstance(world.ref_req(InstrumentsReq()), Instruments)


def test_an_api_call_that_raises_leaves_the_order_unknown_and_order_entry_open(
        world: World) -> None:
    world.td.raises["ReqOrderInsert"] = TypeError("in method 'ReqOrderInsert', argument 2")
    world.send(new("c1"))
    world.td.wait("ReqOrderInsert")
    world.send(QueryReq(cl="c1"))  # whether it left is not known: never a reject
    assert world.recv().state == "unknown"
    del world.td.raises["ReqOrderInsert"]
    world.send(new("c2"))
    world.td.wait("ReqOrderInsert", 2)
    world.send(OpenOrdersReq())
    assert [o.cl for o in world.recv().list] == ["c2"]
