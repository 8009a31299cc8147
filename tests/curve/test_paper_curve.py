"""CURVE through a paper gateway: the simulator serves comex with CURVE, the paper gateway
reaches it as a CURVE client (the comex venue's keys in the config) and serves its own venue
with CURVE and a key pair of its own; an allowlisted engine gets the paper venue's instruments.
If the paper gateway's source link were not CURVE it would never get the source's instruments
and never become ready."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import msgspec
import zmq

from actors.runtime.instruments import fetch_instruments
from scripts.admin.client import keygen
from tests.paper.confs import PAPER, paper_conf
from transports.clock import LiveClock
from transports.config.engine import AppConfig, load_config
from transports.venues.curve import ServerKeys
from transports.venues.paper.gateway import serve_paper
from transports.venues.sim.gateway import serve


def _with_keys(cfg: AppConfig, server_key: dict[str, str], secret: str) -> AppConfig:
    venues = [msgspec.structs.replace(v, curve_server_key=server_key.get(v.name, server_key[""]),
                                      curve_client_secret=secret) for v in cfg.venues]
    return msgspec.structs.replace(cfg, venues=venues)


def test_a_paper_gateway_is_a_curve_client_of_its_source_and_a_curve_server(
        tmp_path: Path) -> None:
    sim_keys, paper_keys = tmp_path / "sim-gw", tmp_path / "paper-gw"
    keygen(str(sim_keys), ["engine"])
    keygen(str(paper_keys), [])  # its own server pair; the same engine key is allowed
    shutil.copy(sim_keys / "engine.key", paper_keys / "allowlist" / "engine.key")
    secret = str(sim_keys / "engine.key_secret")
    servers = {"": str(sim_keys / "server.key"), PAPER: str(paper_keys / "server.key")}
    cfg = _with_keys(load_config(paper_conf(tmp_path / "paper.toml", source_timeout_s=10.0)),
                     servers, secret)
    sim_cfg = _with_keys(load_config(None), servers, secret)
    sock_dir = str(tmp_path / "s")
    clock = LiveClock()
    sim_ctx: zmq.Context[Any] = zmq.Context()  # each gateway its own context (one ZAP each)
    paper_ctx: zmq.Context[Any] = zmq.Context()
    ctx: zmq.Context[Any] = zmq.Context()
    stop = threading.Event()
    sim_up, paper_up = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run(fn: Any) -> threading.Thread:
        def body() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - the test reads it
                errors.append(exc)
                sim_up.set()
                paper_up.set()

        th = threading.Thread(target=body, daemon=True)
        th.start()
        return th

    threads = [run(lambda: serve(sim_cfg, sock_dir, sim_ctx, clock=clock, stop=stop,
                                 ready=sim_up.set,
                                 curve=ServerKeys(str(sim_keys / "server.key_secret"),
                                                  str(sim_keys / "allowlist"))))]
    try:
        assert sim_up.wait(10) and not errors, errors
        threads.append(run(lambda: serve_paper(
            cfg, PAPER, sock_dir, stop=stop, ready=paper_up.set, ctx=paper_ctx, clock=clock,
            curve=ServerKeys(str(paper_keys / "server.key_secret"),
                             str(paper_keys / "allowlist")))))
        assert paper_up.wait(15) and not errors, errors
        v = next(v for v in cfg.venues if v.name == PAPER)
        got = fetch_instruments(ctx, v.ref.replace("{sock}", sock_dir), 3000,
                                v.curve_server_key, v.curve_client_secret)
        assert [i.sym for i in got.list] == ["GCZ6"]
    finally:
        stop.set()
        for th in threads:
            th.join(10)
        ctx.destroy(linger=0)
        paper_ctx.term()  # return only because each gateway stopped its ZAP handler
        sim_ctx.term()
    assert not any(th.is_alive() for th in threads)
    assert not errors, errors
