"""The journal's shell: the file I/O that ``JournalCore`` (``actors.journal``) decides.

The core says what to append (``@append``: a ``JournalBatch`` or an ``AppendCheckpoint``) and
when to make it durable (``@fsync``); this shell does both through a ``JournalWriter``
(``transports.journal.writer``) in the journal host's thread, right after the core's handler
returns, and hands the rest of the core's output (its ``@timer``) back to the host. The shell's
own commands never reach the host: a journal write is not itself journaled.

With a hot standby (``[ha]``), ``replicate(rtype, body, ts_ns)`` publishes each record written
(batches and checkpoints, the body bytes exactly as the file holds them) to the standby, which
appends them to its own journal and replays them (``scripts.launch.ha.standby``).

**A journal that cannot write** (its fdatasync or a write failed: a full disk, EIO) is failed for
good (``JournalSyncError``: a retried fsync can "succeed" after the kernel dropped the pages).
The shell then halts trading (``Halt("journal_failed: ...")`` to risk, once: new orders stop, the
executors cancel what works, closes through an operator's flatten still go) and drops every later
record, counted (``dropped_records``) and logged once. Before, the error escaped the journal's
host: the host died on every batch and the supervisor rebuilt it ~25 times a second, for good.
Restarting the node (on a mended disk) recovers the journal to its last whole record; the
venues' reconciliation at start recovers what the lost records said.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from loguru import logger

from actors.core import Out
from actors.journal import APPEND, FSYNC, AppendCheckpoint, Fsync, JournalCore
from actors.runtime.shells.shell import Shell
from transports.journal.format import T_BATCH, T_CHECKPOINT, encode_checkpoint
from transports.journal.writer import JournalOptions, JournalSyncError, JournalWriter
from transports.wire.messages import Halt, JournalBatch, Msg


def open_writer(
    sink: BinaryIO | JournalWriter, options: JournalOptions | None = None
) -> JournalWriter:
    """Return a writer for what a node hands the journal.

    A ``JournalWriter`` is used as is. A file opened on a path becomes a ``JournalWriter`` on
    that path (recovering it first; run id = the directory's name, config hash = that of
    ``config.json`` beside it). Any other stream gets one unrotated, unsynced segment.
    """
    if isinstance(sink, JournalWriter):
        return sink
    name = getattr(sink, "name", None)
    if isinstance(name, str) and not isinstance(sink, io.BytesIO) and Path(name).is_file():
        sink.flush()
        return JournalWriter.open(name, options=options)
    return JournalWriter.on_stream(sink)


class JournalShell(Shell):
    """Wraps a ``JournalCore`` and owns its ``JournalWriter``.

    The writer outlives the core: a journal actor restarted with a fresh core keeps writing
    the same chain. Whoever opened the writer closes it (``Node.stop``); ``close`` seals it.
    """

    core: JournalCore

    def __init__(self, core: JournalCore, writer: JournalWriter, risk: str = "") -> None:
        super().__init__(core)
        self.writer = writer
        #: publishes a record to the standby (``[ha]``); None: no replication
        self.replicate: Callable[[int, bytes, int], None] | None = None
        self.risk = risk  #: who halts trading when the journal fails ("" = nobody: a tool)
        self.dropped_records = 0  #: records refused after the writer failed

    @classmethod
    def build(cls, name: str, sink: BinaryIO | JournalWriter,
              options: JournalOptions | None = None, risk: str = "") -> JournalShell:
        """Return a shell on ``sink`` (see ``open_writer``) whose core commits by the writer's
        own ``fsync_ms`` / ``fsync_records``; ``risk``: the actor its failure halts."""
        w = open_writer(sink, options)
        return cls(JournalCore(name, w.opts.fsync_ms, w.opts.fsync_records), w, risk)

    def handle(self, msg: Msg, now_ns: int) -> Out:
        """Deliver ``msg`` to the core, do the writes and syncs it asks for (in order), and
        return the rest of its output. A failed writer halts trading once and drops the rest
        (the module docstring); any other writer error propagates (the host counts it)."""
        out = self.core.handle(msg, now_ns)
        if self.writer.failed is not None:
            self.dropped_records += sum(1 for dest, _m in out if dest == APPEND)
            return [(d, m) for d, m in out if d != APPEND and d != FSYNC]
        try:
            return self._apply(out)
        except JournalSyncError as exc:
            self.dropped_records += 1
            logger.error("journal: {}; trading halts, later records are dropped (counted); "
                         "restart the node once the disk is mended", exc)
            rest = [(d, m) for d, m in out if d != APPEND and d != FSYNC]
            if self.risk:
                rest.append((self.risk, Halt(f"journal_failed: {exc}"[:300])))
            return rest

    def _apply(self, out: Out) -> Out:
        rest: Out = []
        w = self.writer
        for dest, m in out:
            if dest == APPEND:
                if type(m) is JournalBatch:
                    body = w.append_batch(m.ts_ns, m.group, m.items)
                    if self.replicate is not None:
                        self.replicate(T_BATCH, body, m.ts_ns)
                else:
                    assert isinstance(m, AppendCheckpoint)
                    w.append_checkpoint(m.ts_ns, m.group, m.meta, m.blob)
                    if self.replicate is not None:
                        # checkpoints are rare: encoded again rather than threaded out
                        self.replicate(T_CHECKPOINT,
                                       encode_checkpoint(m.ts_ns, m.group, m.meta, m.blob),
                                       m.ts_ns)
            elif dest == FSYNC:
                assert isinstance(m, Fsync)
                w.sync(m.now_ns)
            else:
                rest.append((dest, m))
        return rest

    def rotate(self, now_ns: int) -> dict[str, Any]:
        """Seal the current segment and start the next (admin ``rotate-journal``); run it in
        the journal host's thread (``Host.call``). Returns the new segment and its path."""
        path = self.writer.rotate("admin", now_ns)
        return {"segment": self.writer.segment, "path": str(path),
                "first_record": self.writer.index}

    def close(self, now_ns: int) -> None:
        """Seal, sync and close the writer (idempotent)."""
        self.writer.close(now_ns)

    def snapshot(self) -> dict[str, Any]:
        """Return the core's counts and the writer's file state."""
        return {**self.core.snapshot(), **self.writer.stats(),
                "dropped_records": self.dropped_records}


__all__ = ["JournalShell", "open_writer"]
