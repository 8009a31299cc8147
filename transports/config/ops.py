"""Operations config: the launcher, supervision policies, the admin socket and metrics.

Sections ``[launch]``, ``[supervision]``, ``[admin]`` and ``[metrics]`` of the same TOML as the
rest of the engine (``AppConfig`` holds them). Frozen msgspec Structs with
``forbid_unknown_fields`` (``transports.config.base``): an unknown key or a wrong type is a
``ConfigError`` naming the field. Cross-checks that need the rest of the config (actors named in
supervision groups exist) are in ``check_ops``.
"""

from __future__ import annotations

from typing import Literal

from transports.config.base import NonNegFloat, NonNegInt, Port, PosFloat, PosInt, Section
from transports.errors import ConfigError


class LaunchConfig(Section):
    """How ``cmc launch`` runs the placement."""

    #: gateway processes the launcher starts and stops: "sim" (the built-in simulator, for
    #: its venues), "ccxt" (one ``cmc gateway ccxt`` per venue with ``[venues.ccxt]``),
    #: "paper" (one ``cmc gateway paper`` per venue with ``[venues.paper]``), "ctp" and "ib"
    #: (one ``cmc gateway ctp`` / ``cmc gateway ib`` per venue with that section)
    gateways: list[Literal["sim", "ccxt", "paper", "ctp", "ib"]] = []
    #: on SIGTERM/SIGINT: "flatten" closes every pair's position first, "halt" only cancels
    shutdown: Literal["flatten", "halt"] = "flatten"
    flatten_timeout_s: PosFloat = 15.0  #: wait this long for the strategies to be flat
    cancel_timeout_s: PosFloat = 5.0  #: wait this long for working orders to close after halt
    ready_timeout_s: PosFloat = 60.0  #: a child node or gateway must be READY within this
    run_dir: str = ""  #: empty = ``run.out_dir/<stamp>-<pid>``
    sock_dir: str = ""  #: empty = a fresh private temp directory
    status_file: str = ""  #: empty = ``<run dir>/status.json``


class GroupPolicy(Section):
    """One supervision group: its children in start order and the Erlang/OTP policy.

    ``one_for_one`` restarts the crashed child, ``one_for_all`` every child of the group,
    ``rest_for_one`` the crashed child and every child listed after it. More than
    ``max_restarts`` restarts within ``period_s`` escalate: trading is HALTED.
    """

    name: str
    actors: list[str]
    strategy: Literal["one_for_one", "one_for_all", "rest_for_one"] = "one_for_one"
    max_restarts: NonNegInt = 3
    period_s: PosFloat = 30.0


class NodePolicy(Section):
    """How the launcher restarts a node process that died (intensity per node)."""

    restart: bool = True
    max_restarts: NonNegInt = 3
    period_s: PosFloat = 60.0
    #: a child node silent past ``supervision.node_heartbeat_timeout_ms``: "" follows
    #: ``supervision.on_hung`` ("replace" means "exit" for a process: it cannot be replaced
    #: from outside), "exit" SIGKILLs it (then restarted as above), "halt" halts trading,
    #: "report" only reports it (status, metrics, journal)
    on_hung: Literal["", "exit", "halt", "report"] = ""


class SupervisionConfig(Section):
    """Restart policies for actors (per group) and node processes."""

    enabled: bool = True
    groups: list[GroupPolicy] = []  #: actors in no group are one_for_one with the defaults
    #: this many handler errors of one actor within ``error_window_s`` count as a crash
    errors_to_crash: PosInt = 3
    error_window_s: PosFloat = 1.0
    heartbeat_ms: PosInt = 200  #: ping every host this often
    heartbeat_timeout_ms: PosInt = 1000  #: a host that does not answer in time is hung
    #: a hung host cannot be stopped from outside its thread: "exit" ends the node process (the
    #: launcher or systemd restarts it), "halt" only halts trading, "replace" abandons the stuck
    #: thread and rebuilds the host (a crash of its actors; docs/architecture.md, Supervision)
    on_hung: Literal["exit", "halt", "replace"] = "exit"
    #: a restarted actor's state is rebuilt from the journal (false: it starts from a fresh core)
    rebuild: bool = True
    #: a restarting host waits this long for its restart marker to reach the journal file
    rebuild_timeout_ms: PosInt = 2000
    #: every host writes a checkpoint of its cores into the journal this often, so a rebuild
    #: replays only what came after the last one (0: never; a rebuild replays from the start)
    checkpoint_interval_s: NonNegFloat = 300.0
    nodes: NodePolicy = NodePolicy()
    #: a host whose clock moved more than this between two of its wake-ups was frozen (SIGSTOP,
    #: a paused VM): its cores get a ``ClockJump`` before anything else (feeds resync, executors
    #: reconcile, strategies wait for fresh books); 0 = off
    freeze_detect_ms: NonNegInt = 1000
    #: every child node process tells the launcher it is alive this often
    node_heartbeat_ms: PosInt = 200
    #: a child node silent this long is ``hung`` (status, metrics, journal; ``nodes.on_hung``)
    node_heartbeat_timeout_ms: PosInt = 5000
    reconcile_timeout_ms: PosInt = 3000  #: a LegExecutor re-asks the venue after this


class AdminConfig(Section):
    """The admin socket: ZeroMQ ROUTER, CURVE, ZAP allowlist. Refuses to start without keys."""

    enabled: bool = False
    endpoint: str = "tcp://127.0.0.1:7301"  #: may contain ``{sock}``
    server_secret: str = ""  #: a ``.key_secret`` file from ``cmc admin keygen``
    allowlist: str = ""  #: a directory of authorised clients' ``.key`` public key files
    max_request_bytes: PosInt = 65536  #: larger requests get an error reply, nothing runs
    dedup_entries: PosInt = 4096  #: remembered request ids (a repeat is answered from here)
    timeout_ms: PosInt = 2000  #: each query to an actor is bounded by this


class MetricsConfig(Section):
    """Optional Prometheus endpoint (needs the ``prometheus-client`` package)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Port = 9464
    interval_ms: PosInt = 1000  #: how often the gauges are refreshed from the actors


def check_ops(supervision: SupervisionConfig, actors: list[str]) -> None:
    """Check that supervision groups name known actors, each at most once."""
    known = set(actors)
    seen: set[str] = set()
    for i, g in enumerate(supervision.groups):
        for a in g.actors:
            if a not in known:
                raise ConfigError(f"$.supervision.groups[{i}].actors: unknown actor {a!r}")
            if a in seen:
                raise ConfigError(f"$.supervision.groups[{i}].actors: {a!r} is in two groups")
            seen.add(a)


__all__ = [
    "AdminConfig",
    "GroupPolicy",
    "LaunchConfig",
    "MetricsConfig",
    "NodePolicy",
    "SupervisionConfig",
    "check_ops",
]
