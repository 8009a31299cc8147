"""A hot standby (``cmc launch CONF --role standby``): follow the primary's journal, keep the
same cores current, take over when the lease expires.

The standby finds the start of the primary's run in the stream (its run marker,
``scripts.launch.ha.runtime.run_subject``) and follows the records from there (``Follower``, in
order, a deposed primary's late records dropped by their lower epoch). Each record lands in the
standby's own run directory exactly as the primary wrote it: journal batches and checkpoints
in ``journal.cmcj`` (a ``JournalWriter``: same bodies, the standby's own chain), order intents
in the node's intent WAL. A thread replays the journal as it grows through the **same cores and
the same dispatcher** as ``cmc replay`` and a restarted node
(``actors.runtime.rebuild.rebuild.Rebuild`` per group, ``advance`` every ``ADVANCE_S``), so spread
positions, working orders and risk are current when it takes over.

Take-over (``wait``): once the lease is ours, the records still in flight are drained (bounded),
the follower stops, the files are closed, and the warm rebuilds go to the launcher, which starts
the node on this run directory as a restarted node starts (``NodeRuntime(warm=...)``): cores
moved to a new epoch above every client id the replicated intents used, executors handed the
intents the journal never saw sent (they query them by client id), positions reconciled with
the venues, then trading -- fenced with the lease's new revision.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import msgspec
from loguru import logger

from actors.runtime.node_runtime import Warm
from actors.runtime.rebuild.rebuild import Rebuild, RebuildUnavailable
from actors.runtime.supervisor import with_epoch, wrap_leg
from scripts.launch.ha.runtime import HaRuntime, run_subject
from transports.clock import Clock
from transports.config.engine import AppConfig
from transports.errors import CmcError
from transports.journal.format import T_BATCH, T_CHECKPOINT, config_hash, peek_group
from transports.journal.intent_wal import IntentWal
from transports.journal.writer import JournalWriter

ADVANCE_S = 0.01  #: how often the standby's cores read the journal's new records
DRAIN_S = 0.2  #: at take-over, how long the records still in flight may take to arrive
JOURNAL = "journal"
WAL_CHUNK_BYTES = 1 << 16


class StandbyStopped(CmcError):
    """The standby was asked to stop before it took over."""


class RunFiles:
    """A run directory written from replicated records: ``config.json``, the journal (same
    record bodies as the primary's, this directory's own chain) and the node's intent WAL."""

    def __init__(self, run_dir: Path, cfg_json: bytes, node: str) -> None:
        (run_dir / "config.json").write_bytes(cfg_json)
        self.journal_path = run_dir / "journal.cmcj"
        self.writer = JournalWriter.open(self.journal_path, run_id=run_dir.name,
                                         cfg_hash=config_hash(cfg_json), node=node)
        # small pre-allocation steps: a reader scans the allocated tail (``read_intents``)
        self.wal = IntentWal(run_dir / f"intents-{node}.cmcw", run_id=run_dir.name, node=node,
                             chunk_bytes=WAL_CHUNK_BYTES)
        self.wal.durable = False  # what counts is the primary's acknowledged stream
        self.records = self.intents = 0

    def apply(self, rec: Any) -> None:
        """Write one replicated record where the primary wrote it."""
        if rec.kind == "j":
            rtype, body = rec.data[0], rec.data[1:]
            ts = peek_group(body)[0] if rtype == T_BATCH else rec.ts_ns
            if rtype in (T_BATCH, T_CHECKPOINT):
                self.writer.append(rtype, body, ts)
                self.records += 1
        elif rec.kind == "intent":
            ts, account, order = msgspec.msgpack.decode(rec.data)
            self.wal.write(ts, account, order)
            self.intents += 1

    def close(self, now_ns: int) -> None:
        """Seal the journal and close the WAL."""
        self.writer.close(now_ns)
        self.wal.close()


class Standby:
    """Follows one primary's run into ``run_dir`` and keeps its cores current."""

    def __init__(self, cfg: AppConfig, ha: HaRuntime, run_dir: Path, clock: Clock,
                 node: str) -> None:
        from scripts.replay.core import build_cores

        self.cfg, self.ha, self.run_dir, self.clock, self.node = cfg, ha, run_dir, clock, node
        self.files = RunFiles(run_dir, msgspec.json.encode(cfg), node)
        self.journal_path = self.files.journal_path
        self.writer, self.wal = self.files.writer, self.files.wal
        assert cfg.placement is not None
        self.groups = {g.name: [a for a in g.actors if a != JOURNAL]
                       for g in cfg.placement.groups}

        def build(actor: str, epoch: int) -> Any:
            c = with_epoch(cfg, epoch)
            return wrap_leg(actor, build_cores(c, [actor])[actor], c)

        self.build = build
        self.rebuilds: dict[str, Rebuild] = {}
        self.follower: Any = None
        self.run_marker: dict[str, Any] = {}
        self.records = 0  #: records applied to the files
        self.intents = 0
        self.last_seq = 0  #: the primary's record sequence of the last record applied
        self.last_ts_ns = 0
        self.new_run = False  #: a second run marker: the primary started a new run
        self.error = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: the other holder's last renewal (its wall clock, ns) seen while we were standby
        self.last_renewal_ns = 0

    # --- following -------------------------------------------------------------------------------

    def find_run(self, stop: threading.Event, timeout_s: float | None = None) -> dict[str, Any]:
        """Wait for the primary's run marker (a standby may start first); return it."""
        ha = self.ha.ha_cfg
        js_timeout = ha.op_timeout_ms / 1000
        deadline = None if timeout_s is None else self.clock.mono_ns() + int(timeout_s * 1e9)

        async def _last() -> dict[str, Any] | None:
            import nats

            from transports.ha.replication import ensure_stream

            js = self.ha.node.js()
            await ensure_stream(js, ha.stream, ha.replicas)
            try:
                msg = await js.get_msg(ha.stream, subject=run_subject(ha.stream))
            except nats.js.errors.NotFoundError:
                return None
            return dict(json.loads(msg.data))

        while True:
            try:
                marker = self.ha.node.call(_last(), js_timeout + 0.5)
            except CmcError as exc:
                logger.warning("standby: run marker not readable yet: {}", exc)
                marker = None
            if marker:
                return marker
            if stop.wait(0.1):
                raise StandbyStopped("stopped while waiting for a primary's run")
            if deadline is not None and self.clock.mono_ns() > deadline:
                raise CmcError(f"standby: no primary run in stream {ha.stream} "
                               f"within {timeout_s} s")

    def start(self, stop: threading.Event) -> None:
        """Find the run, start following it and replaying it."""
        self.run_marker = self.find_run(stop)
        logger.info("standby: following run {} of {} from stream seq {}",
                    self.run_marker.get("run"), self.run_marker.get("holder"),
                    self.run_marker.get("stream_seq"))
        self.follower = self.ha.replication.follow(self._on_record,
                                                   int(self.run_marker["stream_seq"]))
        self._thread = threading.Thread(target=self._advance_loop, name="cmc-standby",
                                        daemon=True)
        self._thread.start()

    def _on_record(self, rec: Any) -> None:
        """One replicated record (the HA loop thread): into the files, in order."""
        with self._lock:
            if rec.kind == "run" and self.records:
                self.new_run = True
            self.files.apply(rec)
            self.intents = self.files.intents
            self.records += 1
            self.last_seq, self.last_ts_ns = rec.seq, rec.ts_ns

    def _advance_loop(self) -> None:
        from actors.runtime.gc_policy import GC_POLICY

        # the replayed state is frozen out of full collections as the hosts' is: the node
        # that takes over starts without walking it (``GcPolicy.start``)
        GC_POLICY.start(self.clock.now_ns())
        while not self._stop.wait(ADVANCE_S):
            GC_POLICY.due(self.clock.now_ns())
            self._note_renewal()
            try:
                self.advance()
            except CmcError as exc:
                self.error = str(exc)
                logger.error("standby: replay stopped: {}", exc)
                return

    def _note_renewal(self) -> None:
        lease = self.ha.lease.lease
        v = lease.seen_value if lease is not None else None
        if v is not None and v.holder != self.ha.holder:
            self.last_renewal_ns = max(self.last_renewal_ns, v.renewed_ns)

    def advance(self) -> None:
        """Replay what the journal holds now through each group's cores."""
        for group, actors in self.groups.items():
            if not actors:
                continue
            rb = self.rebuilds.get(group)
            if rb is None:
                try:
                    rb = Rebuild(self.journal_path, group, actors, self.build,
                                 self.cfg.run.epoch)
                except RebuildUnavailable:
                    continue
                self.rebuilds[group] = rb
            rb.advance()

    def lag(self) -> dict[str, Any]:
        """Records behind the stream and ms since the last applied record was published."""
        f = self.follower
        if f is None:
            return {"lag_records": 0, "lag_ms": 0.0, "applied": 0}
        behind, ms = f.lag()
        return {"lag_records": behind, "lag_ms": round(ms, 1), "applied": self.records,
                "stale": f.stale, "gaps": f.gaps, "error": f.error or self.error,
                "replayed": {g: rb.items for g, rb in self.rebuilds.items()}}

    # --- take-over -------------------------------------------------------------------------------

    def wait(self, stop: threading.Event, on_status: Any = None) -> bool:
        """Until the lease is ours (True) or ``stop`` (False); ``on_status()`` now and then."""
        n = 0
        while not stop.is_set():
            if self.ha.lease.wait_holding(0.005):
                return True
            self._note_renewal()
            n += 1
            if on_status is not None and n % 100 == 0:
                on_status()
            if self.new_run:
                raise CmcError("standby: the primary started a new run; restart the standby")
        return False

    def take_over(self) -> Warm:
        """Drain (bounded), stop following; return the warm rebuilds and the open files."""
        self._drain()
        if self.follower is not None:
            self.ha.replication.unfollow(self.follower)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        with self._lock:  # the follower is gone: nothing writes them from here on
            self.wal.durable = True
            self.wal.sync()  # durable before the node's executors build on them
            return Warm(dict(self.rebuilds), self.writer, self.wal)

    def _drain(self) -> None:
        """Wait until every record the stream holds for this run is applied (bounded)."""
        f = self.follower
        if f is None:
            return

        async def _behind() -> int:
            return (await f.lag_from_server(DRAIN_S))[0]

        deadline = self.clock.mono_ns() + int(DRAIN_S * 1e9)
        waiter = threading.Event()
        while self.clock.mono_ns() < deadline:
            try:
                if self.ha.node.call(_behind(), DRAIN_S) == 0:
                    return
            except CmcError:
                return  # NATS is not answering: take over with what arrived
            waiter.wait(0.002)
        logger.warning("standby: took over {} record(s) behind the stream", f.lag()[0])

    def stop(self) -> None:
        """Stop following and close the files (a standby stopped without taking over)."""
        self._stop.set()
        if self.follower is not None:
            try:
                self.ha.replication.unfollow(self.follower)
            except CmcError:
                pass
        with self._lock:
            self.writer.close(self.clock.now_ns())
            self.wal.close()


__all__ = ["RunFiles", "Standby", "StandbyStopped"]
