"""A launch's hot-standby side (``[ha]``): the lease, the fencing token on orders, the journal
replication, and what a deposed primary does.

One ``HaRuntime`` per launcher process: one NATS connection (``transports.ha.service.HaNode``)
shared by the lease (``LeaseService``) and the replication (``ReplicationService``).

As **primary** it is attached to the running node (``attach``):

- every leg shell's ``fence`` is ``LeaseService.fence`` (the lease's revision is the protocol's
  ``epoch`` on every ``new`` and ``cancel``; while the lease is not ours nothing leaves);
- every leg shell's ``replicate`` publishes the cycle's order intents before the orders leave:
  acknowledged by JetStream first with ``replicate_intents = "sync"``, queued with ``"async"``;
- the journal shell's ``replicate`` queues every record it writes (batches, checkpoints);
- a watchdog thread looks at the lease every few ms: once it is not held (a renewal refused,
  its local deadline passed: frozen, cut off from NATS), the process is replaced at once by a
  standby (``on_deposed = "standby"``: ``os.execv`` of the same command with ``--role standby``,
  so every socket closes with the old image and nothing of the deposed engine can reach a
  venue) or exits with ``EXIT_DEPOSED`` (``"exit"``). No flatten, no cancel: the positions and
  orders belong to the new primary.

A fresh primary marks the start of its run in the stream (``RUN_SUBJECT``), so a standby knows
where the run it must follow begins.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from loguru import logger

from transports.clock import Clock
from transports.config.engine import AppConfig
from transports.errors import CmcError, ConfigError
from transports.journal.intent_wal import IntentNotDurable

#: exit code of a deposed primary with ``on_deposed = "exit"``
EXIT_DEPOSED = 3
#: how often the primary's watchdog looks at the lease (a frozen process that wakes sees its
#: lost lease within this; its sockets close before ZeroMQ's 100 ms reconnect interval)
WATCH_S = 0.005


#: ``CMC_TEST_CUT_AFTER`` value of ``CutHook`` (the only point it knows)
CUT_AFTER_BOTH_LEGS = "both_legs"


class CutHook:
    """A test and drill hook: a primary behaves as cut off from NATS at an exact instant --
    right after the intents of both legs of one combo were acknowledged by the stream, so both
    orders leave while that cycle's journal batch (replicated after the orders left) never
    reaches the standby. From then on nothing more is replicated, intents fail
    (``IntentNotDurable``) and the lease is not renewed (not released either): it expires,
    the watchdog deposes this process and the standby takes over without the decision.

    Read once from the environment by a primary's ``HaRuntime``: ``CMC_TEST_CUT_AFTER=both_legs``;
    ``CMC_TEST_CUT_ARM=PATH`` fires only once PATH exists (the drill creates it at its fault
    instant) and only if ``PATH.fired`` does not (created when it fires). Never set in
    production: it exists to prove a take-over forgets nothing."""

    def __init__(self, arm: str) -> None:
        self.arm = arm
        self.fired = arm + ".fired"
        self._legs: dict[str, set[str]] = {}  #: combo id -> legs whose first order was acked

    @classmethod
    def from_env(cls) -> CutHook | None:
        """The hook the environment asks for, or None."""
        if os.environ.get("CMC_TEST_CUT_AFTER") != CUT_AFTER_BOTH_LEGS:
            return None
        arm = os.environ.get("CMC_TEST_CUT_ARM", "")
        if not arm:
            raise ConfigError("CMC_TEST_CUT_AFTER needs CMC_TEST_CUT_ARM (a file path)")
        return cls(arm)

    def due(self, records: list[bytes]) -> bool:
        """After ``records`` (one cycle's intents) were acknowledged: True once armed and both
        legs' first orders (``epoch.combo.leg.0``) of one combo are among the acknowledged."""
        import msgspec

        if not os.path.exists(self.arm) or os.path.exists(self.fired):
            return False
        for rec in records:
            _ts, _account, order = msgspec.msgpack.decode(rec)
            parts = str(order.get("cl", "")).split(".")
            if len(parts) == 4 and parts[3] == "0":
                self._legs.setdefault(parts[1], set()).add(parts[2])
        combo = next((c for c, legs in self._legs.items() if {"0", "1"} <= legs), None)
        if combo is None:
            return False
        with open(self.fired, "w") as f:
            f.write(f"{combo}\n")
        return True


def run_subject(stream: str) -> str:
    """The subject of a stream's run markers (``{"stream_seq": first record of the run}``)."""
    return f"{stream}.run"


def check_ha_placement(cfg: AppConfig) -> None:
    """A hot standby replicates the journal and the intents of the launcher's own node: every
    actor must be placed on it (the default single-process placement)."""
    pl = cfg.placement
    if cfg.ha is not None and pl is not None and len(pl.nodes) > 1:
        raise ConfigError(f"[ha] with a {len(pl.nodes)}-node [placement]: a hot standby "
                          "replicates one node; place every group on one node "
                          f"(nodes: {[n.name for n in pl.nodes]})")


class HaRuntime:
    """The lease and the replication of one launcher process (either role)."""

    def __init__(self, cfg: AppConfig, role: str, clock: Clock, run_id: str = "") -> None:
        if cfg.ha is None:
            raise ConfigError("[ha] is missing: a hot standby needs NATS servers and a lease")
        from transports.ha.replication_service import ReplicationService
        from transports.ha.service import HaNode, LeaseService

        check_ha_placement(cfg)
        self.cfg = cfg
        self.ha_cfg = ha = msgspec_replace_role(cfg.ha, role)
        self.role = role
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{run_id or 'run'}"
        self.node = HaNode(ha, name=f"cmc-{role}-{os.getpid()}")
        self.lease = LeaseService(ha, holder=self.holder, node=socket.gethostname(),
                                  clock=clock, ha_node=self.node)
        self.replication = ReplicationService(self.node, clock=clock, pack=True)
        self.sync_intents = ha.replicate_intents == "sync"
        from transports.hdr import LatencyHist

        #: what replicating a cycle's intents costs the order path (publish to ack when sync)
        self.intent_cost = LatencyHist()
        self._watch: threading.Thread | None = None
        self._stop = threading.Event()
        self.deposed = ""  #: why this primary lost the lease ('' = it did not)
        self.replicated = 0  #: records handed to the replication
        self.intents_replicated = 0
        #: the take-over (or fresh start) numbers of this primary (``scripts.launch.ha.launch``)
        self.last_event: dict[str, Any] = {}
        #: test/drill only (``CutHook``): cut off from NATS once it fired
        self.cut_hook = CutHook.from_env() if role == "primary" else None
        self.cut = False

    def start(self) -> HaRuntime:
        """Connect, open the bucket and the stream, start campaigning (bounded)."""
        self.node.start()
        try:
            self.lease.start()
            self.replication.start()
        except BaseException:
            self.stop()
            raise
        return self

    # --- primary ---------------------------------------------------------------------------------

    def become_primary(self, next_seq: int, fresh_run: bool, run_id: str,
                       cfg_json: bytes = b"") -> None:
        """Publish from now on as the holder of the lease's epoch, continuing the stream's
        record sequence at ``next_seq``; a fresh run first marks its start."""
        epoch = self.lease.fence()
        rep = self.replication
        assert rep.rep is not None

        def _set() -> None:
            assert rep.rep is not None
            rep.rep.epoch = epoch
            rep.rep.next_seq = next_seq

        self.node.thread.call_soon(_set)
        if fresh_run:  # the config travels with the run: the stream alone replays it
            data = json.dumps({"run": run_id, "holder": self.holder,
                               "config": cfg_json.decode()}).encode()
            stream_seq = rep.publish_sync(data, "run")
            self._publish_marker(stream_seq, run_id)

    def _publish_marker(self, stream_seq: int, run_id: str) -> None:
        ha = self.ha_cfg
        body = json.dumps({"stream_seq": stream_seq, "run": run_id,
                           "holder": self.holder}).encode()

        async def _pub() -> None:
            await self.node.js().publish(run_subject(ha.stream), body,
                                         timeout=ha.op_timeout_ms / 1000)

        self.node.call(_pub(), ha.op_timeout_ms / 1000 + 0.25)

    def attach(self, shells: dict[str, Any]) -> int:
        """Give every leg shell the fence and the intent replication, the journal shell the
        record replication; return how many leg shells got them."""
        from actors.runtime.shells.journal_shell import JournalShell
        from actors.runtime.shells.venue_shell import LegShell

        n = 0
        for shell in shells.values():
            if isinstance(shell, LegShell):
                shell.fence = self.lease.fence
                shell.replicate = self.replicate_intents
                n += 1
            elif isinstance(shell, JournalShell):
                shell.replicate = self.replicate_record
        return n

    def replicate_intents(self, records: list[bytes]) -> None:
        """Publish one cycle's intent records: acknowledged before returning when sync."""
        from transports.ha.replication import ReplicationError

        if self.cut:
            raise IntentNotDurable("intent not replicated to the standby: cut off from NATS "
                                   "(CMC_TEST_CUT_AFTER)")
        self.intents_replicated += len(records)
        t0 = self.clock.mono_ns()
        if not self.sync_intents:
            for r in records:
                self.replication.publish_async(r, "intent")
            self.intent_cost.record(self.clock.mono_ns() - t0)
            if self.cut_hook is not None and self.cut_hook.due(records):
                self._cut()  # queued, not acknowledged: they may still reach the stream
            return
        try:
            for r in records[:-1]:
                self.replication.publish_async(r, "intent")
            self.replication.publish_sync(records[-1], "intent")  # after the queue: all acked
        except ReplicationError as exc:
            raise IntentNotDurable(f"intent not replicated to the standby: {exc}") from None
        self.intent_cost.record(self.clock.mono_ns() - t0)
        if self.cut_hook is not None and self.cut_hook.due(records):
            self._cut()

    def _cut(self) -> None:
        """``CutHook`` fired: replicate nothing more and stop renewing the lease (no release),
        as a primary whose network to NATS just broke."""
        self.cut = True
        logger.critical("ha: CMC_TEST_CUT_AFTER fired: behaving as cut off from NATS")
        task = self.lease._task
        if task is not None:
            self.node.thread.loop.call_soon_threadsafe(task.cancel)

    def replicate_record(self, rtype: int, body: bytes, ts_ns: int) -> None:
        """Queue one journal record for the standby (pipelined; never blocks the journal)."""
        if self.cut or not self.lease.holding:
            return  # a deposed primary's late records: the stream is the new primary's now
        self.replicated += 1
        self.replication.publish_async(rtype.to_bytes(1, "big") + body, "j")

    def watch(self, on_lost: Callable[[str], None]) -> None:
        """Start the watchdog: ``on_lost(reason)`` once the lease is no longer held."""
        def run() -> None:
            while not self._stop.wait(WATCH_S):
                if not self.lease.holding:
                    reason = self.lease.deposed_reason or "lease not held"
                    lease = self.lease.lease
                    if lease is not None and lease.deposed_reason:
                        reason = lease.deposed_reason
                    self.deposed = reason
                    on_lost(reason)
                    return

        self._watch = threading.Thread(target=run, name="cmc-ha-watch", daemon=True)
        self._watch.start()

    def status(self) -> dict[str, Any]:
        """Role, lease holder, epoch and replication counts for ``status`` and ``cmc top``."""
        st = self.lease.status()
        v = self.lease.lease.seen_value if self.lease.lease is not None else None
        return {"role": "primary" if st.holding else "standby", "holding": st.holding,
                "holder": v.holder if v else "", "holder_node": v.node if v else "",
                "epoch": st.epoch, "revision": st.revision, "me": self.holder,
                "connected": st.connected, "remaining_ms": round(st.remaining_ms, 1),
                "renew_failures": st.renew_failures, "deposed": self.deposed,
                "replicated": self.replicated, "intents_replicated": self.intents_replicated,
                "replicate_intents": self.ha_cfg.replicate_intents,
                "intent_cost_us": self.intent_cost.summary_us((50, 99)),
                # a primary's lag: records queued or in flight, not yet acknowledged by NATS
                "lag_records": self.replication_pending(), "lag_ms": 0.0,
                **({"takeover": self.last_event} if self.last_event else {})}

    def replication_pending(self) -> int:
        """Records queued for the standby or published and not yet acknowledged."""
        rep = self.replication.rep
        return len(self.replication._q) + (rep.pending if rep is not None else 0)

    def stop(self, release: bool = True) -> None:
        """Flush what is queued (bounded), give the lease up (``release``), disconnect."""
        self._stop.set()
        if self.lease.holding:
            try:
                self.replication.flush(1.0)
            except CmcError as exc:
                logger.warning("ha: replication not flushed at stop: {}", exc)
        try:
            self.lease.stop(release=release)
        finally:
            self.node.stop()


def msgspec_replace_role(ha: Any, role: str) -> Any:
    """``ha`` with ``role`` (the command line's ``--role`` wins over the config's)."""
    import msgspec

    if role not in ("primary", "standby", "auto"):
        raise ConfigError(f"--role: primary, standby or auto, got {role!r}")
    return msgspec.structs.replace(ha, role=role)


def standby_argv(argv: list[str]) -> list[str]:
    """The command line of this launch as a standby (``--role standby``, no ``--run-dir``)."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--role",):
            skip = True
            continue
        if a.startswith("--role="):
            continue
        out.append(a)
    return [*out, "--role", "standby"]


def replace_with_standby(reason: str) -> None:
    """Replace this process by a standby of the same launch (``os.execv``): every socket of the
    deposed engine closes with the old image. Never returns."""
    argv = standby_argv(list(sys.argv))
    logger.critical("deposed ({}): this engine stops trading and becomes a standby: {}",
                    reason, " ".join(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "scripts.cli", *argv[1:]])


__all__ = ["CUT_AFTER_BOTH_LEGS", "EXIT_DEPOSED", "CutHook", "HaRuntime", "check_ha_placement",
           "replace_with_standby", "run_subject", "standby_argv"]
