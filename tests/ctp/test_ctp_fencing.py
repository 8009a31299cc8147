"""Fencing (protocol v2 ``epoch``) at the CTP gateway, its SPI called with real CThostFtdc*Field
structures: once the account sent epoch 5, a ``new`` with epoch 4 is rejected ``fenced`` with
no ReqOrderInsert, a ``cancel`` with epoch 4 is refused with no ReqOrderAction (the order stays
working), epoch 0 is never fenced, and a restarted gateway (the epoch is durable beside the
order map) still fences epoch 4."""

from __future__ import annotations

import json
from pathlib import Path

from openctp_ctp import thosttraderapi as tdapi

from tests.ctp.ctp_world import World
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    NewOrder,
    OrderStatus,
    QueryReq,
    Reject,
)


def new(cl: str, epoch: int) -> NewOrder:
    return NewOrder(cl=cl, sym="au2612", side="B", px=30_000, qty=3, tif="GTC", ts=1,
                    offset="open", epoch=epoch)


def accepted(w: World, cl: str, epoch: int, n: int, sys_id: str) -> None:
    """``new`` goes out as the ``n``-th ReqOrderInsert; CTP says it is queued: ack."""
    w.send(new(cl, epoch))
    req = w.td.wait("ReqOrderInsert", n)
    f = tdapi.CThostFtdcOrderField()
    f.InstrumentID, f.ExchangeID, f.OrderRef = req.InstrumentID, req.ExchangeID, req.OrderRef
    f.FrontID, f.SessionID, f.OrderSysID = 1, 100, sys_id
    f.OrderStatus, f.OrderSubmitStatus, f.VolumeTraded = "3", "3", 0
    f.VolumeTotalOriginal = req.VolumeTotalOriginal
    w.gw.td_spi.OnRtnOrder(f)
    ack = w.recv()
    assert isinstance(ack, Ack) and ack.cl == cl


def state_of(w: World, cl: str) -> str:
    w.send(QueryReq(cl=cl))
    st = w.recv()
    assert isinstance(st, OrderStatus) and st.cl == cl
    return st.state


def test_older_epoch_never_reaches_ctp_and_a_restart_still_fences(tmp_path: Path) -> None:
    w = World(tmp_path)
    try:
        w.login()
        accepted(w, "5.1", 5, 1, "  501")
        w.send(new("4.1", 4))
        rej = w.recv()
        assert isinstance(rej, Reject) and (rej.cl, rej.code) == ("4.1", "fenced")
        assert "epoch 4" in rej.reason and "5" in rej.reason
        w.send(CancelReq(cl="5.1", ts=2, epoch=4))
        cr = w.recv()
        assert isinstance(cr, CancelReject) and (cr.cl, cr.code) == ("5.1", "fenced")
        assert state_of(w, "5.1") == "new"  # still working
        accepted(w, "0.1", 0, 2, "  502")  # no epoch: never fenced
        # the fenced requests never reached CTP: one insert per accepted order, no action
        assert [f.OrderRef for f in w.td.of("ReqOrderInsert")] == ["1", "2"]
        assert w.td.of("ReqOrderAction") == []
        assert "4.1" not in w.gw.clmap.by_cl
        path = w.gw.fence.path
        assert path is not None and json.loads(path.read_text()) == {"acct": 5}
    finally:
        w.close()

    w = World(tmp_path)  # the gateway restarts on the same state
    try:
        w.login()
        w.send(new("4.2", 4))
        rej = w.recv()
        assert isinstance(rej, Reject) and (rej.cl, rej.code) == ("4.2", "fenced")
        w.send(CancelReq(cl="5.1", ts=3, epoch=4))
        cr = w.recv()
        assert isinstance(cr, CancelReject) and (cr.cl, cr.code) == ("5.1", "fenced")
        assert w.td.of("ReqOrderInsert") == [] and w.td.of("ReqOrderAction") == []
        w.send(CancelReq(cl="5.1", ts=4, epoch=5))  # the current primary still can
        act = w.td.wait("ReqOrderAction")
        assert (act.ExchangeID, act.OrderSysID.strip()) == ("SHFE", "501")
    finally:
        w.close()
