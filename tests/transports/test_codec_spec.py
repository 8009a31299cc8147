"""Decode by the spec: every variant the venue protocol allows decodes (docs/venue-protocol.md,
"Types"): opaque ids as strings or integers, nil as absent, integer-valued decimal strings.

A gateway written from the spec alone may send any of these; a frame the engine cannot decode
is an ack or a fill it never sees (issue 12: a venue with integer ids left the engine blind to
its own fills)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transports.errors import CodecError
from transports.wire.codec import Codec, batch_codec
from transports.wire.venue_msgs import (
    Ack,
    Done,
    Fill,
    Instruments,
    MdMessage,
    OeReply,
    OpenOrders,
    OrderStatus,
    RefReply,
    Trades,
)

OE: Codec[Any] = Codec(OeReply)
REF: Codec[Any] = Codec(RefReply)
MD: Codec[Any] = Codec(MdMessage)

ids = st.one_of(st.text("abcXYZ0123456789._-", min_size=1, max_size=32),
                st.integers(min_value=0, max_value=2**63 - 1))
ts = st.integers(min_value=0, max_value=2**62)
px = st.integers(min_value=1, max_value=10**9)
qty = st.integers(min_value=0, max_value=10**6)


def _maybe_nil(d: dict[str, Any], optional: list[str], nil: list[bool]) -> dict[str, Any]:
    """Set each optional key to nil, drop it, or keep it (the three spellings of 'absent')."""
    out = dict(d)
    for k, n in zip(optional, nil, strict=False):
        if n:
            out[k] = None
    return out


def _text(v: Any) -> str:
    return v if isinstance(v, str) else str(v)


@settings(max_examples=200, deadline=None)
@given(cl=ids, oid=ids, tid=ids, p=px, q=qty, t=ts, fee=st.one_of(st.none(), st.floats(-5, 5)),
       liq=st.one_of(st.none(), st.sampled_from(["T", "M"])))
def test_fill_and_ack_with_any_id_type_decode_as_text(cl: Any, oid: Any, tid: Any, p: int,
                                                       q: int, t: int, fee: Any,
                                                       liq: Any) -> None:
    ack = OE.decode(msgspec.msgpack.encode({"t": "ack", "cl": cl, "oid": oid, "ts": t}))
    assert ack == Ack(cl=_text(cl), oid=_text(oid), ts=t)
    fill = OE.decode(msgspec.msgpack.encode({"t": "fill", "cl": cl, "oid": oid, "tid": tid,
                                             "px": p, "qty": q, "ts": t, "fee": fee,
                                             "liq": liq}))
    assert isinstance(fill, Fill)
    assert (fill.cl, fill.oid, fill.tid) == (_text(cl), _text(oid), _text(tid))
    assert fill.fee == (0.0 if fee is None else fee) and fill.liq == (liq or "T")
    done = OE.decode(msgspec.msgpack.encode({"t": "done", "cl": cl, "oid": oid,
                                             "state": "filled", "cum": q, "ts": t}))
    assert done == Done(cl=_text(cl), oid=_text(oid), state="filled", cum=q, ts=t)


@settings(max_examples=100, deadline=None)
@given(cl=ids, oid=st.one_of(st.none(), ids), tid=ids, n=st.integers(0, 3), nil=st.booleans())
def test_query_and_list_replies_with_any_id_type_and_nil_optionals(cl: Any, oid: Any, tid: Any,
                                                                   n: int, nil: bool) -> None:
    fills = [{"cl": cl, "oid": oid if oid is not None else 7, "tid": tid, "px": 10, "qty": 1,
              "ts": 5, "sym": None if nil else "X"} for _ in range(n)]
    st_ = OE.decode(msgspec.msgpack.encode({"t": "status", "cl": cl, "state": "unknown",
                                            "oid": oid, "cum": None if nil else 0,
                                            "fills": fills}))
    assert isinstance(st_, OrderStatus) and st_.cl == _text(cl)
    assert st_.oid == ("" if oid is None else _text(oid))
    assert [f.tid for f in st_.fills] == [_text(tid)] * n
    tr = OE.decode(msgspec.msgpack.encode({"t": "trades", "list": fills}))
    assert isinstance(tr, Trades) and [f.cl for f in tr.list] == [_text(cl)] * n
    oo = OE.decode(msgspec.msgpack.encode({"t": "open_orders", "list": [
        {"cl": cl, "oid": tid, "sym": "X", "side": "B", "px": 1, "qty": 2, "cum": 0,
         "tif": None}]}))
    assert isinstance(oo, OpenOrders) and oo.list[0].oid == _text(tid)
    assert oo.list[0].tif == "GTC"


@pytest.mark.parametrize("lot,min_qty,max_qty", [
    ("1000", 1, 500), (1000, "1", "500"), (1000, "1.0", "500.00"), ("0.01", None, None)])
def test_instrument_numbers_in_either_spelling(lot: Any, min_qty: Any, max_qty: Any) -> None:
    msg = REF.decode(msgspec.msgpack.encode({"t": "instruments", "list": [
        {"sym": "au", "tick": "0.02", "lot": lot, "ccy": "CNY", "unit": "g",
         "min_qty": min_qty, "max_qty": max_qty}]}))
    assert isinstance(msg, Instruments)
    ins = msg.list[0]
    assert ins.lot == str(lot)
    assert ins.min_qty == (1 if min_qty is None else int(float(min_qty)))
    assert ins.max_qty == (1_000_000 if max_qty is None else int(float(max_qty)))


def test_a_nil_required_key_is_invalid() -> None:
    for frame in ({"t": "ack", "cl": None, "oid": 1, "ts": 1},
                  {"t": "fill", "cl": "a", "oid": 1, "tid": None, "px": 1, "qty": 1, "ts": 1},
                  {"t": "delta", "sym": "X", "seq": None, "ts": 1}):
        with pytest.raises(CodecError, match="invalid message"):
            (MD if frame["t"] == "delta" else OE).decode(msgspec.msgpack.encode(frame))


def test_a_fractional_integer_is_refused_naming_the_field() -> None:
    with pytest.raises(CodecError, match="min_qty"):
        REF.decode(msgspec.msgpack.encode({"t": "instruments", "list": [
            {"sym": "au", "tick": "0.02", "lot": "1000", "ccy": "CNY", "unit": "g",
             "min_qty": "1.5"}]}))


def test_deep_nesting_is_refused_not_a_crash() -> None:
    # {"t": "trades", "list": [[[...5000 levels...["x"]]]]}, written by hand: the encoder
    # itself refuses to nest that deep
    head = msgspec.msgpack.encode({"t": "trades"})
    frame = bytes([head[0] + 1]) + head[1:] + msgspec.msgpack.encode("list")
    frame += b"\x91" * 5000 + msgspec.msgpack.encode("x")
    for codec in (OE, batch_codec):
        with pytest.raises(CodecError):
            codec.decode(frame)


def test_strict_frames_take_the_fast_path() -> None:
    codec: Codec[Any] = Codec(OeReply)
    codec.decode(msgspec.msgpack.encode({"t": "ack", "cl": "a", "oid": "b", "ts": 1}))
    assert codec.lenient_frames == 0
    codec.decode(msgspec.msgpack.encode({"t": "ack", "cl": "a", "oid": 2, "ts": 1}))
    assert codec.lenient_frames == 1
