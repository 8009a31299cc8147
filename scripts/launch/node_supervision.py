"""The launcher's supervision of its child node processes (a helper object ``Launcher`` holds):
a node that exits is restarted within its ``[supervision.nodes]`` intensity (past it, trading
is HALTED); a node whose heartbeats stop is ``hung`` and gets ``on_hung`` (halt, exit -- then
the exit path restarts it -- or only the alarm); a restarted node gets the live parameters set
since.

Separate from ``scripts.launch.launcher`` because it is the one part that acts while the
launch runs, on events (an exit code, a silence), with its own policy knobs; the launcher keeps
the start, the watch loop that calls in here, the status file and the orderly shutdown. What
it works on is handed to it when the launcher has started its nodes: the child processes and
their restart budgets, the heartbeat watch and receiver, the cluster (to halt and to give a
restarted node its parameters), the launcher's current config (an admin ``set`` replaces it)
and the launcher's journal and status-file writer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from loguru import logger

from actors.runtime.node import topology
from actors.runtime.node_runtime import safe
from actors.runtime.supervisor import EPOCH_STRIDE
from scripts.launch.beats import BeatReceiver, NodeWatch
from scripts.launch.procs import Child, RestartBudget
from transports.clock import LiveClock
from transports.config.engine import AppConfig, live_params
from transports.config.ops import SupervisionConfig
from transports.errors import CmcError
from transports.wire.messages import Halt


def node_on_hung(sup: SupervisionConfig) -> str:
    """What a silent child node gets: ``supervision.nodes.on_hung``, else the hosts'
    ``supervision.on_hung`` (``replace`` is ``exit`` for a process)."""
    policy = sup.nodes.on_hung or sup.on_hung
    return "exit" if policy == "replace" else policy


class NodeSupervision:
    """Restarts and hung-node policy for the launcher's child node processes."""

    def __init__(self, *, config: Callable[[], AppConfig], clock: LiveClock, cluster: Any,
                 children: dict[str, Child], budgets: dict[str, RestartBudget],
                 node_watch: NodeWatch, beats: BeatReceiver | None,
                 journal: Callable[[str, dict[str, Any]], None],
                 write_status: Callable[[], None]) -> None:
        """``config()`` is the launcher's config as it is now (an admin ``set`` replaces it);
        ``children``/``budgets`` by node name are the launcher's, updated in place here;
        ``beats`` is None for a single-node launch (no child sends heartbeats);
        ``journal(what, detail)`` journals an event, ``write_status()`` rewrites the status
        file."""
        self.config = config
        self.clock = clock
        self.cluster = cluster
        self.children = children
        self.budgets = budgets
        self.node_watch = node_watch
        self.beats = beats
        self.journal = journal
        self.write_status = write_status

    def check_beats(self) -> None:
        """Read the child nodes' heartbeats; act on a node gone silent or answering again."""
        if self.beats is None:
            return
        now = self.clock.mono_ns()
        for node, pid in self.beats.drain():
            self.node_watch.beat(node, pid, now)
        for node, what, silent_ns in self.node_watch.check(now):
            child = self.children.get(node)
            if child is None or child.exited() is not None:
                continue  # an exit is the exit path's to handle
            if what == "hung":
                self._node_hung(node, child, silent_ns)
            elif child.state == "hung":
                child.state = "running"
                logger.warning("node {} answers again after {:.1f} s", node, silent_ns / 1e9)
                self.journal("node_answered", {"node": node, "pid": child.pid})
                self.write_status()

    def _node_hung(self, name: str, child: Child, silent_ns: int) -> None:
        policy = node_on_hung(self.config().supervision)
        logger.error("node {} (pid {}) silent for {:.1f} s: hung; on_hung {}", name, child.pid,
                     silent_ns / 1e9, policy)
        child.state = "hung"
        self.journal("node_hung", {"node": name, "pid": child.pid,
                                   "silent_ms": silent_ns // 1_000_000, "on_hung": policy})
        self.write_status()
        if policy == "halt":
            reason = f"launcher: node {name} hung (silent {silent_ns // 1_000_000} ms)"
            safe(lambda: self.cluster.send(topology(self.config()).risk, Halt(reason)))
        elif policy == "exit" and child.proc is not None:
            # SIGKILL: a stopped process cannot act on SIGTERM; the exit path restarts it
            child.proc.kill()

    def node_died(self, name: str, child: Child, code: int) -> None:
        """Node ``name``'s process exited with ``code``: restart it within its budget (with
        the live parameters and a new epoch), else mark it failed and halt trading."""
        logger.error("node {} exited with code {}", name, code)
        self.journal("node_exit", {"node": name, "code": code})
        child.stop(1.0)
        if not self.budgets[name].allow(self.clock.mono_ns()):
            child.state = "failed"
            reason = f"launcher: node {name} died (exit {code}) past its restart intensity"
            safe(lambda: self.cluster.send(topology(self.config()).risk, Halt(reason)))
            self.write_status()
            logger.critical(reason)
            return
        child.restarts += 1
        cfg = self.config()
        epoch = cfg.run.epoch + child.restarts * EPOCH_STRIDE
        params = live_params(cfg)  # what `cmc admin set` changed so far
        child.start(["--epoch", str(epoch), "--params", json.dumps(params)])
        try:
            child.wait_ready(cfg.launch.ready_timeout_s)
        except CmcError as exc:
            logger.error("restart of node {} failed: {}", name, exc)
            return  # seen as dead again on the next pass
        self.node_watch.started(name, child.pid, self.clock.mono_ns())
        self._set_since(name, params)
        self.journal("node_restart", {"node": name, "epoch": epoch, "restarts": child.restarts})
        self.write_status()

    def _set_since(self, node: str, params: dict[str, dict[str, Any]]) -> None:
        """Give ``node`` what was set after it was started with ``params`` (an admin ``set``
        that came while it was starting could not reach it)."""
        for section, values in live_params(self.config()).items():
            changed = {k: v for k, v in values.items() if params[section].get(k) != v}
            if changed:
                safe(lambda s=section, c=changed: self.cluster.on_node(
                    node, "set_params", {"section": s, "values": c}))


__all__ = ["NodeSupervision", "node_on_hung"]
