"""The IB gateway end to end on real ZeroMQ sockets: start, instruments, depth -> deltas, L1
fallback, the exit codes of the process."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.ib.tws import CON, DEPTH, MKT_DATA, FakeTws
from tests.ib.world import CONF, run, world
from transports.errors import ConfigError
from transports.wire.venue_msgs import (
    Delta,
    Instruments,
    InstrumentsReq,
    MdStatus,
    Snapshot,
    SnapshotReq,
)


def test_instruments_and_depth_become_deltas_with_the_gateways_seq() -> None:
    async def go() -> None:
        async with world() as w:
            inst = await w.ask_ref(InstrumentsReq())
            assert isinstance(inst, Instruments) and inst.v == 2
            (i,) = inst.list
            assert (i.sym, i.tick, i.lot, i.ccy, i.kind, i.offsets) == (
                "GCZ6", "0.1", "100", "USD", "future", False)
            # the depth request went out on the wire for the configured conId, 5 rows
            (req,) = w.tws.requests(DEPTH)
            assert req[3] == str(CON) and str(w.cfg.venues[0].ib.depth_rows) in req  # type: ignore[union-attr]
            await w.md_until(lambda t, m: isinstance(m, MdStatus) and m.state == "open")
            # insert two bids and an ask (operation 0), side 1 = bid, 0 = ask
            w.tws.depth(CON, [(0, 0, 1, 2345.6, 3), (1, 0, 1, 2345.5, 7), (0, 0, 0, 2345.7, 2)])
            got = await w.md_until(lambda t, m: isinstance(m, Delta))
            d1 = got[-1][1]
            assert got[-1][0] == "md.GCZ6" and d1.seq == 1
            assert d1.b == [(23456, 3), (23455, 7)] and d1.a == [(23457, 2)]
            # the same size again is no delta; an update then a delete are
            w.tws.depth(CON, [(0, 1, 1, 2345.6, 3)])
            w.tws.depth(CON, [(1, 1, 1, 2345.5, 9)])
            d2 = (await w.md_until(lambda t, m: isinstance(m, Delta)))[-1][1]
            assert d2.seq == 2 and d2.b == [(23455, 9)] and d2.a == []
            w.tws.depth(CON, [(0, 2, 0, 2345.7, 0)])
            d3 = (await w.md_until(lambda t, m: isinstance(m, Delta)))[-1][1]
            assert d3.seq == 3 and d3.a == [(23457, 0)]
            snap = await w.ask_ref(SnapshotReq(sym="GCZ6"))
            assert isinstance(snap, Snapshot) and snap.seq == 3
            assert snap.b == [(23456, 3), (23455, 9)] and snap.a == []
    run(go())


def test_depth_refused_falls_back_to_l1() -> None:
    async def go() -> None:
        async with world(FakeTws(deny_depth=True)) as w:
            await w.md_until(lambda t, m: isinstance(m, MdStatus))
            (req,) = w.tws.requests(MKT_DATA)  # error 10092 -> reqMktData instead
            assert req[3] == str(CON)
            wr, rid = w.tws.ib.wrapper, w.tws.depth_req[CON]
            wr.priceSizeTick(rid, 1, 2345.6, 4.0)  # bid, bid size (TWS's TICK_PRICE)
            wr.priceSizeTick(rid, 2, 2345.8, 6.0)  # ask, ask size
            wr.tcpDataProcessed()
            got = await w.md_until(lambda t, m: isinstance(m, Delta) and bool(m.a))
            last = got[-1][1]
            assert last.a == [(23458, 6)]
            snap = await w.ask_ref(SnapshotReq(sym="GCZ6"))
            assert snap.b == [(23456, 4)] and snap.a == [(23458, 6)]
    run(go())


def test_a_contract_ib_does_not_know_stops_the_start_naming_it() -> None:
    async def go() -> None:
        try:
            async with world(FakeTws(details=[])):
                raise AssertionError("started without its contract")
        except ConfigError as exc:
            assert "GCZ6" in str(exc) and "not known to IB" in str(exc)
        else:
            raise AssertionError("no ConfigError")
    run(go())


def test_process_exit_codes_without_tws_and_with_a_bad_config() -> None:
    d = Path(tempfile.mkdtemp(prefix="cmci-"))
    conf = d / "c.toml"
    # nothing listens on port 1: TWS not reachable -> exit 1
    conf.write_text(CONF.format(state=d / "state", wait_ms=100, ident="con_id = 1,")
                    .replace("port = 7497", "port = 1\nconnect_timeout_s = 2.0"))
    r = subprocess.run([sys.executable, "-m", "scripts.cli", "gateway", "ib", "--conf", str(conf),
                        "--sock", str(d)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "127.0.0.1:1" in r.stderr
    r = subprocess.run([sys.executable, "-m", "scripts.cli", "gateway", "ib", "--conf", str(conf),
                        "--venue", "nope"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "nope" in r.stderr
