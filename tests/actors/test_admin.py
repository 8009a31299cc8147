"""The admin socket over real ZeroMQ (ipc, CURVE, ZAP allowlist) against a recording backend.

Security checks (fault catalogue §5.4): an unauthenticated client, or one whose key is not on the
allowlist, gets nothing executed; malformed and oversized frames get an error reply and change
nothing; a repeated request id is answered from the cache, not re-executed; bad parameter values
are refused with the field named; the server refuses to start without keys.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
import zmq.auth
from click.testing import CliRunner

from actors.admin import AdminCore
from actors.runtime.node import param_holders
from scripts.admin.client import keygen, request
from scripts.cli import main as cli
from transports.admin_server import AdminServer
from transports.config.engine import AppConfig, load_config
from transports.config.ops import AdminConfig
from transports.errors import ConfigError
from transports.wire.messages import Flatten, Halt, Msg


class FakeCluster:
    """Records what the admin asked actors to do; answers queries with canned snapshots."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Msg]] = []  #: typed messages told to actors
        self.params: list[tuple[str, dict[str, Any]]] = []  #: live changes (every node)
        self.ops: list[tuple[str, str, dict[str, Any]]] = []
        self.nodes = ["engine"]
        self.node_of = {a: "engine" for a in ("risk", "combo", "leg.shfe", "strategy.au-gc")}

    def actors(self) -> list[str]:
        return list(self.node_of)

    def tell(self, actor: str, msg: Msg) -> None:
        self.sent.append((actor, msg))

    def set_params(self, section: str, values: dict[str, Any]) -> dict[str, Any]:
        self.params.append((section, values))
        return {"engine": {"told": param_holders(load_config(None), section)}}

    def op(self, actor: str, cmd: str, args: dict[str, Any] | None = None,
           timeout_s: float = 2.0) -> Any:
        self.ops.append((actor, cmd, args or {}))
        return {"ok": True}

    def on_node(self, node: str, cmd: str, args: dict[str, Any], timeout_s: float = 2.0) -> Any:
        return {"tick_to_order": {"p50": 10.0, "p99": 20.0}} if cmd == "latency" else {}

    def query(self, actor: str, timeout_s: float = 2.0) -> dict[str, Any]:
        if actor == "risk":
            return {"state": "ACTIVE", "positions": {"shfe:au2606": 2}, "exposure": {"gold": 7.0},
                    "pnl": {"net": 1.0}, "feeds": {"shfe": {"state": "SYNCED", "gaps": 0}}}
        if actor.startswith("leg."):
            return {"orders": {"1.2.0.0": {"state": "FILLED"}}, "open": [], "positions": {}}
        if actor.startswith("strategy."):
            return {"last": {"mid_spread": 0.5, "mean": 0.4, "z": 1.1}, "pos_dir": 0,
                    "pos_a_lots": 0, "pos_b_lots": 0, "pending": None}
        return {"combos": {}, "counters": {"combos": 3}}


class FakeBackend:
    def __init__(self) -> None:
        self.cluster = FakeCluster()
        self.cfg: AppConfig = load_config(None)
        self.journaled: list[tuple[str, dict[str, Any]]] = []
        self.shutdowns: list[str] = []

    def status(self) -> dict[str, Any]:
        return {"state": "running", "nodes": {"engine": {"pid": 1, "state": "running"}}}

    def request_shutdown(self, reason: str) -> None:
        self.shutdowns.append(reason)

    def journal(self, what: str, detail: dict[str, Any]) -> None:
        self.journaled.append((what, detail))

    def state(self) -> tuple[Any, ...]:
        """Everything a command could change."""
        return (list(self.cluster.sent), list(self.cluster.params), list(self.cluster.ops),
                self.cfg, self.shutdowns)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    keygen(str(d), ["client"])
    (d / "other").mkdir()
    zmq.auth.create_certificates(d / "other", "intruder")
    return d


@pytest.fixture
def server(keys: Path, sock_dir: str) -> Iterator[tuple[AdminServer, AdminCore, FakeBackend, str]]:
    backend = FakeBackend()
    core = AdminCore(backend, max_request_bytes=4096, dedup_entries=8)
    cfg = AdminConfig(enabled=True, server_secret=str(keys / "server.key_secret"),
                      allowlist=str(keys / "allowlist"), max_request_bytes=4096)
    endpoint = f"ipc://{sock_dir}/admin"
    srv = AdminServer(cfg, core.handle, endpoint)
    srv.start()
    yield srv, core, backend, endpoint
    srv.stop()


def _raw(endpoint: str, keys: Path, frame: bytes, secret: Path | None = None,
         timeout_ms: int = 2000) -> dict[str, Any] | None:
    """Send one raw frame; return the decoded reply or None if nothing came back in time."""
    ctx: zmq.Context[Any] = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    try:
        if secret is not None:
            pub, sec = zmq.auth.load_certificate(secret)
            s.curve_publickey, s.curve_secretkey = pub, sec
            s.curve_serverkey = zmq.auth.load_certificate(keys / "server.key")[0]
        s.connect(endpoint)
        s.send(frame)
        if not s.poll(timeout_ms):
            return None
        return msgspec.msgpack.decode(s.recv())  # type: ignore[no-any-return]
    finally:
        s.close(linger=0)
        ctx.term()


def test_an_allowlisted_client_runs_commands_and_each_is_journaled(server: Any,
                                                                   keys: Path) -> None:
    _srv, _core, backend, ep = server
    reply = request(ep, str(keys), "halt", {"reason": "test"}, timeout_s=3, rid="r1")
    assert reply["ok"] and reply["id"] == "r1"
    dest, msg = backend.cluster.sent[-1]
    assert dest == "risk" and isinstance(msg, Halt) and msg.reason.endswith(": test")
    what, detail = backend.journaled[-1]
    assert what == "halt" and detail["ok"] and detail["key"].startswith("client:")
    assert request(ep, str(keys), "status", timeout_s=3)["result"]["state"] == "running"
    assert backend.journaled[-1][1]["result_bytes"] > 0  # views are journaled by size
    unknown = request(ep, str(keys), "bogus", timeout_s=3)
    assert not unknown["ok"] and "unknown command" in unknown["error"]
    rot = request(ep, str(keys), "rotate-journal", timeout_s=3)
    assert rot["ok"] and backend.cluster.ops[-1] == ("journal", "rotate_journal", {})
    assert backend.journaled[-1][0] == "rotate-journal" and "result" in backend.journaled[-1][1]


@pytest.mark.parametrize("who", ["no key", "key not on the allowlist"])
def test_an_unauthenticated_client_gets_nothing_executed(server: Any, keys: Path,
                                                         who: str) -> None:
    srv, core, backend, ep = server
    before = backend.state()
    secret = None if who == "no key" else keys / "other" / "intruder.key_secret"
    frame = msgspec.msgpack.encode({"id": "x1", "cmd": "halt", "args": {}})
    assert _raw(ep, keys, frame, secret, timeout_ms=700) is None
    assert backend.state() == before and backend.journaled == []
    assert core.counters["requests"] == 0
    if secret is not None:
        assert srv.allow.denied >= 1


MALFORMED = {
    "not msgpack": b"\xc1\xc1\xc1",
    "truncated": msgspec.msgpack.encode({"id": "m1", "cmd": "halt"})[:-3],
    "extra data": msgspec.msgpack.encode({"id": "m2", "cmd": "halt"}) + b"\x00",
    "not a map": msgspec.msgpack.encode(["halt"]),
    "no id": msgspec.msgpack.encode({"cmd": "halt"}),
    "id not a string": msgspec.msgpack.encode({"id": 5, "cmd": "halt"}),
    "args not a map": msgspec.msgpack.encode({"id": "m3", "cmd": "halt", "args": [1]}),
    "unknown field": msgspec.msgpack.encode({"id": "m4", "cmd": "halt", "nonce": 1}),
    "deep nesting": b"\x83\xa2id\xa2m5\xa3cmd\xa4halt\xa4args\x81\xa1k" + b"\x91" * 3000 + b"\xc0",
    "oversized": msgspec.msgpack.encode({"id": "m6", "cmd": "halt", "args": {"p": "x" * 5000}}),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_and_oversized_frames_get_an_error_and_change_nothing(server: Any, keys: Path,
                                                                        kind: str) -> None:
    _srv, core, backend, ep = server
    before = backend.state()
    reply = _raw(ep, keys, MALFORMED[kind], keys / "client.key_secret")
    assert reply is not None and reply["ok"] is False and reply["error"]
    if kind == "oversized":
        assert "exceeds 4096" in reply["error"]
    assert backend.state() == before
    assert core.counters["executed"] == 0
    # the server is still alive and serving
    assert request(ep, str(keys), "status", timeout_s=3)["ok"]


def test_a_frame_past_the_hard_limit_drops_its_sender_unread(server: Any, keys: Path) -> None:
    # A07: past ``hard_limit_bytes`` (1 MiB) libzmq drops the sender before the frame is read
    # whole (``ZMQ_MAXMSGSIZE``): no reply, the handler never sees it, memory stays bounded; the
    # server goes on serving everyone else
    _srv, core, backend, ep = server
    before = backend.state()
    huge = msgspec.msgpack.encode({"id": "m7", "cmd": "halt", "args": {"p": "x" * (2 << 20)}})
    assert _raw(ep, keys, huge, keys / "client.key_secret", timeout_ms=1000) is None
    assert backend.state() == before and core.counters["executed"] == 0
    assert sum(core.counters.values()) == 0  # not even refused: it never reached the handler
    assert request(ep, str(keys), "status", timeout_s=3)["ok"]


def test_a_repeated_request_id_is_answered_not_reexecuted(server: Any, keys: Path) -> None:
    _srv, core, backend, ep = server
    first = request(ep, str(keys), "flatten", timeout_s=3, rid="dup-1")
    assert [(d, type(m)) for d, m in backend.cluster.sent] == [("strategy.au-gc", Flatten),
                                                                ("risk", Flatten)]
    n = len(backend.cluster.sent)
    again = request(ep, str(keys), "flatten", timeout_s=3, rid="dup-1")
    assert again["duplicate"] is True and again["result"] == first["result"]
    assert len(backend.cluster.sent) == n
    assert core.counters["executed"] == 1 and core.counters["duplicates"] == 1


def test_set_validates_against_the_config_types(server: Any, keys: Path) -> None:
    _srv, _core, backend, ep = server

    def set_(key: str, value: Any) -> dict[str, Any]:
        return request(ep, str(keys), "set", {"key": key, "value": value}, timeout_s=3)

    cfg0 = backend.cfg
    for key, value, why in [("pairs.au-gc.z_entry", "abc", "Expected `float`"),
                            ("pairs.au-gc.z_entry", -1.0, ">= 0"),
                            ("pairs.au-gc.z_entry", 0.1, "must be below z_entry"),
                            ("pairs.au-gc.z_window", 100, "not a live parameter"),
                            ("pairs.nope.z_entry", 1.0, "unknown pair"),
                            ("risk.max_orders_per_s", 0, ">= 1"),
                            ("risk.home_ccy", "USD", "not a live parameter"),
                            ("sim.seed", 1, "unknown parameter")]:
        r = set_(key, value)
        assert not r["ok"] and why in r["error"], (key, r)
    assert backend.cfg is cfg0 and backend.cluster.ops == [] and backend.cluster.params == []
    ok = set_("pairs.au-gc.z_entry", 2.5)
    assert ok["ok"] and ok["result"]["previous"] == 2.0
    # one typed change, to every node (each tells its local holders and updates its config)
    assert backend.cluster.params[-1] == ("pairs.au-gc", {"z_entry": 2.5})
    assert ok["result"]["applied_to"] == ["strategy.au-gc"]
    assert backend.cluster.ops == []  # no attribute set behind the journal's back
    got = request(ep, str(keys), "get", {"key": "pairs.au-gc.z_entry"}, timeout_s=3)
    assert got["result"] == {"pairs.au-gc.z_entry": 2.5}
    assert backend.cfg.pairs[0].z_entry == 2.5  # the launcher's copy: for nodes started later
    ok = set_("risk.max_orders_per_s", 7)
    assert backend.cluster.params[-1] == ("risk", {"max_orders_per_s": 7})
    # risk limits are held by risk and by every executor's pre-trade checks
    assert ok["result"]["applied_to"] == ["leg.comex", "leg.shfe", "risk"]
    assert backend.cfg.risk.max_orders_per_s == 7


def test_halt_reduce_resume_and_flatten_are_typed_messages(server: Any, keys: Path) -> None:
    _srv, _core, backend, ep = server
    for cmd in ("halt", "reduce", "resume", "flatten"):
        assert request(ep, str(keys), cmd, {"reason": "desk"}, timeout_s=3)["ok"]
    sent = [(d, type(m).__name__, m.reason.rsplit(": ", 1)[-1]) for d, m in backend.cluster.sent]
    assert sent == [("risk", "Halt", "desk"), ("risk", "Reduce", "desk"),
                    ("strategy.au-gc", "Resume", "desk"), ("risk", "Resume", "desk"),
                    ("strategy.au-gc", "Flatten", "desk"), ("risk", "Flatten", "desk")]


def test_the_server_refuses_to_start_without_keys_or_allowlist(keys: Path, tmp_path: Path,
                                                               sock_dir: str) -> None:
    backend = FakeBackend()
    core = AdminCore(backend)
    ep = f"ipc://{sock_dir}/a2"
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [AdminConfig(enabled=True),
             AdminConfig(enabled=True, server_secret=str(keys / "server.key_secret")),
             AdminConfig(enabled=True, server_secret=str(keys / "server.key_secret"),
                         allowlist=str(empty)),
             AdminConfig(enabled=True, server_secret=str(keys / "server.key"),  # public only
                         allowlist=str(keys / "allowlist"))]
    for cfg in cases:
        with pytest.raises(ConfigError, match=r"\$\.admin\."):
            AdminServer(cfg, core.handle, ep)


def test_keygen_and_the_cli_client(server: Any, keys: Path, tmp_path: Path) -> None:
    _srv, _core, backend, ep = server
    runner = CliRunner()
    out = tmp_path / "k"
    r = runner.invoke(cli, ["admin", "keygen", "--out", str(out), "--client", "ops"])
    assert r.exit_code == 0, r.output
    assert (out / "server.key_secret").stat().st_mode & 0o077 == 0
    assert (out / "allowlist" / "ops.key").is_file()
    r = runner.invoke(cli, ["admin", "status", "--json", "--endpoint", ep, "--keys", str(keys)])
    assert r.exit_code == 0, r.output
    assert msgspec.json.decode(r.output)["result"]["state"] == "running"
    r = runner.invoke(cli, ["admin", "set", "pairs.au-gc.z_entry", "nan", "--endpoint", ep,
                            "--keys", str(keys)])
    assert r.exit_code == 1
    r = runner.invoke(cli, ["top", "--once", "--endpoint", ep, "--keys", str(keys)])
    assert r.exit_code == 0, r.output
    assert "au-gc" in r.output and "SYNCED" in r.output and "gold +7.0" in r.output
    shutil.rmtree(out)
    other = tmp_path / "other"
    keygen(str(other), ["client"])  # a different key pair: not on the server's allowlist
    r = runner.invoke(cli, ["admin", "halt", "--endpoint", ep, "--keys", str(other),
                            "--timeout", "0.5"])
    assert r.exit_code == 2 and backend.cluster.sent == []


def test_a_kinds_section_field_is_set_and_read_by_its_dotted_name() -> None:
    """``pairs.<pair>.basis.rate``: validated against the config types, sent to every holder
    as ``{"basis.rate": v}``, kept in the launcher's config; a field the kind lacks refused."""
    from scripts.demo.scenarios import scenario_conf

    backend = FakeBackend()
    backend.cfg = load_config(scenario_conf("basis"))
    pair = backend.cfg.pairs[0]
    assert pair.basis is not None
    core = AdminCore(backend)

    def ask(rid: str, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        frame = msgspec.msgpack.encode({"id": rid, "cmd": cmd, "args": args})
        return msgspec.msgpack.decode(core.handle(frame, "ops:k"))

    key = f"pairs.{pair.name}.basis.rate"
    r = ask("1", "set", {"key": key, "value": pair.basis.rate + 0.01})
    assert r["ok"], r
    assert r["result"]["previous"] == pair.basis.rate
    assert backend.cluster.params[-1] == (f"pairs.{pair.name}",
                                          {"basis.rate": pair.basis.rate + 0.01})
    new = backend.cfg.pairs[0].basis
    assert new is not None and new.rate == pair.basis.rate + 0.01
    assert ask("2", "get", {"key": key})["result"] == {key: pair.basis.rate + 0.01}
    r = ask("3", "set", {"key": f"pairs.{pair.name}.stat.delta", "value": 0.1})
    assert not r["ok"] and "not a live parameter" in r["error"]
    r = ask("4", "set", {"key": f"pairs.{pair.name}.basis.cost_multiple", "value": 0.5})
    assert not r["ok"] and "cost_multiple" in r["error"]
    assert backend.cfg.pairs[0].basis.cost_multiple == pair.basis.cost_multiple  # unchanged
