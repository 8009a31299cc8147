"""Journal actor: the append-only, hash-chained record of every inbound event and decision.

In: ``JournalBatch`` from every host (copies of each message delivered to an actor and each
frame sent to a venue, in delivery order), any other message addressed to ``journal`` (e.g. a
``Decision``; written as a one-item batch of group ``""``), and its own ``Timer``. Out: what to
write and when to make it durable, addressed to its shell (``actors.runtime.shells.journal_shell``,
which does the file I/O through ``transports.journal.writer``), and at most one ``SetTimer``
bounding how long a record may stay unsynced.

Format v1 (docs/journal-format.md, ``transports.journal.format``): a file header (magic,
version, run id, config hash), then one BATCH record per host dispatch cycle, each framed with
its length, a CRC32 and the hash of the previous frame; a host's checkpoint (a one-item batch
from ``@checkpoint``, ``actors.runtime.checkpoint``) becomes a CHECKPOINT record. Group commit:
one record per batch, ``fdatasync`` once ``fsync_records`` are unsynced or ``fsync_ms`` after the
oldest unsynced one (a timer covers a quiet journal). Rotation by size and trading day is the
writer's (``JournalOptions``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from actors.core import Core, Out
from transports.journal.format import CHECKPOINT_SRC
from transports.journal.reader import read_journal
from transports.wire.messages import JournalBatch, SetTimer, Timer

#: the shell's keys: ``@append`` a ``JournalBatch`` or an ``AppendCheckpoint``, ``@fsync``
APPEND = "@append"
FSYNC = "@fsync"
FSYNC_TIMER = "fsync"


class AppendCheckpoint(msgspec.Struct, frozen=True):
    """Write one CHECKPOINT record: a host's pickled cores (``actors.runtime.checkpoint``)."""

    ts_ns: int
    group: str
    meta: dict[str, Any]
    blob: bytes


class Fsync(msgspec.Struct, frozen=True):
    """Make every record written so far durable (the group commit's one ``fdatasync``)."""

    now_ns: int


class JournalCore(Core):
    """Decides what the journal writes and when it fdatasyncs; its shell does the I/O.

    ``fsync_ms`` / ``fsync_records`` are the group commit's bounds (``JournalOptions``; the
    shell builds the core from its writer's options). A sync the writer made on its own (when it
    rotates) is not seen here: the next ``Fsync`` then finds nothing to sync, a no-op.
    """

    def __init__(self, name: str, fsync_ms: int = 50, fsync_records: int = 512) -> None:
        super().__init__(name)
        self.fsync_ns = fsync_ms * 1_000_000
        self.fsync_records = fsync_records
        self._timer_armed = False
        self.unsynced = 0  #: records written since the last Fsync
        self.first_unsynced_ns = 0  #: the time stamp of the oldest of them
        self.records = 0  #: messages written (items of every batch)
        self.batches = 0  #: BATCH records written
        self.checkpoints = 0  #: CHECKPOINT records written
        self.syncs = 0  #: Fsyncs asked for

    def _append(self, rec: JournalBatch | AppendCheckpoint, now_ns: int) -> Out:
        if not self.unsynced:
            self.first_unsynced_ns = rec.ts_ns
        self.unsynced += 1
        out: Out = [(APPEND, rec)]
        if (self.unsynced >= self.fsync_records
                or now_ns - self.first_unsynced_ns >= self.fsync_ns):
            out.append(self._sync(now_ns))
        elif not self._timer_armed:
            self._timer_armed = True
            out.append(("@timer", SetTimer(FSYNC_TIMER, now_ns + self.fsync_ns)))
        return out

    def _sync(self, now_ns: int) -> tuple[str, Fsync]:
        self.unsynced = 0
        self.syncs += 1
        return (FSYNC, Fsync(now_ns))

    def on_journal_batch(self, b: JournalBatch, now_ns: int) -> Out:
        items = b.items
        if len(items) == 1 and items[0][0] == CHECKPOINT_SRC:
            # a host's checkpoint (actors.runtime.checkpoint): its own record type, not a batch
            meta, blob = items[0][2]
            self.checkpoints += 1
            return self._append(AppendCheckpoint(b.ts_ns, b.group, dict(meta), bytes(blob)),
                                now_ns)
        self.records += len(items)
        self.batches += 1
        return self._append(b, now_ns)

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        if t.key != FSYNC_TIMER:
            return []
        self._timer_armed = False
        return [self._sync(now_ns)] if self.unsynced else []

    def handle(self, msg: Any, now_ns: int) -> Out:
        if isinstance(msg, JournalBatch):
            return self.on_journal_batch(msg, now_ns)
        if isinstance(msg, Timer):
            return self.on_timer(msg, now_ns)
        # anything else addressed to the journal: a one-item batch of group ""
        return self.on_journal_batch(JournalBatch("", now_ns, [("", self.name, msg)]), now_ns)

    def snapshot(self) -> dict[str, Any]:
        """Return what was written (the shell's ``snapshot`` adds the writer's file state)."""
        return {"records": self.records, "batches": self.batches,
                "checkpoints": self.checkpoints, "unsynced": self.unsynced,
                "syncs_asked": self.syncs}


__all__ = ["APPEND", "FSYNC", "AppendCheckpoint", "Fsync", "JournalCore", "read_journal"]
