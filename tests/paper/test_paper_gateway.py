"""The paper gateway end to end: the simulator gateway for real as the source, the paper
gateway over real ipc sockets, traded by a ZeroMQ DEALER speaking the protocol."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from tests.paper.confs import PAPER, paper_conf, sim_conf
from tests.paper.world import CLOCK, ENC, World, ask, deadline, recv, reports_until
from transports.config.engine import load_config
from transports.venues.sim.truth import SimTruth
from transports.wire.codec import Codec
from transports.wire.venue_msgs import Delta, Heartbeat, MdMessage, MdStatus, OeReply, RefReply

OE: Codec[Any] = Codec(OeReply)
MD: Codec[Any] = Codec(MdMessage)
REF: Codec[Any] = Codec(RefReply)
ACCT = b"comex-paper-acct"


@pytest.fixture
def world(tmp_path: Path, sock_dir: str, request: pytest.FixtureRequest) -> Iterator[World]:
    opts = getattr(request, "param", {})
    cfg = load_config(paper_conf(tmp_path / "paper.toml"))
    w = World(cfg, sim_conf(**opts), sock_dir)
    try:
        w.start_sim()
        w.start_paper()
        yield w
    finally:
        w.close()


def _synced_snapshot(w: World, ref: zmq.Socket[Any]) -> dict[str, Any]:
    """The paper venue's snapshot once it shows both sides (its source book is current)."""
    end = deadline(10)
    while CLOCK.mono_ns() < end:
        snap = ask(ref, {"t": "snapshot", "sym": "GCZ6"})
        if snap["b"] and snap["a"]:
            return snap
    raise AssertionError("the paper book never became current")


def _new(cl: str, side: str, px: int, qty: int, tif: str) -> dict[str, Any]:
    return {"t": "new", "cl": cl, "sym": "GCZ6", "side": side, "px": px, "qty": qty, "tif": tif,
            "ts": CLOCK.now_ns()}


def _closed(cl: str) -> Any:
    return lambda reps: any(r["t"] in ("done", "reject") and r["cl"] == cl for r in reps)


@pytest.mark.e2e
@pytest.mark.parametrize("world", [{"static_comex": True}], indirect=True)
def test_orders_fill_against_the_source_book_and_reconcile(world: World) -> None:
    w = world
    src_ref = w.sock(zmq.DEALER, "comex", "ref")
    ref = w.sock(zmq.DEALER, PAPER, "ref")
    oe = w.sock(zmq.DEALER, PAPER, "oe", ident=ACCT)
    # instruments: the source's list, version 2, the paper's fees
    src_ins, ins = ask(src_ref, {"t": "instruments"}), ask(ref, {"t": "instruments"})
    assert ins["v"] == 2 and REF.decode(ENC.encode(ins)).v == 2
    assert [{k: i[k] for k in ("sym", "tick", "lot", "ccy", "max_qty")} for i in ins["list"]] \
        == [{k: i[k] for k in ("sym", "tick", "lot", "ccy", "max_qty")} for i in src_ins["list"]]
    assert ins["list"][0]["taker_bps"] == 0.1
    # the source quotes once and never again: its snapshot is the book the orders meet
    mine = _synced_snapshot(w, ref)
    src = ask(src_ref, {"t": "snapshot", "sym": "GCZ6"})
    assert (mine["b"], mine["a"]) == (src["b"], src["a"])
    (a0, q0), (a1, q1) = src["a"][0], src["a"][1]

    # IOC for more than the best ask shows: fills exactly what the source shows there
    oe.send(ENC.encode(_new("1.1.1.0", "B", a0, q0 + 5, "IOC")))
    reps = reports_until(oe, _closed("1.1.1.0"))
    assert [r["t"] for r in reps] == ["ack", "fill", "done"]
    fill = reps[1]
    assert (fill["px"], fill["qty"], fill["liq"]) == (a0, q0, "T")
    assert fill["fee"] == pytest.approx(a0 * 0.1 * 100 * q0 * 0.1 / 1e4)
    assert (reps[2]["state"], reps[2]["cum"]) == ("canceled", q0)
    # the source still shows that ask; the paper venue does not (what we took is gone)
    assert ask(src_ref, {"t": "snapshot", "sym": "GCZ6"})["a"][0] == [a0, q0]
    after = ask(ref, {"t": "snapshot", "sym": "GCZ6"})
    assert after["a"][0] == [a1, q1] and after["seq"] == mine["seq"] + 1
    # so a second IOC at that price gets nothing; a FOK beyond what is left takes nothing
    oe.send(ENC.encode(_new("1.2.1.0", "B", a0, 1, "IOC")))
    reps = reports_until(oe, _closed("1.2.1.0"))
    assert [(r["t"], r.get("cum")) for r in reps] == [("ack", None), ("done", 0)]
    oe.send(ENC.encode(_new("1.3.1.0", "B", a1, q1 + 1, "FOK")))
    reps = reports_until(oe, _closed("1.3.1.0"))
    assert [(r["t"], r.get("cum")) for r in reps] == [("ack", None), ("done", 0)]
    oe.send(ENC.encode(_new("1.4.1.0", "B", a1, q1, "FOK")))
    reps = reports_until(oe, _closed("1.4.1.0"))
    assert [(r["t"], r.get("px"), r.get("qty")) for r in reps][1] == ("fill", a1, q1)
    assert reps[-1]["state"] == "filled"

    # a GTC far from the market rests, shows in open_orders, and cancels once
    far = src["a"][-1][0] + 10
    oe.send(ENC.encode(_new("1.5.1.0", "S", far, 3, "GTC")))
    assert [r["t"] for r in reports_until(oe, lambda r: len(r) == 1)] == ["ack"]
    oo = ask(oe, {"t": "open_orders"})
    assert [(o["cl"], o["px"], o["qty"], o["cum"]) for o in oo["list"]] == [
        ("1.5.1.0", far, 3, 0)]
    oe.send(ENC.encode({"t": "cancel", "cl": "1.5.1.0", "ts": CLOCK.now_ns()}))
    reps = reports_until(oe, _closed("1.5.1.0"))
    assert (reps[-1]["state"], reps[-1]["cum"]) == ("canceled", 0)
    cr = ask(oe, {"t": "cancel", "cl": "1.5.1.0", "ts": CLOCK.now_ns()})
    assert (cr["t"], cr["code"]) == ("cancel_reject", "not_open")

    # rejects
    for order, code in [({**_new("1.6.1.0", "B", a0, 1, "IOC"), "sym": "NOPE"}, "unknown_symbol"),
                        (_new("1.7.1.0", "B", a0, 0, "IOC"), "bad_qty"),
                        (_new("1.8.1.0", "B", a0, 101, "IOC"), "qty_above_max"),
                        (_new("1.9.1.0", "B", 0, 1, "IOC"), "bad_price"),
                        (_new("1.1.1.0", "B", a0, 1, "IOC"), "duplicate_cl")]:
        rep = ask(oe, order)
        assert (rep["t"], rep["code"]) == ("reject", code), rep
    # reconciliation agrees with the fills the account was told about
    trades = ask(oe, {"t": "trades", "since": 0})["list"]
    assert [(t["cl"], t["px"], t["qty"]) for t in trades] == [("1.1.1.0", a0, q0),
                                                               ("1.4.1.0", a1, q1)]
    st = ask(oe, {"t": "query", "cl": "1.1.1.0"})
    assert (st["state"], st["cum"], st["leaves"]) == ("canceled", q0, 0)
    assert [f["tid"] for f in st["fills"]] == [fill["tid"]]
    assert ask(oe, {"t": "positions"})["list"] == [
        {"sym": "GCZ6", "qty": q0 + q1, "avg_px": pytest.approx((a0 * q0 + a1 * q1) / (q0 + q1))}]
    bal = ask(oe, {"t": "balances"})["list"]
    fees = sum(t["fee"] for t in trades)
    assert bal[0]["ccy"] == "USD" and bal[0]["total"] == pytest.approx(1_000_000 - fees)
    pong = ask(oe, {"t": "ping", "ts": 123})
    assert pong["echo"] == 123 and abs(pong["ts"] - CLOCK.now_ns()) < 5e9
    oe.send(b"\xc1")
    bad = msgspec.msgpack.decode(recv(oe)[-1])
    assert (bad["t"], bad["code"]) == ("error", "malformed")

    truth = w.stop_paper()
    assert truth["counts"]["duplicate_client_ids"] == 1 and truth["counts"]["malformed"] == 1
    assert truth["counts"]["fills"] == 2 and truth["counts"]["rejects"] == 5
    assert {(f["cl"], f["tid"], f["px"], f["qty"]) for f in truth["fills"]} == {
        (t["cl"], t["tid"], t["px"], t["qty"]) for t in trades}
    assert truth["positions"] == {"comex-paper-acct": {"GCZ6": q0 + q1}}
    assert [r["t"] for r in truth["requests"]] == ["open_orders", "trades", "positions",
                                                   "balances"]
    assert set(truth) == set(SimTruth(w.sim_cfg).to_dict())  # the demo summary reads either


@pytest.mark.e2e
def test_a_gtc_rests_and_fills_later_as_the_live_source_comes_back(world: World) -> None:
    w = world
    ref = w.sock(zmq.DEALER, PAPER, "ref")
    oe = w.sock(zmq.DEALER, PAPER, "oe", ident=ACCT)
    snap = _synced_snapshot(w, ref)
    limit = snap["a"][0][0] + 2
    # 100 lots is more than the asks up to the limit show: it takes them and rests the rest;
    # each time the source publishes those asks again it trades through our price
    oe.send(ENC.encode(_new("2.1.1.0", "B", limit, 100, "GTC")))
    reps = reports_until(oe, lambda r: sum(f["liq"] == "M" for f in r if f["t"] == "fill") >= 2,
                         timeout_s=10)
    fills = [r for r in reps if r["t"] == "fill"]
    assert reps[0]["t"] == "ack" and fills[0]["liq"] == "T"
    assert all(f["px"] <= limit for f in fills if f["liq"] == "T")
    assert all(f["px"] == limit for f in fills if f["liq"] == "M")  # a maker gets its price
    oe.send(ENC.encode({"t": "cancel", "cl": "2.1.1.0", "ts": CLOCK.now_ns()}))
    reps += reports_until(oe, _closed("2.1.1.0"))
    fills = [r for r in reps if r["t"] == "fill"]
    done = reps[-1]
    assert done["t"] == "done" and done["cum"] == sum(f["qty"] for f in fills)
    assert done["state"] == ("filled" if done["cum"] == 100 else "canceled")
    # the answers by their type: a session message may come in between on the oe socket
    oe.send(ENC.encode({"t": "query", "cl": "2.1.1.0"}))
    st = reports_until(oe, lambda r: bool(r) and r[-1]["t"] == "status")[-1]
    assert sorted(f["tid"] for f in st["fills"]) == sorted(f["tid"] for f in fills)
    oe.send(ENC.encode({"t": "positions"}))
    pos = reports_until(oe, lambda r: bool(r) and r[-1]["t"] == "positions")[-1]
    assert pos["list"][0]["qty"] == done["cum"]
    assert len({f["tid"] for f in fills}) == len(fills)


@pytest.mark.e2e
@pytest.mark.parametrize("world", [{"md_drop": 0.2}], indirect=True)
def test_own_market_data_is_in_sequence_and_survives_source_gaps_and_a_source_restart(
        world: World) -> None:
    """The source drops deltas (gaps it must resync) and restarts (its seqs begin again): the
    paper venue's own md stays one unbroken sequence whose book always equals its snapshot."""
    w = world
    sub = w.sock(zmq.SUB, PAPER, "md", subscribe=(b"md.GCZ6", b"hb"))
    ref = w.sock(zmq.DEALER, PAPER, "ref")
    oe = w.sock(zmq.DEALER, PAPER, "oe", ident=ACCT)
    statuses: list[MdStatus] = []
    end = deadline(5)
    while not statuses:  # the subscription is answered with the session state
        assert CLOCK.mono_ns() < end
        m = MD.decode(recv(sub)[-1])
        if isinstance(m, MdStatus):
            statuses.append(m)
    assert statuses[0].state == "open"
    snap = _synced_snapshot(w, ref)
    book = {"B": dict(map(tuple, snap["b"])), "S": dict(map(tuple, snap["a"]))}
    seq, states, hbs = snap["seq"], {snap["seq"]: _copy(book)}, []

    def follow(seconds: float) -> None:
        nonlocal seq
        end = deadline(seconds)
        while (left_ms := (end - CLOCK.mono_ns()) // 1_000_000) > 0:
            if not sub.poll(left_ms, zmq.POLLIN):
                break  # a quiet feed: what the caller checks
            m = MD.decode(sub.recv_multipart()[-1])
            if isinstance(m, Heartbeat):
                hbs.append(CLOCK.mono_ns())
                assert m.seqs["GCZ6"] <= seq  # never ahead of the deltas sent before it
            if not isinstance(m, Delta) or m.seq <= snap["seq"]:
                continue
            assert m.seq == seq + 1, "a gap in the paper venue's own sequence"
            for side, lv in (("B", m.b), ("S", m.a)):
                for px, q in lv:
                    if q:
                        book[side][px] = q
                    else:
                        book[side].pop(px, None)
            assert max(book["B"]) < min(book["S"]), "published a crossed book"
            seq = m.seq
            states[seq] = _copy(book)

    follow(2.0)
    stats_before = len(states)
    assert stats_before > 20
    w.stop_sim()  # the source goes away: after source_stale_ms the paper venue goes quiet too
    stop_at = CLOCK.mono_ns()
    follow(2.5)
    assert hbs and hbs[-1] - stop_at < 2.2e9 and CLOCK.mono_ns() - hbs[-1] > 0.3e9
    rej = ask(oe, _new("3.1.1.0", "B", snap["a"][0][0], 1, "IOC"))
    assert (rej["t"], rej["code"]) == ("reject", "no_market_data")
    w.start_sim()  # a new source process: its seqs start from 1 again
    follow(2.5)
    assert len(states) > stats_before + 20  # the market moves again, in our own sequence
    s2 = ask(ref, {"t": "snapshot", "sym": "GCZ6"})
    follow(0.5)
    assert _copy({"B": dict(map(tuple, s2["b"])), "S": dict(map(tuple, s2["a"]))}) == \
        states[s2["seq"]]
    truth = w.stop_paper()
    stats = truth["meta"]["stats"]
    assert stats["source_gaps"] >= 1 and stats["snapshots"] >= 2


def _copy(book: dict[str, dict[Any, Any]]) -> dict[str, dict[int, int]]:
    return {side: {int(p): int(q) for p, q in lv.items()} for side, lv in book.items()}


#: more replies than the old default queue (1,000), the engine's receive queue (10) and the
#: kernel's socket buffer (~200 kB: a few thousand small frames) could hold together
N_PINGS = 20_000


@pytest.mark.parametrize("world", [{"static_comex": True}], indirect=True)
def test_replies_wait_for_an_engine_that_stopped_reading_none_is_dropped(world: World) -> None:
    # the oe ROUTER queues up to OE_HWM replies per peer (ROUTER_MANDATORY: what cannot leave
    # is counted in the truth); ZeroMQ's default dropped every reply past ~1,000 silently
    oe = world.sock(zmq.DEALER, "comex-paper", "oe", ident=ACCT, rcvhwm=10)
    for i in range(N_PINGS):  # the engine sends and reads nothing meanwhile
        oe.send(ENC.encode({"t": "ping", "ts": 1_000 + i}))
    echoes = [OE.decode(recv(oe)[-1]) for _ in range(N_PINGS)]
    assert [m.echo for m in echoes] == list(range(1_000, 1_000 + N_PINGS))  # all, in order
    counts = world.stop_paper()["counts"]
    assert not {k: v for k, v in counts.items() if k.startswith("oe_replies_")}, counts
