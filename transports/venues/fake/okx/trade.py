"""OKX order entry on the fake: place, cancel and find orders, shared by the REST endpoints
(``trade/order``, ``trade/batch-orders``, ``trade/cancel-order``, ``GET trade/order``) and the
websocket order ops. Each order's outcome is an OKX result entry (``sCode`` / ``sMsg``); an
error of the whole request (the 429 rate limit, 50004 for an answer that did not come) is an
``OkxError``.

What OKX checks here: ``instId`` (51001), ``side``, ``ordType`` (limit, ioc, fok; others
51000), ``tdMode`` (cash on spot; cross or isolated on swap), ``clOrdId`` (1 to 32 letters or
digits), ``px`` on the tick, ``sz`` on the lot size (51121; below the minimum 51020; above the
maximum 51203), ``reduceOnly`` (swap only, and only against a position it reduces: 51205 /
51112) and funds (51008); the simulator then accepts or rejects (duplicate open or used
``clOrdId``: 51016).
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from transports.venues.fake.core import FakeError, Throttled
from transports.venues.fake.okx.codec import (
    TIF,
    OkxError,
    OkxMarket,
    OrderMeta,
    default_meta,
    ms_str,
    ord_id,
    reject_code,
    sim_order_num,
)
from transports.venues.sim.matching import Order
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Fill,
    NewOrder,
    Reject,
)

if TYPE_CHECKING:
    from transports.venues.fake.okx.fake import OkxFake

REQUEST_TIMEOUT_S = 3.0  #: longest wait for the simulator's answer to one request
CL_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
TIMEOUT = ("50004", "Endpoint request timeout (does not indicate success or failure of order, "
           "please check order status)")


def rate_limited(retry_after_s: int) -> OkxError:
    """OKX's rate-limit answer: HTTP 429, code 50011, ``Retry-After``."""
    return OkxError("50011", "Too Many Requests", 429, max(1, retry_after_s))


def _entry(cl: str, oid: str, tag: str, now_ns: int, code: str = "0", msg: str = "") -> dict:
    return {"clOrdId": cl, "ordId": oid, "tag": tag, "ts": ms_str(now_ns), "sCode": code,
            "sMsg": msg}


def _flag(v: Any) -> bool:
    return v is True or str(v).lower() == "true"


def _check(fake: OkxFake, account: str, args: dict[str, Any]
           ) -> tuple[OkxMarket, NewOrder, OrderMeta]:
    m = fake.market(args.get("instId"))
    side = args.get("side")
    if side not in ("buy", "sell"):
        raise OkxError("51000", "Parameter side error")
    ord_type = str(args.get("ordType", ""))
    if ord_type not in TIF:
        raise OkxError("51000", f"Parameter ordType error: {ord_type} is not served by the fake")
    td_mode = str(args.get("tdMode", ""))
    if td_mode not in (("cash",) if m.market == "spot" else ("cross", "isolated")):
        raise OkxError("51000", "Parameter tdMode error")
    cl = args.get("clOrdId")
    if cl is None or cl == "":
        cl = f"okxfake{next(fake.cl_ids)}"
    elif not isinstance(cl, str) or not CL_RE.match(cl):
        raise OkxError("51000", "Parameter clOrdId error")
    px, lots = m.ticks(args.get("px")), m.lots(args.get("sz"))
    reduce_only = _flag(args.get("reduceOnly", False))
    s = "B" if side == "buy" else "S"
    if reduce_only:
        if m.market == "spot":
            raise OkxError("51139", "Reduce-only feature is unavailable for spot transactions")
        pos = fake.core.position_lots(m.venue, account, m.inst_id)
        if pos == 0 or (pos > 0) == (s == "B"):
            raise OkxError("51205", "Reduce-Only is not available: no position in this "
                           "direction to reduce")
        if lots > abs(pos):
            raise OkxError("51112", "Close order size exceeds your available size")
    req = NewOrder(cl=cl, sym=m.inst_id, side=s, px=px, qty=lots, tif=TIF[ord_type],
                   ts=fake.core.now_ns(), reduce_only=reduce_only)
    meta = OrderMeta(td_mode=td_mode, ord_type=ord_type, reduce_only=reduce_only,
                     tag=str(args.get("tag", "") or ""))
    return m, req, meta


async def place(fake: OkxFake, account: str, args: dict[str, Any]) -> dict[str, Any]:
    """Place one order of ``account``; its OKX result entry. Raises ``OkxError`` for the whole
    request: 429 / 50011 when throttled, 50004 when the answer did not come (or the
    ``timeout_order`` fault says so; the order still executes)."""
    core = fake.core
    cl_in, tag = str(args.get("clOrdId", "") or ""), str(args.get("tag", "") or "")
    try:
        m, req, meta = _check(fake, account, args)
        core.check_funds(m.venue, account, m.inst_id, req.side, req.px, req.qty,
                         req.reduce_only)
    except OkxError as e:
        return _entry(cl_in, "", tag, core.now_ns(), e.code, e.msg)
    except FakeError as e:
        code, msg = reject_code(e.code, "B" if args.get("side") == "buy" else "S")
        return _entry(cl_in, "", tag, core.now_ns(), code, msg)
    key = (m.venue, account, req.cl)
    prev = core.order(m.venue, account, req.cl)
    if prev is None or not prev.is_open:  # a duplicate must not relabel the open order
        fake.meta[key] = meta
    timeout = core.faults.take_timeout(account, core.now_ns(), req.cl)
    try:
        replies = await core.request(m.venue, account, req, REQUEST_TIMEOUT_S)
    except Throttled as e:
        raise rate_limited(e.retry_after_s) from None
    if timeout is not None:
        mode, hang_ms = timeout
        if mode == "error":
            raise OkxError(*TIMEOUT)
        await asyncio.sleep(hang_ms / 1000.0)
    now = core.now_ns()
    for r in replies:
        if isinstance(r, Reject):
            if r.code == "throttled":  # the simulator's own rate limit (oe_throttle)
                raise rate_limited(-(-max(1, r.retry_ms) // 1000))
            code, msg = reject_code(r.code, req.side)
            return _entry(req.cl, "", meta.tag, now, code, msg)
        if isinstance(r, Ack | Fill | Done):  # an order with fills but no ack was accepted
            return _entry(req.cl, ord_id(m.market, r.oid), meta.tag, now, "0", "Order placed")
    raise OkxError(*TIMEOUT)


def batch_code(entries: list[dict[str, Any]]) -> tuple[str, str]:
    """The request's ``code`` / ``msg`` from its orders' ``sCode``s."""
    bad = sum(1 for e in entries if e["sCode"] != "0")
    if bad == 0:
        return "0", ""
    if bad == len(entries):
        return "1", "All operations failed"
    return "2", "Bulk operation partially succeeded"


def find_order(fake: OkxFake, account: str, args: dict[str, Any]) -> tuple[OkxMarket, Order]:
    """The order named by ``instId`` + ``clOrdId`` or ``ordId`` (without ``instId``: looked up
    by ``ordId`` in every market). 51603 if there is none, it was rejected, or the simulator's
    ``oe_unknown_query`` fault hides it still."""
    core = fake.core
    cl, oid = args.get("clOrdId"), args.get("ordId")
    if not cl and not oid:
        raise OkxError("51003", "Either client order ID or order ID is required")
    inst = args.get("instId")
    markets = [fake.market(inst)] if inst else fake.markets_of()
    for m in markets:
        o = None
        if cl:
            o = core.order(m.venue, account, str(cl))
        else:
            n = sim_order_num(m.market, oid)
            o = core.order_by_oid(m.venue, account, n) if n is not None else None
        if o is not None and o.oid and core.now_ns() >= o.unknown_until:
            return m, o
    raise OkxError("51603", "Order does not exist")


async def cancel(fake: OkxFake, account: str, args: dict[str, Any]) -> dict[str, Any]:
    """Cancel one order of ``account``; its OKX result entry (51400 no such order, 51401
    already canceled, 51402 already filled). 50004 when the answer did not come."""
    core = fake.core
    cl_in, oid_in = str(args.get("clOrdId", "") or ""), str(args.get("ordId", "") or "")
    try:
        m, o = find_order(fake, account, args)
    except OkxError as e:
        code = "51400" if e.code == "51603" else e.code
        msg = "Order cancellation failed as the order does not exist" if code == "51400" else e.msg
        return {"clOrdId": cl_in, "ordId": oid_in, "ts": ms_str(core.now_ns()), "sCode": code,
                "sMsg": msg}
    oid = ord_id(m.market, o.oid)
    replies = await core.request(m.venue, account, CancelReq(cl=o.cl, ts=core.now_ns()),
                                 REQUEST_TIMEOUT_S)
    now = core.now_ns()
    out = {"clOrdId": o.cl, "ordId": oid, "ts": ms_str(now), "sCode": "0", "sMsg": ""}
    for r in replies:
        if isinstance(r, Done):
            fake.meta.setdefault((m.venue, account, o.cl), default_meta(m, o)).done_ns = r.ts
            return out
        if isinstance(r, CancelReject):
            if r.code == "not_open" and o.state == "filled":
                return {**out, "sCode": "51402", "sMsg": "Order has been completed"}
            if r.code == "not_open":
                return {**out, "sCode": "51401", "sMsg": "Order has been canceled"}
            return {**out, "sCode": "51400",
                    "sMsg": "Order cancellation failed as the order does not exist"}
    raise OkxError(*TIMEOUT)


__all__ = ["REQUEST_TIMEOUT_S", "TIMEOUT", "batch_code", "cancel", "find_order", "place",
           "rate_limited"]
