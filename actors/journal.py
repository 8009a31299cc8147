"""Journal actor: the append-only record of every inbound event and every decision.

In: ``JournalBatch`` from every host (copies of each message delivered to an actor and each
frame sent to a venue, in delivery order), plus any message addressed to ``journal``.
Out: nothing; it writes frames to a file.

Frame: ``u32 length | u32 crc32(payload) | payload``, little-endian. The payload is MessagePack
``[ts_ns, group, [[src, dest, message], ...]]`` (see ``JournalBatch`` for ``src``): one frame per host dispatch cycle, encoded in one
call, which is what keeps journaling cheap (~0.3 µs a message instead of ~2 µs). ``read_journal``
yields one record per message and stops at a torn tail.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from actors.base import Core, Out
from transports.codec import encode
from transports.messages import JournalBatch

_HDR = struct.Struct("<II")


class JournalCore(Core):
    """Frames records into an injected binary sink (a file, or BytesIO in tests)."""

    def __init__(self, name: str, sink: BinaryIO) -> None:
        super().__init__(name)
        self.sink = sink
        self.records = 0
        self.bytes = 0

    def _write(self, ts_ns: int, group: str, items: list[tuple[str, str, Any]]) -> None:
        payload = encode((ts_ns, group, items))
        self.sink.write(_HDR.pack(len(payload), zlib.crc32(payload)))
        self.sink.write(payload)
        self.records += len(items)
        self.bytes += len(payload) + _HDR.size

    def on_journal_batch(self, b: JournalBatch, now_ns: int) -> Out:
        self._write(b.ts_ns, b.group, b.items)
        return []

    def handle(self, msg: Any, now_ns: int) -> Out:
        if isinstance(msg, JournalBatch):
            return self.on_journal_batch(msg, now_ns)
        self._write(now_ns, "", [("", self.name, msg)])
        return []

    def on_stop(self, now_ns: int) -> Out:
        self.sink.flush()
        return []

    def snapshot(self) -> dict[str, Any]:
        """Return the record and byte counts."""
        return {"records": self.records, "bytes": self.bytes}


def read_journal(path: str | Path) -> Iterator[tuple[int, str, str, Any]]:
    """Yield ``(ts_ns, group, dest, message)`` records; messages come back as plain lists/maps.

    Internal messages are tagged arrays (``[TypeName, field, ...]``), venue frames are maps with
    key ``t``. Reading stops at the first frame that is short or fails its CRC (a torn tail).
    """
    dec = msgspec.msgpack.Decoder()
    with open(path, "rb") as f:
        while True:
            hdr = f.read(_HDR.size)
            if len(hdr) < _HDR.size:
                return
            n, crc = _HDR.unpack(hdr)
            payload = f.read(n)
            if len(payload) < n or zlib.crc32(payload) != crc:
                return
            ts, group, items = dec.decode(payload)
            for _src, dest, msg in items:
                yield ts, group, dest, msg
