"""Node links are authenticated: CURVE with the launch's key and a ZAP allowlist of that key.

A foreign peer (its own context: no keys, or a key pair of its own that knows the launch's
public key) completes no handshake with a node's PULL or control socket, so nothing it sends is
read; the legit peers keep talking. Without keys no node link is opened at all, and a dead ZAP
handler refuses even the right key (fail-closed). Keys are owner-only; the socket directory is
made private. Every wait has a deadline; a handshake's outcome is read from the socket monitor.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path
from typing import Any

import pykka
import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from actors.runtime import link_auth
from actors.runtime.host.host import Begin, Directory, GroupBatch, Host
from actors.runtime.link_auth import LINK_KEY_FILE, LinkKeys, load_link_keys, write_link_keys
from actors.runtime.node_runtime import CtlClient, CtlServer
from actors.runtime.shells.shell import Shell
from scripts.launch.process import new_sock_dir, private_sock_dir
from tests.runtime.host.test_host import Relay
from tests.support.helpers import eventually
from transports.clock import LiveClock
from transports.errors import ConfigError
from transports.wire.codec import encode
from transports.wire.messages import Halt

_DONE = {zmq.EVENT_HANDSHAKE_SUCCEEDED: "ok", zmq.EVENT_HANDSHAKE_FAILED_AUTH: "refused",
         zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "refused",
         zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "refused"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _foreign(endpoint: str, kind: int, frames: list[bytes], mode: str,
             server_public: bytes = b"", keys: LinkKeys | None = None) -> str:
    """Connect from a context of its own, send ``frames``; return the handshake's outcome.

    ``mode``: ``plain`` (no CURVE), ``own-key`` (a key pair of its own, the launch's public key
    as the server's), ``launch-key`` (the launch's own pair, a legit peer)."""
    ctx: zmq.Context[Any] = zmq.Context()
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    if mode == "own-key":
        s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
        s.curve_serverkey = server_public
    elif mode == "launch-key":
        assert keys is not None
        s.curve_publickey, s.curve_secretkey = keys.public, keys.secret
        s.curve_serverkey = keys.public
    mon = s.get_monitor_socket()
    try:
        s.connect(endpoint)
        for f in frames:
            s.send(f)
        while mon.poll(5000):  # a deadline on every event
            ev = recv_monitor_message(mon)
            if ev["event"] in _DONE:
                return _DONE[ev["event"]]
        return "no handshake"
    finally:
        s.disable_monitor()
        mon.close(linger=0)
        s.close(linger=0)
        ctx.term()


def _two_nodes(ctx: Any, sock_dir: str) -> tuple[Any, Any, Directory]:
    addrs = {"n1": f"ipc://{sock_dir}/n1", "n2": f"tcp://127.0.0.1:{_free_port()}"}
    actor_group, group_node = {"a": "g1", "b": "g2"}, {"g1": "n1", "g2": "n2"}
    d1 = Directory("n1", actor_group, group_node, addrs)
    d2 = Directory("n2", actor_group, group_node, addrs)
    h1 = Host.start("g1", [Shell(Relay("a", "b"))], d1, LiveClock(), ctx)
    h2 = Host.start("g2", [Shell(Relay("b"))], d2, LiveClock(), ctx)
    d1.refs["g1"], d2.refs["g2"] = h1, h2
    for r in (h1, h2):
        r.proxy().host_counters().get(timeout=5)  # sockets open
        r.tell(Begin())
    return h1, h2, d2


def test_a_foreign_peer_gets_nothing_into_a_node_link(ctx: Any, sock_dir: str) -> None:
    auth = link_auth.attach(ctx, LinkKeys.generate())
    h1, h2, d2 = _two_nodes(ctx, sock_dir)
    batch = encode([("b", Halt("foreign"))])  # well-formed: the old PULL delivered it
    for addr in (d2.node_address["n2"], d2.node_address["n1"]):  # tcp and ipc
        assert _foreign(addr, zmq.PUSH, [batch], "plain") == "refused"
        assert _foreign(addr, zmq.PUSH, [batch], "own-key", auth.keys.public) == "refused"
    assert auth.allow.denied >= 2  # the ZAP allowlist turned the own-key peers away
    # the legit link keeps flowing: a -> b over tcp
    h1.tell(GroupBatch([("a", Halt("legit"))]))
    eventually(lambda: h2.proxy().query("b").get(timeout=1)["seen"] == ["legit>a"], 5)
    # and a peer with the launch's key (a node of this launch) is let in and heard
    assert _foreign(d2.node_address["n2"], zmq.PUSH, [encode([("b", Halt("peer"))])],
                    "launch-key", keys=auth.keys) == "ok"
    eventually(lambda: h2.proxy().query("b").get(timeout=1)["seen"] == ["legit>a", "peer"], 5)
    assert "foreign" not in h2.proxy().query("b").get(timeout=1)["seen"]
    assert not h2.proxy().host_counters().get(timeout=1).get("bad_node_frames")


def test_a_peers_damaged_frames_are_dropped_counted_and_the_link_goes_on(ctx: Any,
                                                                       sock_dir: str) -> None:
    # F08: a node of this launch (the launch's key) whose frames are damaged: truncated, not
    # MessagePack, an unknown message tag, a batch of the wrong shape. Each is dropped and
    # counted (``bad_node_frames``), never delivered, and the frames after it still are
    auth = link_auth.attach(ctx, LinkKeys.generate())
    _h1, h2, d2 = _two_nodes(ctx, sock_dir)
    good = encode([("b", Halt("after"))])
    bad = [good[:-3], b"\xc1\xc1 not msgpack", encode([("b", {"t": "no-such-message"})]),
           encode({"b": "a map, not a list of items"}), encode([("b",)])]
    assert _foreign(d2.node_address["n2"], zmq.PUSH, [*bad, good], "launch-key",
                    keys=auth.keys) == "ok"
    eventually(lambda: h2.proxy().query("b").get(timeout=1)["seen"] == ["after"], 5)
    assert h2.proxy().host_counters().get(timeout=1)["bad_node_frames"] == len(bad)


def test_without_the_launch_keys_no_node_link_is_opened(ctx: Any, sock_dir: str) -> None:
    with pytest.raises(ConfigError, match=r"\$\.placement\.nodes: .*node keys"):
        link_auth.require(ctx, "a link")
    d = Directory("n1", {"a": "g1", "b": "g2"}, {"g1": "n1", "g2": "n2"},
                  {"n1": f"ipc://{sock_dir}/n1", "n2": f"ipc://{sock_dir}/n2"})
    h = Host.start("g1", [Shell(Relay("a"))], d, LiveClock(), ctx)
    with pytest.raises(pykka.ActorDeadError):  # on_start refused to bind a plaintext PULL
        h.proxy().host_counters().get(timeout=5)
    assert not os.path.exists(f"{sock_dir}/n1")


def test_a_dead_zap_handler_refuses_even_the_launch_key(ctx: Any, sock_dir: str) -> None:
    auth = link_auth.attach(ctx, LinkKeys.generate())
    _h1, _h2, d2 = _two_nodes(ctx, sock_dir)
    addr = d2.node_address["n2"]
    assert _foreign(addr, zmq.PUSH, [], "launch-key", keys=auth.keys) == "ok"
    auth.auth.stop()  # the ZAP thread dies
    assert not auth.alive()
    # libzmq's default would now let any CURVE client in; ZAP_ENFORCE_DOMAIN refuses all
    assert _foreign(addr, zmq.PUSH, [], "own-key", auth.keys.public) == "refused"
    assert _foreign(addr, zmq.PUSH, [], "launch-key", keys=auth.keys) == "refused"


class _Runtime:
    """What a CtlServer needs of a NodeRuntime; records every operation it was asked."""

    name = "trade"

    def __init__(self) -> None:
        self.ops: list[tuple[str, dict[str, Any]]] = []

    def op(self, cmd: str, args: dict[str, Any], timeout_s: float = 2.0) -> Any:
        self.ops.append((cmd, args))
        return {"node": self.name}


def test_a_foreign_peer_cannot_tell_through_the_control_socket(ctx: Any,
                                                               sock_dir: str) -> None:
    auth = link_auth.attach(ctx, LinkKeys.generate())
    rt = _Runtime()
    addr = f"ipc://{sock_dir}/ctl-trade"
    srv = CtlServer(rt, ctx, addr)  # type: ignore[arg-type]
    srv.start()
    try:
        tell = encode({"id": "1", "cmd": "tell",
                       "args": {"actor": "risk", "msg": encode(Halt("foreign"))}})
        assert _foreign(addr, zmq.DEALER, [tell], "plain") == "refused"
        assert _foreign(addr, zmq.DEALER, [tell], "own-key", auth.keys.public) == "refused"
        client = CtlClient(ctx, addr)  # the launcher's side: the launch key
        assert client.request("ping", {}, 5.0) == {"node": "trade"}
        client.close()
        assert rt.ops == [("ping", {})]  # the foreign tells never reached the runtime
    finally:
        srv.stop()


def test_the_control_client_needs_the_launch_keys(ctx: Any, sock_dir: str) -> None:
    client = CtlClient(ctx, f"ipc://{sock_dir}/ctl-x")
    with pytest.raises(ConfigError, match=r"\$\.placement\.nodes"):
        client.request("ping", {}, 0.2)  # refused before any socket: never a plaintext link


def test_link_keys_are_owner_only(tmp_path: Path) -> None:
    keys, path = write_link_keys(tmp_path)
    assert path.name == LINK_KEY_FILE and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_link_keys(path).public == keys.public
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError, match=r"--link-key: .*readable by others"):
        load_link_keys(path)
    with pytest.raises(ConfigError, match=r"--link-key: no node link keys"):
        load_link_keys(tmp_path / "missing")


def test_the_socket_directory_is_private(tmp_path: Path) -> None:
    assert stat.S_IMODE(os.stat(new_sock_dir()).st_mode) == 0o700
    fresh = tmp_path / "fresh" / "sock"
    private_sock_dir(str(fresh))
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    wide = tmp_path / "wide"
    wide.mkdir(mode=0o755)
    os.chmod(wide, 0o777)
    private_sock_dir(str(wide))  # others could open it: tightened
    assert stat.S_IMODE(wide.stat().st_mode) == 0o700
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(ConfigError, match=r"\$\.launch\.sock_dir: .*not a directory"):
        private_sock_dir(str(afile))


def test_a_dead_node_zap_handler_is_reported_critical(ctx: Any, sock_dir: str) -> None:
    from loguru import logger

    auth = link_auth.attach(ctx, LinkKeys.generate())
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(m.record["message"]), level="CRITICAL")
    srv = CtlServer(_Runtime(), ctx, f"ipc://{sock_dir}/ctl-trade")  # type: ignore[arg-type]
    srv.start()
    try:
        auth.auth.stop()
        eventually(lambda: any("ZAP handler died" in m for m in seen), 5)
    finally:
        srv.stop()
        logger.remove(sink)
