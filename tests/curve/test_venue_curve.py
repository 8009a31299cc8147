"""CURVE on the venue links: the simulator gateway over tcp://127.0.0.1 with CURVE and a ZAP
allowlist, talked to by the engine's own socket specs (feed md/ref/oe, leg oe) and the
instruments check. Real sockets, real key files (``cmc admin keygen``'s), no mocks.

An allowlisted engine key gets instruments, md and an order ack; a key not on the allowlist, a
wrong gateway key and a plain (non-CURVE) client each get nothing: the handshake fails (seen on
the client's socket monitor, a condition, not a sleep) and no frame ever arrives. Missing key
files and half-configured venues are ``ConfigError``s naming the field and the file.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
import zmq.auth
from click.testing import CliRunner
from zmq.utils.monitor import recv_monitor_message

from actors.feed import FeedCore
from actors.runtime.instruments import InstrumentMismatch, check_instruments, fetch_instruments
from actors.runtime.shells.feed_shell import FeedShell
from actors.runtime.shells.shell import SocketSpec, secure
from actors.runtime.shells.venue_shell import LegShell
from scripts.admin.client import keygen
from transports.clock import LiveClock
from transports.config.engine import AppConfig, load_config, load_config_bytes
from transports.errors import ConfigError
from transports.latency import LatencyRecorder
from transports.venues.curve import ServerKeys, secure_server
from transports.venues.sim.gateway import main as sim_main
from transports.venues.sim.gateway import serve
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import (
    Ack,
    Delta,
    Heartbeat,
    MdMessage,
    NewOrder,
    OeReply,
    RefReply,
    Snapshot,
    SnapshotReq,
)

CLOCK = LiveClock()
DEADLINE_MS = 5000  #: the longest any wait for a condition may take
NOTHING_MS = 200  #: after a failed handshake: nothing arrives in this window either
_MD: Codec[Any] = Codec(MdMessage)
_REF: Codec[Any] = Codec(RefReply)
_OE: Codec[Any] = Codec(OeReply)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class World(msgspec.Struct):
    """A CURVE simulator gateway and what an engine needs to reach it."""

    cfg: AppConfig
    sock_dir: str
    keys: Path  #: ``cmc admin keygen``'s directory: server.key(_secret), engine.key(_secret)
    other: Path  #: keys the gateway does not know: intruder.key_secret, impostor.key
    ctx: Any  #: the engine side's context


def _curve_cfg(keys: Path) -> AppConfig:
    """The demo config, shfe over tcp on loopback, every venue a CURVE link (the simulator
    serves all of its venues with the one key pair)."""
    cfg = load_config(None)
    venues = []
    for v in cfg.venues:
        changes: dict[str, Any] = {"curve_server_key": str(keys / "server.key"),
                                   "curve_client_secret": str(keys / "engine.key_secret")}
        if v.name == "shfe":
            changes.update({k: f"tcp://127.0.0.1:{_free_port()}" for k in ("md", "ref", "oe")})
        venues.append(msgspec.structs.replace(v, **changes))
    return msgspec.structs.replace(cfg, venues=venues)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("curve")
    keys, other = tmp / "keys", tmp / "other"
    keygen(str(keys), ["engine"])  # what `cmc admin keygen --client engine` writes
    other.mkdir()
    zmq.auth.create_certificates(other, "intruder")
    zmq.auth.create_certificates(other, "impostor")
    cfg = _curve_cfg(keys)
    sock_dir = str(tmp / "s")
    gctx: zmq.Context[Any] = zmq.Context()  # the gateway's own, as in its own process
    stop, bound = threading.Event(), threading.Event()
    curve = ServerKeys(str(keys / "server.key_secret"), str(keys / "allowlist"))
    th = threading.Thread(target=lambda: serve(cfg, sock_dir, gctx, clock=CLOCK, stop=stop,
                                               duration_s=60.0, ready=bound.set, curve=curve),
                          daemon=True)
    th.start()
    assert bound.wait(10)
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        yield World(cfg, sock_dir, keys, other, ctx)
    finally:
        stop.set()
        th.join(10)
        ctx.destroy(linger=0)
        gctx.term()  # returns only because the gateway stopped its ZAP handler
    assert not th.is_alive()


def _shfe(w: World) -> Any:
    return next(v for v in w.cfg.venues if v.name == "shfe")


def _open(ctx: zmq.Context[Any], spec: SocketSpec) -> zmq.Socket[Any]:
    """Open ``spec`` as ``Host._open`` does (identity, CURVE via ``secure``, subscriptions)."""
    sock = ctx.socket(spec.kind)
    sock.setsockopt(zmq.LINGER, 0)
    if spec.identity:
        sock.setsockopt(zmq.IDENTITY, spec.identity)
    secure(sock, spec)
    for topic in spec.subscribe:
        sock.setsockopt(zmq.SUBSCRIBE, topic)
    sock.connect(spec.address)
    return sock


def _recv(sock: zmq.Socket[Any], codec: Codec[Any]) -> Any:
    assert sock.poll(DEADLINE_MS, zmq.POLLIN), "nothing before the deadline"
    return codec.decode(sock.recv_multipart()[-1])


def _feed(w: World, venue: Any) -> FeedShell:
    core = FeedCore("feed.shfe", "shfe", ["au2606"], {"au2606": "book.shfe.au2606"}, [], [])
    shell = FeedShell(core, venue.md, venue.ref, oe_address=venue.oe, account=venue.account)
    return shell.use_curve(venue.curve_server_key, venue.curve_client_secret)


def test_an_allowlisted_engine_gets_instruments_md_and_an_order_ack(world: World) -> None:
    v = _shfe(world)
    assert v.md.startswith("tcp://127.0.0.1:")
    # the start's instruments check, over CURVE to every venue (ipc ones too)
    checked = check_instruments(world.cfg, world.ctx, world.sock_dir)
    assert sum(checked.values()) == len(world.cfg.contracts)

    feed = _feed(world, v)
    specs = {s.key: s for s in feed.socket_specs()}
    assert set(specs) == {"md", "ref", "oe"}
    assert all(s.server_key_file == v.curve_server_key for s in specs.values())
    md, ref = _open(world.ctx, specs["md"]), _open(world.ctx, specs["ref"])
    leg = LegShell(feed.core, v.oe, v.account, CLOCK, LatencyRecorder())
    (oe_spec,) = leg.use_curve(v.curve_server_key, v.curve_client_secret).socket_specs()
    assert oe_spec.client_secret_file == v.curve_client_secret
    oe = _open(world.ctx, oe_spec)
    try:
        got: set[type] = set()
        while not {Delta, Heartbeat} <= got:  # each recv is bounded by the deadline
            got.add(type(_recv(md, _MD)))
        ref.send(encode(SnapshotReq(sym="au2606")))
        snap = _recv(ref, _REF)
        assert isinstance(snap, Snapshot) and snap.a and snap.b
        oe.send(encode(NewOrder("curve-1", "au2606", "B", snap.b[0][0] - 100, 1, "GTC",
                                CLOCK.now_ns())))
        ack = _recv(oe, _OE)
        assert isinstance(ack, Ack) and ack.cl == "curve-1"
    finally:
        for s in (md, ref, oe):
            s.close(linger=0)


_EVENTS = {zmq.EVENT_HANDSHAKE_SUCCEEDED, zmq.EVENT_HANDSHAKE_FAILED_AUTH,
           zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL}


def _handshake(sock: zmq.Socket[Any], address: str) -> int:
    """Connect ``sock`` to ``address`` and return the first handshake outcome its monitor
    reports (success or a failure), waiting at most the deadline."""
    mon = sock.get_monitor_socket()
    try:
        sock.connect(address)
        while True:
            assert mon.poll(DEADLINE_MS, zmq.POLLIN), "no handshake outcome before the deadline"
            event = recv_monitor_message(mon)["event"]
            if event in _EVENTS:
                return int(event)
    finally:
        sock.disable_monitor()
        mon.close(linger=0)


_FAILED = {zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL}


@pytest.mark.parametrize(("case", "expected"), [
    ("a key not on the allowlist", {zmq.EVENT_HANDSHAKE_FAILED_AUTH}),  # the ZAP handler's no
    ("a wrong gateway key", _FAILED),  # the gateway cannot read our hello
    ("no CURVE at all", _FAILED),  # NULL against CURVE: libzmq says either
])
def test_a_client_the_gateway_does_not_admit_gets_nothing(world: World, case: str,
                                                          expected: set[int]) -> None:
    v = _shfe(world)
    server_key, secret = {
        "a key not on the allowlist": (v.curve_server_key,
                                       str(world.other / "intruder.key_secret")),
        "a wrong gateway key": (str(world.other / "impostor.key"), v.curve_client_secret),
        "no CURVE at all": ("", ""),
    }[case]
    md = world.ctx.socket(zmq.SUB)
    ref = world.ctx.socket(zmq.DEALER)
    try:
        for sock, kind, topics in ((md, zmq.SUB, (b"md.au2606", b"hb")),
                                   (ref, zmq.DEALER, ())):
            sock.setsockopt(zmq.LINGER, 0)
            secure(sock, SocketSpec("x", kind, "", server_key_file=server_key,
                                    client_secret_file=secret))
            for t in topics:
                sock.setsockopt(zmq.SUBSCRIBE, t)
        assert _handshake(md, v.md) in expected
        assert _handshake(ref, v.ref) in expected
        # a refused peer is dropped: the request may not even be queued (Again), never read
        with contextlib.suppress(zmq.Again):
            ref.send(encode(SnapshotReq(sym="au2606")), zmq.NOBLOCK)
        # the gateway publishes every few ms and answers at once: a frame would be here by now
        assert not md.poll(NOTHING_MS, zmq.POLLIN)
        assert not ref.poll(NOTHING_MS, zmq.POLLIN)
    finally:
        md.close(linger=0)
        ref.close(linger=0)
    if server_key:  # the instruments check says so too, within its deadline
        with pytest.raises(InstrumentMismatch, match=r"no instruments reply.*CURVE"):
            fetch_instruments(world.ctx, v.ref, NOTHING_MS, server_key, secret)


# --- configuration errors name the field and the file ------------------------------------------

_VENUE = b"""
[[venues]]
name = "x"
md = "tcp://10.0.0.2:7001"
ref = "tcp://10.0.0.2:7002"
oe = "tcp://10.0.0.2:7003"
"""


def test_a_server_key_without_a_client_secret_names_both_fields() -> None:
    with pytest.raises(ConfigError) as err:
        load_config_bytes(_VENUE + b'curve_server_key = "gw.key"\n')
    assert "$.venues[0]" in str(err.value)
    assert "curve_server_key" in str(err.value) and "curve_client_secret" in str(err.value)
    with pytest.raises(ConfigError, match="curve_client_secret is set but curve_server_key"):
        load_config_bytes(_VENUE + b'curve_client_secret = "me.key_secret"\n')
    with pytest.raises(ConfigError, match="curve_server_keys: unknown key"):
        load_config_bytes(_VENUE + b'curve_server_keys = "gw.key"\n')
    cfg = load_config_bytes(_VENUE + b'curve_server_key = "gw.key"\n'
                            b'curve_client_secret = "me.key_secret"\n')
    assert cfg.venues[0].curve_server_key == "gw.key"
    assert load_config(None).venues[0].curve_server_key == ""  # off by default


def test_a_missing_client_key_file_is_named_before_anything_connects(
        world: World, tmp_path: Path) -> None:
    v = _shfe(world)
    gone = str(tmp_path / "gone.key_secret")
    sock = world.ctx.socket(zmq.DEALER)
    try:
        with pytest.raises(ConfigError, match=f"curve_client_secret: no such file: '{gone}'"):
            secure(sock, SocketSpec("oe", zmq.DEALER, v.oe, server_key_file=v.curve_server_key,
                                    client_secret_file=gone))
        with pytest.raises(ConfigError, match=r"curve_server_key: .*not a readable CURVE key"):
            (tmp_path / "junk.key").write_text("not a key\n")
            secure(sock, SocketSpec("oe", zmq.DEALER, v.oe,
                                    server_key_file=str(tmp_path / "junk.key"),
                                    client_secret_file=v.curve_client_secret))
    finally:
        sock.close(linger=0)
    venues = [msgspec.structs.replace(x, curve_server_key=str(tmp_path / "nope.key"))
              if x.name == "comex" else x for x in world.cfg.venues]
    bad = msgspec.structs.replace(world.cfg, venues=venues)
    i = next(i for i, x in enumerate(bad.venues) if x.name == "comex")
    with pytest.raises(ConfigError, match=rf"\$\.venues\[{i}\]\.curve_server_key: no such file"):
        check_instruments(bad, world.ctx, world.sock_dir)


def test_a_gateway_refuses_to_start_without_its_keys(world: World, tmp_path: Path) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    allow = str(world.keys / "allowlist")
    try:
        missing = str(tmp_path / "server.key_secret")
        with pytest.raises(ConfigError, match=f"--curve-secret: no such file: '{missing}'"):
            secure_server(ctx, [sock], missing, allow)
        with pytest.raises(ConfigError, match="holds no secret key"):
            secure_server(ctx, [sock], str(world.keys / "server.key"), allow)
        (tmp_path / "empty").mkdir()
        with pytest.raises(ConfigError, match=r"--curve-allow: no \*\.key files"):
            secure_server(ctx, [sock], str(world.keys / "server.key_secret"),
                          str(tmp_path / "empty"))
        with pytest.raises(ConfigError, match="--curve-secret and --curve-allow go together"):
            ServerKeys.of(str(world.keys / "server.key_secret"), None)
        assert ServerKeys.of(None, "") is None  # off
    finally:
        sock.close(linger=0)
        ctx.term()  # no ZAP handler was left running
    # the gateway process: exit 2 before binding anything
    code = sim_main(None, str(tmp_path / "s"), None, 0.1,
                    curve=ServerKeys(missing, allow))
    assert code == 2 and not (tmp_path / "s").exists()


def test_the_gateway_commands_take_both_curve_flags_or_neither(tmp_path: Path) -> None:
    from scripts.gateway.cmd import gateway

    runner = CliRunner()
    for name in ("sim", "paper", "ccxt", "ctp", "ib"):
        cmd = gateway.commands[name]
        assert {"--curve-secret", "--curve-allow"} <= {o for p in cmd.params for o in p.opts}
    res = runner.invoke(gateway, ["sim", "--sock", str(tmp_path / "s"), "--curve-secret",
                                  str(tmp_path / "x.key_secret")], env={"CMC_CURVE_ALLOW": ""})
    assert res.exit_code == 2 and "--curve-secret and --curve-allow go together" in res.output
    res = runner.invoke(gateway, ["sim", "--sock", str(tmp_path / "s"), "--curve-secret",
                                  str(tmp_path / "x.key_secret"), "--curve-allow",
                                  str(tmp_path)])
    assert res.exit_code == 2 and f"no such file: '{tmp_path / 'x.key_secret'}'" in res.output
    assert "CMC_CURVE_SECRET" not in os.environ  # a refused command exported nothing
