"""Fault switch configuration: presets, validation, per-venue switches, the chaos presets over a
whole 30 s run, and ``--faults`` on the simulator process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from tests.sim.test_sim_harness import CFG, ENC, MS, Run, cfg_with
from transports.clock import LiveClock
from transports.config.engine import AppConfig, load_config_bytes, with_overrides
from transports.config.sim import SimVenueConfig
from transports.errors import ConfigError
from transports.venues.sim.core import SimCore
from transports.venues.sim.faults import load_preset, preset_names
from transports.venues.sim.gateway import address, main, serve
from transports.wire.venue_msgs import (
    CancelReq,
    Fill,
    NewOrder,
    QueryReq,
    SnapshotReq,
    Trades,
    TradesReq,
)

ROOT = Path(__file__).resolve().parents[2]
DEMO = (ROOT / "conf" / "demo.toml").read_text()
MD_KINDS = ["md_drop", "md_duplicate", "md_reorder", "md_crossed", "md_bad", "md_stall"]
MD_KINDS += ["md_reset", "stop"]
OE_KINDS = ["oe_reject", "oe_partial", "oe_swallow_ack", "oe_swallow_order"]
OE_KINDS += ["oe_duplicate_fill", "oe_late_fill", "oe_unknown_query", "oe_disconnect"]


def _with_preset(name: str) -> AppConfig:
    return with_overrides(CFG, sim=msgspec.structs.replace(CFG.sim, faults=load_preset(name)))


def test_presets_load_and_unknown_names_are_named(tmp_path: Path) -> None:
    assert {"md-chaos", "oe-chaos"} <= set(preset_names())
    md, oe = load_preset("md-chaos"), load_preset("oe-chaos")
    assert md.md_drop > 0 and md.oe_reject == 0 and oe.oe_partial > 0 and oe.md_drop == 0
    assert {w.kind for w in md.schedule} == {"md_crossed", "md_reset", "md_stall", "md_bad", "stop"}
    assert {w.kind for w in oe.schedule} == {"oe_swallow_order", "oe_disconnect"}
    with pytest.raises(ConfigError, match=r"unknown fault preset 'nope' \(known: .*md-chaos"):
        load_preset("nope")
    with pytest.raises(ConfigError, match="not found"):
        load_preset("../demo")
    bad = tmp_path / "bad.toml"
    bad.write_text("[sim.faults]\nmd_drop = 1.5\n")
    with pytest.raises(ConfigError, match=r"bad\.toml.*md_drop"):
        load_preset(str(bad))
    bad.write_text("[sim]\nseed = 3\n")
    with pytest.raises(ConfigError, match="seed"):
        load_preset(str(bad))


def test_config_validation_names_the_field() -> None:
    load_config_bytes(DEMO.encode())  # the demo (no [sim.faults]) still loads: all off
    for extra, field in (
        ("[sim.faults]\nmd_drop = 1.5\n", "md_drop"),
        ("[sim.faults]\nmd_bad_kinds = []\n", "md_bad_kinds"),
        ('[[sim.faults.schedule]]\nkind = "nope"\nat_s = 1\n', "kind"),
        ('[[sim.faults.schedule]]\nkind = "stop"\nat_s = -1\n', "at_s"),
    ):
        with pytest.raises(ConfigError, match=field):
            load_config_bytes((DEMO + extra).encode())
    cfg = cfg_with([{"kind": "stop", "at_s": 1.0, "venue": "nyse"}])
    with pytest.raises(ConfigError, match=r"sim\.faults\.schedule\[0\]\.venue.*'nyse'"):
        SimCore(cfg, 0)


def test_a_venues_own_switches_replace_the_global_ones() -> None:
    cfg = cfg_with(md_duplicate=1.0)
    venues = [
        msgspec.structs.replace(v, faults=load_preset("md-chaos")) if v.name == "comex" else v
        for v in cfg.sim.venues
    ]
    drop_all = msgspec.convert({"md_drop": 1.0}, type=type(cfg.sim.faults))
    venues.append(SimVenueConfig(name="zz", faults=drop_all))  # no such venue: ignored
    venues = [msgspec.structs.replace(v, faults=drop_all) if v.name == "fx" else v for v in venues]
    r = Run(with_overrides(cfg, sim=msgspec.structs.replace(cfg.sim, venues=venues)))
    r.to(500)
    shfe = [d.seq for _, d in r.deltas("shfe", "au2606")]
    assert shfe == [s for s in range(1, shfe[-1] + 1) for _ in (0, 1)]  # global: duplicates
    assert r.deltas("fx", "USDCNH") == []  # its own: everything dropped
    by = r.core.truth.to_dict()["faults"]["by_venue"]
    assert by["comex"].get("fault_md_duplicate", 0) < len(r.deltas("comex", "GCZ6")) // 4


def test_md_chaos_over_30s_is_lively_and_survivable() -> None:
    r = Run(
        with_overrides(CFG, sim=msgspec.structs.replace(CFG.sim, faults=load_preset("md-chaos")))
    )
    mirrors = [r.mirror("shfe", "au2606"), r.mirror("comex", "GCZ6"), r.mirror("fx", "USDCNH")]
    r.to(30_000)
    by = r.core.truth.to_dict()["faults"]["by_venue"]
    for m in mirrors:
        fired = by[m.venue]
        assert all(fired.get(f"fault_{k}", 0) >= 1 for k in MD_KINDS), (m.venue, fired)
        assert fired.get("fault_md_drop", 0) <= 10 and fired.get("fault_md_bad", 0) <= 5
        assert m.matches_venue(r.now), m.venue  # the book is right again at the end
        assert 3 <= m.resyncs <= 40, (m.venue, m.reasons)
        assert {"reset", "bad_book"} <= set(m.reasons)
    counts = r.counts()
    events = r.core.truth.fault_events
    for k in MD_KINDS:
        assert counts[f"fault_{k}"] == sum(e["kind"] == k for e in events)


def _drive(r: Run, until_ms: int) -> set[str]:
    """An engine stand-in on shfe and comex: IOCs, GTCs cancelled later, queries."""
    seen: set[str] = set()
    i = 0
    t = 250
    while t < until_ms:
        r.to(t)
        for venue, sym, acct in (("shfe", "au2606", "sa"), ("comex", "GCZ6", "ca")):
            i += 1
            book = r.core.venues[venue].books[sym]
            cl = f"1.{i}.0.0"
            if i % 4 == 0:
                px = (book.best("B") or 2) - 1
                r.send(venue, NewOrder(cl, sym, "B", px, 6, "GTC", r.now), acct)
                r.core.request(r.now + 120 * MS, venue, acct, CancelReq(cl=cl, ts=r.now))
            else:
                r.send(
                    venue, NewOrder(cl, sym, "S", (book.best("B") or 2) - 3, 5, "IOC", r.now), acct
                )
            r.core.request(r.now + 2 * MS, venue, acct, QueryReq(cl=cl))
        t += 250
    r.to(until_ms)
    for _, _, _, m in r.oe:
        if isinstance(m, Fill):
            seen.add(m.tid)
    return seen


def test_oe_chaos_over_30s_is_lively_and_the_truth_is_what_traded() -> None:
    r = Run(
        with_overrides(CFG, sim=msgspec.structs.replace(CFG.sim, faults=load_preset("oe-chaos")))
    )
    seen = _drive(r, 30_000)
    by = r.core.truth.to_dict()["faults"]["by_venue"]
    for venue in ("shfe", "comex"):
        assert all(by[venue].get(f"fault_{k}", 0) >= 1 for k in OE_KINDS), (venue, by[venue])
    truth = r.core.truth
    tids = {f["tid"] for f in truth.fills}
    assert len(tids) == len(truth.fills)  # one record per trade, duplicates never recorded
    assert seen <= tids  # reports may be lost, never invented
    lost = [o["fault"] for o in truth.orders if o.get("fault")]
    assert {"oe_swallow_order", "oe_disconnect"} <= set(lost)
    for venue, acct in (("shfe", "sa"), ("comex", "ca")):
        r.send(venue, TradesReq(since=0), acct)
    r.to(30_010)
    lists = [m.list for _, _, _, m in r.oe[-2:] if isinstance(m, Trades)]
    assert {t.tid for lst in lists for t in lst} == tids  # the venue's own record agrees
    for acct, pos in truth.positions.items():
        for sym, q in pos.items():
            signed = [f["qty"] * (1 if f["side"] == "B" else -1) for f in truth.fills]
            mine = [s for s, f in zip(signed, truth.fills, strict=True) if f["account"] == acct]
            assert q == sum(mine) and sym
    assert r.counts()["duplicate_client_ids"] == 0


def test_sim_process_takes_faults(tmp_path: Path) -> None:
    preset = tmp_path / "drop.toml"
    preset.write_text("[sim.faults]\nmd_drop = 1.0\n")
    out = tmp_path / "truth.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "transports.venues.sim", "--sock-dir", str(tmp_path / "s")]
    done = subprocess.run(
        [*cmd, "--faults", str(preset), "--duration", "0.5", "--truth-out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    counts = json.loads(out.read_text())["counts"]
    assert counts["fault_md_drop"] == counts["md_deltas"] > 0
    bad = subprocess.run(
        [*cmd, "--faults", "nope"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "unknown fault preset 'nope'" in bad.stderr


def test_gateway_main_faults_keyword(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(None, str(tmp_path), None, 0.1, faults="no-such") == 2
    assert "no-such" in capsys.readouterr().err


def _recv(sock: zmq.Socket, timeout_ms: int) -> list[bytes] | None:
    return sock.recv_multipart() if sock.poll(timeout_ms, zmq.POLLIN) else None


def test_stopped_venue_is_silent_on_its_sockets(sock_dir: str) -> None:
    cfg = cfg_with([{"kind": "stop", "at_s": 0.0, "for_s": 60.0, "venue": "shfe"}])
    ctx: zmq.Context[Any] = zmq.Context()
    stop, bound = threading.Event(), threading.Event()
    th = threading.Thread(
        target=serve,
        args=(cfg, sock_dir, ctx),
        kwargs={"clock": LiveClock(), "stop": stop, "duration_s": 60.0, "ready": bound.set},
        daemon=True,
    )
    th.start()
    socks: list[zmq.Socket] = []
    try:
        assert bound.wait(10)

        def sock(kind: int, venue: str, which: str) -> zmq.Socket:
            v = next(v for v in cfg.venues if v.name == venue)
            s = ctx.socket(kind)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(address(getattr(v, which), sock_dir))
            socks.append(s)
            return s

        md_s, md_c = sock(zmq.SUB, "shfe", "md"), sock(zmq.SUB, "comex", "md")
        for s in (md_s, md_c):
            s.setsockopt(zmq.SUBSCRIBE, b"")
        ref_s, ref_c = sock(zmq.DEALER, "shfe", "ref"), sock(zmq.DEALER, "comex", "ref")
        ref_c.send(ENC.encode(SnapshotReq(sym="GCZ6")))
        assert _recv(ref_c, 3000) is not None
        assert _recv(md_c, 3000) is not None  # comex publishes
        ref_s.send(ENC.encode(SnapshotReq(sym="au2606")))
        assert _recv(ref_s, 400) is None  # shfe: no snapshot answer
        assert _recv(md_s, 400) is None  # no delta, no hb, no status
    finally:
        stop.set()
        th.join(10)
        for s in socks:
            s.close(linger=0)
        ctx.term()
    assert not th.is_alive()
