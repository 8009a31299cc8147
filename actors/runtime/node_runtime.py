"""One node of a launch, and the launcher's view of all of them.

``NodeRuntime``: a ``Node`` with its ``Supervisor`` (leg executors wrapped so they reconcile with
the venue before trading) and the operations the admin socket needs (``op``). A child node
process also serves ``op`` on a control socket, ``ipc://<sock dir>/ctl-<node>`` (a ROUTER in the
run's private 0700 socket directory, CURVE with the launch's node key like every node link,
``actors.runtime.link_auth``; MessagePack ``{"id", "cmd", "args"}`` →
``{"id", "ok", "result"|"error"}``). ``Cluster`` is the launcher's view: an operation on an actor
goes to the node that runs it, locally or over that node's control socket, always with a
deadline.

A live value changes only by a message (``tell``, ``set_params``): delivered through the
dispatcher, journaled like any inbound event, so a replay and a rebuild see it. ``set_params``
also updates the node's config copy, from which the supervisor builds fresh cores.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import zmq
from loguru import logger

from actors.runtime import link_auth
from actors.runtime.node import Node, param_holders
from actors.runtime.rebuild.rebuild_driver import JOURNAL, Rebuilds, in_flight_msgs
from actors.runtime.shells.supervisor_shell import Supervisor
from actors.runtime.shells.venue_shell import LegShell
from actors.runtime.supervisor import wrap_leg
from transports.clock import Clock
from transports.config.engine import AppConfig, with_params
from transports.errors import ConfigError, OpError
from transports.journal.writer import CORES_FILE
from transports.wire.codec import encode
from transports.wire.messages import AnyMsg, Decision, SetParams

#: Largest control reply or request accepted (snapshots of busy executors are the big ones).
MAX_CTL_BYTES = 16 << 20


def ctl_address(sock_dir: str, node: str) -> str:
    """Return the control socket address of ``node``."""
    return f"ipc://{sock_dir}/ctl-{node}"


class Warm(NamedTuple):
    """What a hot standby hands its node at a take-over: the groups' rebuilds, replayed as the
    records arrived, and the run's journal and intent WAL, still open (nothing to recover)."""

    rebuilds: dict[str, Any]
    journal: Any = None  #: ``JournalWriter``
    intent_wal: Any = None  #: ``IntentWal``


class NodeRuntime:
    """A node, its supervisor, and the operations run against them."""

    def __init__(self, cfg: AppConfig, node_name: str, ctx: zmq.Context[Any], clock: Clock,
                 sock_dir: str, run_dir: Path, *,
                 wrap: Callable[[str, Any], Any] | None = None,
                 exit_fn: Callable[[int], None] | None = None,
                 warm: Warm | None = None) -> None:
        self.cfg = cfg
        #: a hot standby's rebuilds per group (``Rebuilds.at_node_start``), None otherwise
        self.warm = warm.rebuilds if warm is not None else None
        self.clock = clock
        self.node = Node(cfg, node_name, ctx, clock, sock_dir, run_dir,
                         journal_writer=warm.journal if warm is not None else None,
                         intent_wal=warm.intent_wal if warm is not None else None)
        self.wrap = wrap

        def prepare(name: str, core: Any, c: AppConfig) -> Any:
            core = wrap_leg(name, core, c)
            return wrap(name, core) if wrap is not None else core

        for name, shell in self.node.shells.items():
            shell.core = prepare(name, shell.core, cfg)
        node_ = self.node
        #: a fresh core as this node builds it (the rebuild at start replays through these)
        self.prepare_fresh = lambda a, c: prepare(a, node_.fresh_core(a, c), c)
        self.rebuilt: list[dict[str, Any]] = []  #: the rebuilds at this node's start
        # replay must wrap the executors as they ran (``scripts.replay.core.recorded_wrap``)
        (run_dir / CORES_FILE).write_bytes(b'{"leg": "LegReconciler"}\n')
        self.supervisor: Supervisor | None = None
        if cfg.supervision.enabled:
            node = self.node
            self.supervisor = Supervisor(
                node, clock, core_factory=lambda a, c: prepare(a, node.fresh_core(a, c), c),
                wrap=prepare, exit_fn=exit_fn or os._exit)

    @property
    def name(self) -> str:
        """The node's name."""
        return self.node.name

    def start(self) -> None:
        """Start the hosts, then the supervisor. A node starting into a run whose journal
        holds its groups' history (restarted after it died, or relaunched) first rebuilds
        their cores from the journal and hands its executors the order intents the journal
        never saw sent (``actors.runtime.rebuild.rebuild_driver``: ``at_node_start``)."""
        sup = self.supervisor
        rebuilt, before = self._rebuild_at_start()
        self.node.start(on_error=sup.on_error if sup is not None else None, rebuilt=rebuilt,
                        before=before)
        if sup is not None:
            sup.start()
        if rebuilt:
            detail = {"node": self.node.name, "epoch": self.cfg.run.epoch,
                      "groups": sorted(rebuilt),
                      "in_flight": {a: [o.cl for o in m.orders] for a, m in before},
                      "rebuilds": self.rebuilt}
            self.node.send(JOURNAL, Decision("supervisor", "node_rebuilt",
                                             json.dumps(detail, sort_keys=True),
                                             self.clock.now_ns()))

    def _rebuild_at_start(self) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
        """The rebuilt cores per group and the ``InFlight`` messages for their executors."""
        if not self.cfg.supervision.rebuild:
            return {}, []
        rebuilds = Rebuilds(self.node, self.clock, self.cfg, self.prepare_fresh)
        rebuilt, self.rebuilt = rebuilds.at_node_start(self.cfg.run.epoch, self.warm)
        wal = self.node.intent_wal
        if not rebuilt or wal is None:
            return rebuilt, []
        legs = {a: (shell.account, rebuilt[g][a][0])
                for g in rebuilt for a, shell in self.node.shells.items()
                if isinstance(shell, LegShell) and a in rebuilt[g]}
        before = in_flight_msgs(wal.path, legs)
        for actor, msg in before:
            logger.warning("node {}: {} has {} order(s) in flight the journal never saw sent; "
                           "querying them by client id: {}", self.node.name, actor,
                           len(msg.orders), [o.cl for o in msg.orders])
        return rebuilt, before

    def stop(self) -> None:
        """Stop the supervisor first (a stopping host is not a crash), then the node."""
        if self.supervisor is not None:
            self.supervisor.stop()
        self.node.stop()
        self.node.close_send_sockets()

    # --- operations (admin socket, control socket, cmc top, metrics) -----------------------------

    def op(self, cmd: str, args: dict[str, Any], timeout_s: float = 2.0) -> Any:
        """Run one operation on this node; raise ``OpError`` with a reason on failure."""
        node = self.node
        actor = args.get("actor", "")
        if actor and not node.is_local(actor):
            raise OpError(f"actor {actor!r} is not on node {node.name!r}")
        try:
            if cmd == "ping":
                return {"node": node.name, "pid": os.getpid(), "mono_ns": self.clock.mono_ns()}
            if cmd == "query":
                return node.query(actor, timeout=timeout_s)
            if cmd == "tell":
                # a typed message, encoded (it crosses the control socket as bytes)
                node.tell(actor, msgspec.msgpack.decode(args["msg"], type=AnyMsg))
                return None
            if cmd == "set_params":
                return self.set_params(str(args["section"]), dict(args["values"]))
            if cmd == "actors":
                sup = self.supervisor.snapshot()["actors"] if self.supervisor else {}
                return {a: {"node": node.name, "group": node.group_of(a),
                            "host_alive": node.host_of(a).is_alive(), **sup.get(a, {})}
                        for a in node.shells}
            if cmd == "supervisor":
                return self.supervisor.snapshot() if self.supervisor else {}
            if cmd == "latency":
                return node.latency.summary_us()
            if cmd == "latency_hdr":  # the HDR histograms, for the launcher to merge across nodes
                return node.latency.encode()
            if cmd == "counters":
                return node.host_counters(timeout=timeout_s)
            if cmd == "restart":
                if self.supervisor is None:
                    raise OpError("supervision is disabled")
                if not self.supervisor.restart(actor, timeout_s * 2):
                    raise OpError(f"restart of {actor} did not finish in {timeout_s * 2:g}s")
                return {"restarted": actor}
            if cmd == "rotate_journal":
                # in the journal's own thread, between two of its batches
                shell = node.shells[actor]  # a JournalShell: it owns the writer
                return node.host_of(actor).proxy().call(
                    actor, lambda _core, now: shell.rotate(now)).get(timeout=timeout_s)
        except OpError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error reply
            raise OpError(f"{cmd} failed: {exc!r}") from None
        raise OpError(f"unknown operation {cmd!r}")

    def set_params(self, section: str, values: dict[str, Any]) -> dict[str, Any]:
        """A live change of ``section`` on this node: the node's config copy first (a core the
        supervisor builds from now on has it), then ``SetParams`` to each local holder, through
        its host like any inbound message (journaled; the holder validates, applies, journals
        a ``Decision``). Raise ``OpError`` naming the field if the change is not valid."""
        try:
            cfg = with_params(self.cfg, section, values)
        except ConfigError as exc:
            raise OpError(str(exc)) from None
        self.cfg = self.node.cfg = cfg
        if self.supervisor is not None:
            self.supervisor.cfg = cfg
        told = [a for a in param_holders(cfg, section) if self.node.is_local(a)]
        msg = SetParams(section, values)
        for actor in told:
            self.node.tell(actor, msg)
        return {"node": self.node.name, "told": told}


class CtlServer:
    """Serves ``NodeRuntime.op`` on the node's control socket, in its own thread."""

    def __init__(self, runtime: NodeRuntime, ctx: zmq.Context[Any], address: str) -> None:
        self.runtime = runtime
        # a node link like the others: only a peer with the launch's node key gets a request
        # in (``tell`` delivers any typed message), never an unauthenticated fallback
        self.auth = link_auth.require(ctx, f"node {runtime.name}'s control socket")
        self.sock: zmq.Socket[bytes] = ctx.socket(zmq.ROUTER)
        self.auth.server(self.sock)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, MAX_CTL_BYTES)
        self.sock.bind(address)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ctl", daemon=True)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        dec = msgspec.msgpack.Decoder(dict[str, Any])
        zap_down = False
        try:
            while not self._stop.is_set():
                if not zap_down and not self.auth.alive():
                    # new handshakes are refused from now on (ZAP_ENFORCE_DOMAIN): the links
                    # fail closed, and whoever watches the node's log must know why
                    zap_down = True
                    logger.critical("node {}: the node links' ZAP handler died; no peer can "
                                    "connect to this node any more", self.runtime.name)
                if not self.sock.poll(100):
                    continue
                frames = self.sock.recv_multipart()
                rid = ""
                try:
                    req = dec.decode(frames[-1])
                    rid = str(req.get("id", ""))
                    result = self.runtime.op(str(req["cmd"]), dict(req.get("args") or {}),
                                             float(req.get("timeout_s", 2.0)))
                    reply: dict[str, Any] = {"id": rid, "ok": True, "result": result}
                except (OpError, KeyError, ValueError, msgspec.DecodeError, RecursionError) as exc:
                    reply = {"id": rid, "ok": False, "error": str(exc)}
                self.sock.send_multipart([*frames[:-1], encode(reply)])
        finally:
            self.sock.close(linger=0)


class CtlClient:
    """Requests to a child node's control socket; one at a time, each with a deadline."""

    def __init__(self, ctx: zmq.Context[Any], address: str) -> None:
        self.ctx = ctx
        self.address = address
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._sock: zmq.Socket[bytes] | None = None

    def _socket(self) -> zmq.Socket[bytes]:
        if self._sock is None:
            # keys first: a socket made and then refused would be left open in the context
            auth = link_auth.require(self.ctx, f"the control link to {self.address}")
            s = self.ctx.socket(zmq.DEALER)
            auth.client(s)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.MAXMSGSIZE, MAX_CTL_BYTES)
            s.connect(self.address)
            self._sock = s
        return self._sock

    def request(self, cmd: str, args: dict[str, Any], timeout_s: float = 2.0) -> Any:
        """Run ``cmd`` on the node; raise ``OpError`` on an error reply or at the deadline."""
        with self._lock:
            sock = self._socket()
            rid = str(next(self._ids))
            sock.send(encode({"id": rid, "cmd": cmd, "args": args, "timeout_s": timeout_s}))
            deadline_ms = int(timeout_s * 1000) + 500
            while sock.poll(deadline_ms):
                reply = msgspec.msgpack.decode(sock.recv())
                if reply.get("id") != rid:
                    continue  # the late answer to an earlier request that timed out
                if not reply.get("ok"):
                    raise OpError(str(reply.get("error")))
                return reply.get("result")
            # the node may be restarting: drop the socket so a late reply cannot confuse us
            sock.close(linger=0)
            self._sock = None
            raise OpError(f"node at {self.address} did not answer {cmd!r} in {timeout_s:g}s")

    def close(self) -> None:
        """Close the socket."""
        with self._lock:
            if self._sock is not None:
                self._sock.close(linger=0)
                self._sock = None


class Cluster:
    """The launcher's view of every node: operations go to the node running the actor."""

    def __init__(self, cfg: AppConfig, local: NodeRuntime, ctx: zmq.Context[Any],
                 sock_dir: str) -> None:
        assert cfg.placement is not None
        self.cfg = cfg
        self.local = local
        self.node_of = {a: next(g.node for g in cfg.placement.groups if g.name == grp)
                        for a, grp in local.node.directory.actor_group.items()}
        self.nodes = [n.name for n in cfg.placement.nodes]
        self.clients = {n: CtlClient(ctx, ctl_address(sock_dir, n))
                        for n in self.nodes if n != local.name}

    def actors(self) -> list[str]:
        """Every actor of the placement."""
        return list(self.node_of)

    def on_node(self, node: str, cmd: str, args: dict[str, Any], timeout_s: float = 2.0) -> Any:
        """Run an operation on ``node``."""
        if node == self.local.name:
            return self.local.op(cmd, args, timeout_s)
        return self.clients[node].request(cmd, args, timeout_s)

    def op(self, actor: str, cmd: str, args: dict[str, Any] | None = None,
           timeout_s: float = 2.0) -> Any:
        """Run an operation on the node of ``actor``."""
        node = self.node_of.get(actor)
        if node is None:
            raise OpError(f"unknown actor {actor!r}")
        return self.on_node(node, cmd, {**(args or {}), "actor": actor}, timeout_s)

    def query(self, actor: str, timeout_s: float = 2.0) -> dict[str, Any]:
        """Return an actor's snapshot."""
        return self.op(actor, "query", {}, timeout_s)  # type: ignore[no-any-return]

    def tell(self, actor: str, msg: Any, timeout_s: float = 2.0) -> None:
        """Deliver a typed message to an actor on any node, through that node's control socket
        (an unreachable node is an ``OpError``, not a silently queued frame)."""
        self.op(actor, "tell", {"msg": encode(msg)}, timeout_s)

    def set_params(self, section: str, values: dict[str, Any],
                   timeout_s: float = 2.0) -> dict[str, Any]:
        """Apply a live change on every node (``NodeRuntime.set_params``); return the actors
        told, by node. Raise ``OpError`` naming the nodes it did not reach (the others have
        it: the change is valid everywhere or nowhere, only a dead node can miss it)."""
        told: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for node in self.nodes:
            try:
                told[node] = self.on_node(node, "set_params",
                                          {"section": section, "values": values}, timeout_s)
            except OpError as exc:
                failed[node] = str(exc)
        if failed:
            raise OpError(f"set {section} not applied on {failed} (applied: {told})")
        return told

    def send(self, actor: str, msg: Any) -> None:
        """Send any message to an actor on any node (over the nodes' own links)."""
        self.local.node.send(actor, msg)

    def close(self) -> None:
        """Close the control clients."""
        for c in self.clients.values():
            c.close()


def safe(fn: Callable[[], Any], default: Any = None) -> Any:
    """Return ``fn()``, or ``default`` if it fails (views that must not break on one node)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a view degrades, it does not fail
        logger.debug("view degraded: {!r}", exc)
        return default


__all__ = ["Cluster", "CtlClient", "CtlServer", "NodeRuntime", "OpError", "ctl_address", "safe"]
