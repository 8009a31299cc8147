"""The engine's own order path against the CTP gateway: the leg executor as a node builds it (its
shell's DEALER opened as a host opens it, its messages routed and its timers fired by the
engine's Dispatcher, ``tests.support.engine_md``) reconciles with the gateway as at every start
(adopting CTP's position), then sends a LegOrder; CTP (the recording API) accepts and fills it;
the executor reports the fill and the position to its combo exactly as the venue did it."""

from __future__ import annotations

from pathlib import Path

from openctp_ctp import thosttraderapi as tdapi

from tests.ctp.ctp_world import World
from tests.ctp.test_ctp_gateway import rtn_order, rtn_trade
from tests.support.engine_md import EngineFeed
from transports.wire.messages import ExecReport, FeedHealth, LegOrder


def test_a_leg_order_through_the_ctp_gateway_is_acked_filled_and_reported(
        tmp_path: Path) -> None:
    w = World(tmp_path)
    eng = None
    try:
        w.login()
        w.md_login()  # the engine trades only on a healthy feed
        eng = EngineFeed(w.cfg, w.sock_dir, "shfe", leg=True)
        # it reconciles first, as at every start: open orders and trades the gateway knows,
        # positions from CTP's position query (answered here: one long au2612 lot held)
        q = w.td.wait("ReqQryInvestorPosition")
        assert (q.BrokerID, q.InvestorID) == ("9999", "u1")
        row = tdapi.CThostFtdcInvestorPositionField()
        row.InstrumentID, row.PosiDirection, row.Position, row.TodayPosition = "au2612", "2", 1, 0
        w.gw.td_spi.OnRspQryInvestorPosition(row, None, 1, True)
        leg = eng.shells["leg.shfe"].core

        def synced() -> bool:  # the feed told its health listeners (the leg, risk) SYNCED
            return any(h.state == "SYNCED" for h in eng.to("risk", FeedHealth))

        eng.pump_until(lambda: leg.gate == "" and synced(),
                       "the start reconciliation or the feed's sync never ended")
        assert leg.book.positions.get("au2612") == 1  # the venue's position, adopted
        order = LegOrder(7, 0, 0, "shfe", "au2612", "B", 2, 30_000, "GTC", "entry", 0, 0)
        eng.route("@group", "leg.shfe", order)
        assert [r.kind for r in eng.to("combo", ExecReport)] == ["sent"], [
            (r.kind, r.reason) for r in eng.to("combo", ExecReport)]
        req = w.td.wait("ReqOrderInsert")
        assert (req.InstrumentID, req.VolumeTotalOriginal, req.LimitPrice) == ("au2612", 2, 600.0)
        spi = w.gw.td_spi
        spi.OnRtnOrder(rtn_order(req, status="3", traded=0))
        spi.OnRtnOrder(rtn_order(req, status="0", traded=2))
        spi.OnRtnTrade(rtn_trade(req, tid=" 77", qty=2, price=600.0))

        def kinds() -> list[str]:
            return [r.kind for r in eng.to("combo", ExecReport) if r.combo_id == 7]

        eng.pump_until(lambda: "done" in kinds(), "the done never reached the executor")
        assert kinds() == ["sent", "accepted", "fill", "done"]
        fill = next(r for r in eng.to("combo", ExecReport) if r.kind == "fill")
        assert (fill.sym, fill.side, fill.px_ticks, fill.qty_lots, fill.cum_lots) == (
            "au2612", "B", 30_000, 2, 2)
        assert (fill.trade_id, fill.fee) == ("SHFE:77", 20.0)  # 2 lots at 10 CNY each
        assert leg.book.positions.get("au2612") == 3
    finally:
        if eng is not None:
            eng.close()
        w.close()
