"""``cmc config new``: a starting config from the venues' instrument lists, checked by the
project's own loader, and launched as written against the simulator gateway."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from click.testing import CliRunner

from actors.runtime.instruments import check_instruments
from actors.runtime.node import actor_names
from scripts.config_new.cmd import config as config_cli
from scripts.config_new.render import render
from scripts.config_new.venues import VenueSpec
from transports.clock import LiveClock
from transports.config.engine import load_config, load_config_bytes
from transports.venues.sim.gateway import serve
from transports.wire.venue_msgs import Instrument, Instruments

ROOT = Path(__file__).resolve().parents[2]
DEMO = load_config(None)
VENUES = ("shfe", "comex", "fx")


def _spec(name: str) -> str:
    return f"{name}=ipc://{{sock}}/{name}-md,ipc://{{sock}}/{name}-ref,ipc://{{sock}}/{name}-oe"


@pytest.fixture
def sim() -> Iterator[str]:
    """The simulator gateway (the demo's three venues) in a thread, over real ipc sockets in a
    short socket directory; yields the directory."""
    sock_dir = tempfile.mkdtemp(prefix="cmcn-")
    ctx: zmq.Context[Any] = zmq.Context()
    stop, bound = threading.Event(), threading.Event()
    th = threading.Thread(target=lambda: serve(DEMO, sock_dir, ctx, clock=LiveClock(), stop=stop,
                                               duration_s=120.0, ready=bound.set),
                          name="sim-gateway", daemon=True)
    th.start()
    assert bound.wait(10), "the simulator did not bind its sockets"
    try:
        yield sock_dir
    finally:
        stop.set()
        th.join(10)
        ctx.destroy(linger=0)
        shutil.rmtree(sock_dir, ignore_errors=True)


@pytest.mark.e2e
def test_config_new_against_the_simulator_launches_as_written(tmp_path: Path, sim: str) -> None:
    out = tmp_path / "new.toml"
    args = ["new", "--sock", sim, "--out", str(out)]
    for v in VENUES:
        args += ["--venue", _spec(v)]
    r = CliRunner().invoke(config_cli, args)
    assert r.exit_code == 0, r.output
    cfg = load_config(out)  # the project's loader: unknown keys, types, units

    # every instrument the venues list, with the venue's tick, lot, currency and unit
    want = {f"{c.venue}:{c.sym}": c for c in DEMO.contracts}
    got = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    assert got.keys() == want.keys()
    for key, c in got.items():
        d = want[key]
        assert (c.tick, c.multiplier, c.ccy, c.unit) == (d.tick, d.multiplier, d.ccy, d.unit)
    # the units say the base units per lot: 1 GC lot = 100 ozt = 3110.35 g of the shared asset
    assert got["comex:GCZ6"].base_per_lot == pytest.approx(want["comex:GCZ6"].base_per_lot)
    assert [(v.name, v.trading) for v in cfg.venues] == [("shfe", True), ("comex", True),
                                                          ("fx", False)]
    assert cfg.pairs == []  # the skeleton is commented out: nothing trades until reviewed
    placed = [a for g in cfg.placement.groups for a in g.actors]  # type: ignore[union-attr]
    assert sorted(placed) == sorted(actor_names(cfg))
    assert cfg.launch.gateways == [] and cfg.launch.sock_dir == sim

    text = out.read_text()
    assert '# leg_a = "shfe:au2606"' in text and '# fx = "fx:USDCNH"' in text
    # the venues agree with it (what `cmc launch` checks before any node starts)
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        assert check_instruments(cfg, ctx, sim) == {"shfe": 1, "comex": 1, "fx": 1}
    finally:
        ctx.destroy(linger=0)

    # ... and `cmc launch` runs it as written (out_dir moved under tmp_path only)
    run_conf = tmp_path / "run.toml"
    run_conf.write_text(text.replace('out_dir = "runs"', f'out_dir = "{tmp_path / "runs"}"'))
    p = subprocess.run([sys.executable, "-m", "scripts.cli", "launch", str(run_conf),
                        "--duration", "2", "--quiet"], cwd=ROOT, capture_output=True,
                       text=True, timeout=90, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.startswith("READY ")


def _sim_replies() -> dict[str, Instruments]:
    out: dict[str, Instruments] = {}
    for c in DEMO.contracts:
        ins = Instrument(sym=c.sym, tick=c.tick, lot=repr(c.multiplier), ccy=c.ccy, unit=c.unit)
        out.setdefault(c.venue, Instruments(list=[]))
        out[c.venue].list.append(ins)
    return out


SPECS = [VenueSpec(v, f"ipc:///x/{v}-md", f"ipc:///x/{v}-ref", f"ipc:///x/{v}-oe")
         for v in VENUES]


def test_the_pair_skeleton_uncommented_is_the_parity_pair_the_units_say() -> None:
    cfg = load_config_bytes(render(SPECS, _sim_replies(), with_pair=True).encode())
    (p,) = cfg.pairs
    assert (p.leg_a, p.leg_b, p.fx, p.fx_invert) == ("shfe:au2606", "comex:GCZ6", "fx:USDCNH",
                                                     False)
    assert p.unit_factor == pytest.approx(1 / 31.1034768)  # derived by the loader: g in ozt
    by = {c.sym: c for c in cfg.contracts}
    assert by["au2606"].underlying == by["GCZ6"].underlying != ""
    assert by["au2606"].base_per_lot == pytest.approx(1000.0)
    assert by["GCZ6"].base_per_lot == pytest.approx(3110.34768)
    placed = [a for g in cfg.placement.groups for a in g.actors]  # type: ignore[union-attr]
    assert sorted(placed) == sorted(actor_names(cfg))
    assert "strategy.au2606-gcz6" in placed


def test_version_2_fields_fill_fees_offsets_expiry_and_the_underlying() -> None:
    """A crypto perp and a CTP future listed with version 2 keys: the fee, the base asset (with
    base units per lot when the unit names it), offsets and expiry reach the config; a venue
    whose currencies no listed rate converts gets its fx left to the operator."""
    perp = Instrument(sym="BTC-USDT-SWAP", tick="0.1", lot="0.01", ccy="USDT", unit="BTC",
                      max_qty=50, kind="perp", base="BTC", quote="USDT", fee_per_lot=0.3,
                      margin_rate=0.05)
    fut = Instrument(sym="bc2701", tick="5", lot="0.5", ccy="CNY", unit="BTC", kind="future",
                     base="BTC", offsets=True, close_today=True, taker_bps=2.0,
                     expiry=1_800_000_000_000_000_000)
    specs = [VenueSpec("ctp", "tcp://h:1", "tcp://h:2", "tcp://h:3"),
             VenueSpec("okx", "tcp://o:1", "tcp://o:2", "tcp://o:3")]
    replies = {"ctp": Instruments(list=[fut], v=2), "okx": Instruments(list=[perp], v=2)}
    text = render(specs, replies)
    cfg = load_config_bytes(text.encode())
    by = {c.sym: c for c in cfg.contracts}
    assert by["BTC-USDT-SWAP"].fee_per_lot == 0.3
    assert by["BTC-USDT-SWAP"].max_lots_per_order == 50
    assert by["BTC-USDT-SWAP"].margin_rate == 0.05
    assert by["bc2701"].fee_per_lot == 0.0 and "taker 2 bps" in text  # a bps fee is said
    assert (by["bc2701"].offsets, by["bc2701"].close_today) == (True, True)
    assert by["bc2701"].expiry == "2027-01-15"
    assert {c.underlying for c in cfg.contracts} == {"btc"}
    assert by["bc2701"].base_per_lot == 0.5 and by["BTC-USDT-SWAP"].base_per_lot == 0.01
    assert "# fx = " in text and "no listed rate converts USDT into CNY" in text
    paired = load_config_bytes(render(specs, replies, with_pair=True).encode())
    assert paired.pairs[0].leg_a == "ctp:bc2701" and paired.pairs[0].fx == ""


def test_a_venue_that_does_not_answer_is_named_with_its_endpoint(tmp_path: Path) -> None:
    sock = tempfile.mkdtemp(prefix="cmcn-")
    try:
        r = CliRunner().invoke(config_cli, ["new", "--sock", sock, "--timeout-ms", "200",
                                            "--venue", _spec("shfe"),
                                            "--out", str(tmp_path / "x.toml")])
    finally:
        shutil.rmtree(sock, ignore_errors=True)
    assert r.exit_code == 1, r.output
    assert f"venue 'shfe' (ref ipc://{sock}/shfe-ref)" in r.output
    assert "within 200 ms" in r.output
    assert not (tmp_path / "x.toml").exists()


@pytest.mark.parametrize(("spec", "says"), [
    ("shfe", "expected NAME=md,ref,oe"),
    ("shfe=tcp://a:1,tcp://a:2", "expected three endpoints"),
    ("shfe=a,b,c", "is not a ZeroMQ address"),
    ("sh fe=tcp://a:1,tcp://a:2,tcp://a:3", "expected NAME=md,ref,oe"),
])
def test_a_malformed_venue_spec_exits_2_saying_what_is_wrong(spec: str, says: str) -> None:
    r = CliRunner().invoke(config_cli, ["new", "--venue", spec])
    assert r.exit_code == 2, r.output
    assert says in r.output


def test_sock_endpoints_need_the_socket_directory() -> None:
    r = CliRunner().invoke(config_cli, ["new", "--venue", _spec("shfe")])
    assert r.exit_code == 2 and "--sock DIR" in r.output
