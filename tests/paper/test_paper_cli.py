"""``cmc gateway paper`` as a process: READY, trading, the truth file on SIGTERM, the source
given on the command line, and the errors that stop it at start."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from tests.paper.confs import PAPER, ROOT, paper_conf, sim_conf
from tests.paper.world import CLOCK, ENC, World, ask, reports_until
from transports.config.engine import load_config

ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _cmc(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "scripts.cli", "gateway", "paper", *args],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.fixture
def sim(tmp_path: Path, sock_dir: str) -> Iterator[World]:
    w = World(load_config(paper_conf(tmp_path / "w.toml")), sim_conf(static_comex=True),
              sock_dir)
    try:
        w.start_sim()
        yield w
    finally:
        w.close()


@pytest.mark.e2e
def test_the_process_serves_until_sigterm_and_writes_its_truth(sim: World, tmp_path: Path,
                                                                sock_dir: str) -> None:
    # the config's source is fx (no GCZ6 there); --md-from names comex's endpoints instead
    conf = paper_conf(tmp_path / "p.toml", md_from="fx")
    src = f"md=ipc://{sock_dir}/comex-md,ref=ipc://{sock_dir}/comex-ref"
    out = tmp_path / "truth.json"
    proc = _cmc("--conf", str(conf), "--sock", sock_dir, "--md-from", src, "--truth-out",
                str(out))
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "no READY line"
        assert proc.stdout.readline() == f"READY {sock_dir}\n"
        ref = sim.sock(zmq.DEALER, PAPER, "ref")
        oe = sim.sock(zmq.DEALER, PAPER, "oe", ident=b"acct-1")
        snap: dict[str, Any] = {"a": []}
        while not snap["a"]:
            snap = ask(ref, {"t": "snapshot", "sym": "GCZ6"})
        px = snap["a"][0][0]
        oe.send(ENC.encode({"t": "new", "cl": "9.1.0.0", "sym": "GCZ6", "side": "B", "px": px,
                            "qty": 1, "tif": "IOC", "ts": CLOCK.now_ns()}))
        reps = reports_until(oe, lambda r: any(x["t"] == "done" for x in r))
        assert [r["t"] for r in reps] == ["ack", "fill", "done"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    truth = json.loads(out.read_text())
    assert [(f["account"], f["cl"], f["tid"], f["px"]) for f in truth["fills"]] == [
        ("acct-1", "9.1.0.0", reps[1]["tid"], px)]
    assert truth["meta"]["source_md"] == f"ipc://{sock_dir}/comex-md"


def test_a_config_without_a_paper_venue_or_a_missing_source_stops_the_start(
        tmp_path: Path, sock_dir: str) -> None:
    proc = _cmc("--conf", str(ROOT / "conf" / "demo.toml"), "--sock", sock_dir)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "name the paper venue to serve (paper venues: none)" in err
    proc = _cmc("--conf", str(paper_conf(tmp_path / "p.toml")), "--sock", sock_dir,
                "--venue", "comex")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "'comex' has no [venues.paper] section" in err
    proc = _cmc("--conf", str(paper_conf(tmp_path / "q.toml", source_timeout_s=0.5)), "--sock",
                sock_dir)  # nobody serves comex here
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "did not list its instruments in 0.5 s" in err


@pytest.mark.e2e
def test_a_source_that_does_not_list_a_configured_contract_stops_the_start(
        sim: World, tmp_path: Path, sock_dir: str) -> None:
    proc = _cmc("--conf", str(paper_conf(tmp_path / "p.toml", md_from="fx")), "--sock", sock_dir)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "READY" not in out
    assert "venue 'comex-paper': the source lists no GCZ6 (it lists USDCNH)" in err
