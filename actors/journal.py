"""Journal actor: the append-only, hash-chained record of every inbound event and decision.

In: ``JournalBatch`` from every host (copies of each message delivered to an actor and each
frame sent to a venue, in delivery order), any other message addressed to ``journal`` (e.g. a
``Decision``; written as a one-item batch of group ``""``), and its own ``Timer``. Out: at most
a ``SetTimer`` bounding how long a record may stay unsynced.

Format v1 (docs/journal-format.md, ``transports.journal.format``): a file header (magic,
version, run id, config hash), then one BATCH record per host dispatch cycle, each framed with
its length, a CRC32 and the hash of the previous frame; a host's checkpoint (a one-item batch
from ``@checkpoint``, ``actors.runtime.checkpoint``) becomes a CHECKPOINT record. Group commit: one
``write`` per batch, ``fdatasync`` once ``fsync_records`` are unsynced or ``fsync_ms`` after the
oldest unsynced one (a timer covers a quiet journal). Rotation by size and trading day
(``JournalOptions``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from actors.core import Core, Out
from actors.runtime.checkpoint import CHECKPOINT_SRC
from transports.journal.format import T_BATCH, decode_batch_plain
from transports.journal.reader import JournalReader
from transports.journal.writer import JournalOptions, JournalWriter
from transports.wire.messages import JournalBatch, SetTimer, Timer


def open_writer(
    sink: BinaryIO | JournalWriter, options: JournalOptions | None = None
) -> JournalWriter:
    """Return a writer for what a node hands the journal actor.

    A ``JournalWriter`` is used as is. A file opened on a path (what ``Node`` passes today)
    becomes a ``JournalWriter`` on that path (recovering it first; run id = the directory's
    name, config hash = that of ``config.json`` beside it). Any other stream gets one
    unrotated, unsynced segment.
    """
    if isinstance(sink, JournalWriter):
        return sink
    name = getattr(sink, "name", None)
    if isinstance(name, str) and not isinstance(sink, io.BytesIO) and Path(name).is_file():
        sink.flush()
        return JournalWriter.open(name, options=options)
    return JournalWriter.on_stream(sink)


class JournalCore(Core):
    """Writes batches through a ``JournalWriter`` and decides when to fdatasync."""

    def __init__(
        self, name: str, sink: BinaryIO | JournalWriter, options: JournalOptions | None = None
    ) -> None:
        super().__init__(name)
        self.writer = open_writer(sink, options)
        self._timer_armed = False
        self.records = 0  #: messages written (items of every batch)
        self.bytes = 0

    def _commit(self, now_ns: int) -> Out:
        w = self.writer
        self.records = w.items
        self.bytes = w.bytes
        if w.due(now_ns):
            w.sync(now_ns)
            return []
        if w.unsynced and not self._timer_armed:
            self._timer_armed = True
            return [("@timer", SetTimer("fsync", now_ns + w.opts.fsync_ms * 1_000_000))]
        return []

    def on_journal_batch(self, b: JournalBatch, now_ns: int) -> Out:
        items = b.items
        if len(items) == 1 and items[0][0] == CHECKPOINT_SRC:
            # a host's checkpoint (actors.runtime.checkpoint): its own record type, not a batch
            meta, blob = items[0][2]
            self.writer.append_checkpoint(b.ts_ns, b.group, dict(meta), bytes(blob))
            return self._commit(now_ns)
        self.writer.append_batch(b.ts_ns, b.group, items)
        return self._commit(now_ns)

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        if t.key == "fsync":
            self._timer_armed = False
            self.writer.sync(now_ns)
        return []

    def handle(self, msg: Any, now_ns: int) -> Out:
        if isinstance(msg, JournalBatch):
            return self.on_journal_batch(msg, now_ns)
        if isinstance(msg, Timer):
            return self.on_timer(msg, now_ns)
        self.writer.append_batch(now_ns, "", [("", self.name, msg)])
        return self._commit(now_ns)

    def on_stop(self, now_ns: int) -> Out:
        self.writer.close(now_ns)
        return []

    def rotate(self, now_ns: int) -> dict[str, Any]:
        """Seal the current segment and start the next (admin ``rotate-journal``); run it in
        the journal's own thread (``Host.call``). Returns the new segment and its path."""
        path = self.writer.rotate("admin", now_ns)
        return {"segment": self.writer.segment, "path": str(path),
                "first_record": self.writer.index}

    def snapshot(self) -> dict[str, Any]:
        """Return the record and byte counts and the writer's state."""
        return {"records": self.writer.items, "bytes": self.writer.bytes, **self.writer.stats()}


def read_journal(path: str | Path) -> Iterator[tuple[int, str, str, Any]]:
    """Yield ``(ts_ns, group, dest, message)`` per journaled message; messages are plain
    lists/maps (internal ones tagged arrays ``[TypeName, field, ...]``, venue frames maps with
    key ``t``). Reads every segment; a torn tail ends the iteration quietly; a damaged or edited
    record raises ``JournalCorrupt``."""
    for frame in JournalReader(path):
        if frame.rtype != T_BATCH:
            continue
        ts, group, items = decode_batch_plain(frame.body)
        for _src, dest, msg in items:
            yield ts, group, dest, msg


__all__ = ["JournalCore", "open_writer", "read_journal"]
