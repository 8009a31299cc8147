"""Journal format v1 (see docs/journal-format.md): pure encoding and checking, no file I/O.

A journal file is a header followed by framed, typed records::

    header  = "CMCJ" | u16 version | u16 kind | u32 meta_len | u32 crc32(meta) | meta (msgpack)
    record  = u32 len | u32 ~len | u32 crc32(type | prev | body) | u8 type | 16 B prev | body

``prev`` is the blake2b-16 hash of the previous frame (the header for a file's first record), so
changing any byte anywhere breaks the chain at the next frame even when the edited frame's CRC
was recomputed. A rotated file's header carries the last frame hash of the file before it in
``meta.prev_hash``, so the chain runs across files. All integers are little-endian.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import msgspec

from transports.errors import CmcError
from transports.wire.codec import Codec, encode
from transports.wire.messages import AnyMsg
from transports.wire.venue_msgs import MdMessage, OeReply, OeRequest, RefReply, RefRequest

MAGIC = b"CMCJ"
VERSION = 2  #: written; version 1 (no CHECKPOINT records) is still read
READ_VERSIONS = frozenset({1, 2})
KIND_JOURNAL = 1  #: the journal: one BATCH record per host dispatch cycle
KIND_INTENTS = 2  #: an order-intent WAL: one INTENT record per order, fdatasync'ed

T_BATCH = 1  #: body msgpack ``[ts_ns, group, [[src, dest, msg], ...]]``
T_INTENT = 2  #: body msgpack ``[ts_ns, account, NewOrder]``
T_SEAL = 3  #: body msgpack map ``{"reason", "records", "ts_ns"}``: a file ends (rotation, close)
T_CHECKPOINT = 4  #: body msgpack ``[ts_ns, group, [meta, blob]]``: a group's cores (version 2)
RECORD_TYPES = frozenset({T_BATCH, T_INTENT, T_SEAL, T_CHECKPOINT})
#: the source of the one-item ``JournalBatch`` that carries a host's checkpoint to the journal
CHECKPOINT_SRC = "@checkpoint"

FILE_HDR = struct.Struct("<4sHHII")
REC_HDR = struct.Struct("<IIIB16s")
MAX_META = 1 << 16
MAX_RECORD = 64 << 20
HASH_BYTES = 16
ZERO_HASH = bytes(HASH_BYTES)


class FormatError(CmcError):
    """A file is not a journal of a version this code reads."""


class FileMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What a file header says about the file."""

    kind: int = KIND_JOURNAL
    run_id: str = ""
    config_hash: str = ""
    segment: int = 0  #: 0, 1, 2, ... across rotations
    prev_hash: bytes = ZERO_HASH  #: the last frame hash of the previous segment
    first_index: int = 0  #: the journal-wide index of this file's first record
    created_ns: int = 0
    day: str = ""  #: trading day this file was opened for (rotation by day)
    node: str = ""


def frame_hash(frame: bytes | memoryview) -> bytes:
    """Return the chain hash of one frame (header or record): blake2b, 16 bytes."""
    return hashlib.blake2b(frame, digest_size=HASH_BYTES).digest()


def config_hash(config_json: bytes) -> str:
    """Return the hex blake2b-16 of a run's ``config.json`` bytes."""
    return hashlib.blake2b(config_json, digest_size=HASH_BYTES).hexdigest()


def encode_header(meta: FileMeta) -> bytes:
    """Return the header bytes of a file."""
    body = msgspec.msgpack.encode(meta)
    return FILE_HDR.pack(MAGIC, VERSION, meta.kind, len(body), zlib.crc32(body)) + body


def decode_header(buf: bytes | memoryview) -> tuple[FileMeta, int]:
    """Return ``(meta, header length)``; raise ``FormatError`` if this is not a v1 file."""
    if len(buf) < FILE_HDR.size:
        raise FormatError(f"file too short for a header ({len(buf)} bytes)")
    magic, version, kind, n, crc = FILE_HDR.unpack_from(buf, 0)
    if magic != MAGIC:
        raise FormatError(f"not a cmc journal (magic {bytes(magic)!r}, want {MAGIC!r})")
    if version not in READ_VERSIONS:
        raise FormatError(f"journal version {version}; this build reads versions "
                          f"{sorted(READ_VERSIONS)}")
    if n > MAX_META or FILE_HDR.size + n > len(buf):
        raise FormatError(f"header metadata of {n} bytes is truncated")
    body = bytes(buf[FILE_HDR.size : FILE_HDR.size + n])
    if zlib.crc32(body) != crc:
        raise FormatError("header CRC mismatch")
    try:
        meta = msgspec.msgpack.decode(body, type=FileMeta)
    except msgspec.DecodeError as exc:
        raise FormatError(f"header metadata unreadable: {exc}") from None
    if meta.kind != kind:
        raise FormatError("header kind disagrees with its metadata")
    return meta, FILE_HDR.size + n


def header_version(buf: bytes | memoryview) -> int:
    """Return the format version a file header says (0 if there is no header)."""
    if len(buf) < FILE_HDR.size:
        return 0
    return int(FILE_HDR.unpack_from(buf, 0)[1])


def encode_record(rtype: int, prev: bytes, body: bytes) -> bytes:
    """Return one framed record."""
    n = len(body)
    crc = zlib.crc32(body, zlib.crc32(bytes((rtype,)) + prev))
    return REC_HDR.pack(n, n ^ 0xFFFFFFFF, crc, rtype, prev) + body


class BadRecord(msgspec.Struct, frozen=True):
    """Where and why a scan stopped before the end of the data."""

    offset: int
    index: int  #: journal-wide index of the record that failed
    reason: str
    torn: bool  #: True: an unfinished write at the end (safe to cut); False: damage or tampering
    zeros: bool = False  #: the rest of the data is zero bytes (preallocated space)


#: where a record's CRC starts: it covers ``type | prev | body``, which follow the length, its
#: complement and the CRC itself contiguously (one ``crc32`` call over the frame's tail)
CRC_FROM = REC_HDR.size - 1 - HASH_BYTES
#: records ``FrameScanner`` checks per ``scan`` call when iterated
SCAN_CHUNK = 512


class FrameScanner:
    """Iterate the records of one file's bytes, checking length, CRC, type and chain.

    Yields ``(offset, rtype, body, hash)``. After the loop, ``end`` is the offset after the last
    good record, ``last_hash`` its hash, ``index`` the next record index and ``bad`` why the
    scan stopped early (None at a clean end). Records are checked ``SCAN_CHUNK`` at a time
    (``scan``): while iterating, those attributes may already stand after records not yet
    yielded; a record is yielded only once it and every record before it passed.
    """

    def __init__(self, buf: bytes | memoryview, start: int, prev: bytes, first_index: int) -> None:
        self.buf = memoryview(buf)
        self.end = start
        self.last_hash = prev
        self.index = first_index
        self.bad: BadRecord | None = None

    def _rest_is_zero(self, off: int) -> bool:
        rest = self.buf[off:]
        return not any(rest)

    def _fail(self, off: int, reason: str, torn: bool) -> None:
        zeros = self._rest_is_zero(off)
        self.bad = BadRecord(off, self.index, reason, torn or zeros, zeros)

    def scan(self, limit: int) -> list[tuple[int, int, memoryview, bytes]]:
        """Check up to ``limit`` more records and return them, ``(offset, rtype, body,
        hash)`` each; fewer at the end of the data, or at the first bad record (``bad`` then
        says why). One call a chunk keeps the per-record work in one Python frame: a replay
        reads every record of a journal (~2 µs a record one by one)."""
        buf, size, hdr = self.buf, len(self.buf), REC_HDR.size
        unpack, crc32, blake2b = REC_HDR.unpack_from, zlib.crc32, hashlib.blake2b
        types = RECORD_TYPES
        off, last = self.end, self.last_hash
        out: list[tuple[int, int, memoryview, bytes]] = []
        append = out.append
        stop = self.index + limit
        index = self.index
        while off < size and index < stop:
            if size - off < hdr:
                break
            n, inv, crc, rtype, prev = unpack(buf, off)
            end = off + hdr + n
            # every check of ``_check`` at once; which one failed, and how, is ``_check``'s
            if (n ^ 0xFFFFFFFF != inv or n > MAX_RECORD or end > size
                    or crc32(buf[off + CRC_FROM : end]) != crc or rtype not in types
                    or prev != last):
                break
            last = blake2b(buf[off:end], digest_size=HASH_BYTES).digest()
            append((off, rtype, buf[off + hdr : end], last))
            off = end
            index += 1
        self.end, self.last_hash, self.index = off, last, index
        if off < size and index < stop:
            self._check(off)
        return out

    def _check(self, off: int) -> None:
        """Set ``bad`` for the record at ``off``, which ``scan`` refused: the first check it
        fails, in this order."""
        buf, size, hdr = self.buf, len(self.buf), REC_HDR.size
        if size - off < hdr:
            self._fail(off, "incomplete record header", torn=True)
            return
        n, inv, crc, rtype, prev = REC_HDR.unpack_from(buf, off)
        if n ^ 0xFFFFFFFF != inv:
            self._fail(off, "bad length field", torn=False)
            return
        if n > MAX_RECORD:
            self._fail(off, f"record length {n} exceeds {MAX_RECORD}", torn=False)
            return
        end = off + hdr + n
        if end > size:
            self._fail(off, f"record of {n} bytes extends past the end of the file", True)
            return
        if zlib.crc32(buf[off + CRC_FROM : end]) != crc:
            self._fail(off, "CRC mismatch", torn=self._rest_is_zero(end))
            return
        if rtype not in RECORD_TYPES:
            self._fail(off, f"unknown record type {rtype}", torn=False)
            return
        if prev != self.last_hash:
            self._fail(
                off,
                "hash chain broken: prev hash does not match the previous "
                "frame (a record before it was edited, removed or inserted)",
                torn=False,
            )
            return
        raise AssertionError(f"record at {off} passes every check scan refused it for")

    def __iter__(self) -> Iterator[tuple[int, int, memoryview, bytes]]:
        while True:
            chunk = self.scan(SCAN_CHUNK)
            yield from chunk
            if len(chunk) < SCAN_CHUNK:
                return


# --- batch bodies ---------------------------------------------------------------------------------

_batch_raw = msgspec.msgpack.Decoder(tuple[int, str, list[tuple[str, str, msgspec.Raw]]])
_batch_plain = msgspec.msgpack.Decoder()


def encode_batch(ts_ns: int, group: str, items: list[tuple[str, str, Any]]) -> bytes:
    """Return the body of a BATCH record (one host dispatch cycle)."""
    return encode((ts_ns, group, items))


def decode_batch_raw(body: bytes | memoryview) -> tuple[int, str, list[tuple[str, str, Any]]]:
    """Return ``(ts_ns, group, [(src, dest, msgspec.Raw)])``: messages left undecoded."""
    return _batch_raw.decode(body)  # type: ignore[no-any-return]


def decode_batch_plain(body: bytes | memoryview) -> tuple[int, str, list[Any]]:
    """Return ``(ts_ns, group, [[src, dest, msg]])`` with messages as plain lists/maps."""
    ts, group, items = _batch_plain.decode(body)
    return ts, group, items


_internal: Codec[Any] = Codec(AnyMsg)
_by_src: dict[str, Codec[Any]] = {
    "@md": Codec(MdMessage),
    "@ref": Codec(RefReply),
    "@oe": Codec(OeReply),
}
_by_sent: dict[str, Codec[Any]] = {"oe": Codec(OeRequest), "ref": Codec(RefRequest)}


def is_map(raw: bytes | memoryview | msgspec.Raw) -> bool:
    """True when a MessagePack value is a map (a venue frame) rather than an array."""
    b = memoryview(raw)[0]
    return 0x80 <= b <= 0x8F or b in (0xDE, 0xDF)


def decode_item(src: str, dest: str, raw: bytes | memoryview | msgspec.Raw) -> Any:
    """Decode one journaled message to its typed struct, by where it came from or went.

    Venue frames (maps tagged ``t``) decode with the union of the socket they travelled on
    (``status`` means different things on md and oe); internal messages are tagged arrays.
    """
    if not is_map(raw):
        return _internal.decode(raw)
    codec = _by_src.get(src)
    if codec is None:
        _, _, sock = dest.partition("@")
        codec = _by_sent.get(sock)
    if codec is None:
        raise FormatError(f"cannot tell the type of a venue frame from {src!r} to {dest!r}")
    return codec.decode(raw)


_peek = msgspec.msgpack.Decoder(tuple[int, str, msgspec.Raw])
_ckpt = msgspec.msgpack.Decoder(tuple[int, str, tuple[dict[str, Any], bytes]])


def peek_group(body: bytes | memoryview) -> tuple[int, str]:
    """Return ``(ts_ns, group)`` of a BATCH or CHECKPOINT body without decoding its items."""
    ts, group, _rest = _peek.decode(body)
    return ts, group


def encode_checkpoint(ts_ns: int, group: str, meta: dict[str, Any], blob: bytes) -> bytes:
    """Return the body of a CHECKPOINT record: ``[ts_ns, group, [meta, blob]]``."""
    return msgspec.msgpack.encode((ts_ns, group, (meta, blob)))


def decode_checkpoint(body: bytes | memoryview) -> tuple[int, str, dict[str, Any], bytes]:
    """Return ``(ts_ns, group, meta, blob)`` of a CHECKPOINT body."""
    ts, group, (meta, blob) = _ckpt.decode(body)
    return ts, group, meta, blob


def seal_body(reason: str, records: int, ts_ns: int) -> bytes:
    """Return the body of a SEAL record."""
    return msgspec.msgpack.encode({"reason": reason, "records": records, "ts_ns": ts_ns})


__all__ = [
    "CHECKPOINT_SRC",
    "CRC_FROM",
    "FILE_HDR",
    "KIND_INTENTS",
    "KIND_JOURNAL",
    "MAGIC",
    "READ_VERSIONS",
    "REC_HDR",
    "SCAN_CHUNK",
    "T_BATCH",
    "T_CHECKPOINT",
    "T_INTENT",
    "T_SEAL",
    "VERSION",
    "ZERO_HASH",
    "BadRecord",
    "FileMeta",
    "FormatError",
    "FrameScanner",
    "config_hash",
    "decode_batch_plain",
    "decode_batch_raw",
    "decode_checkpoint",
    "decode_header",
    "decode_item",
    "encode_batch",
    "encode_checkpoint",
    "encode_header",
    "encode_record",
    "frame_hash",
    "header_version",
    "is_map",
    "peek_group",
    "seal_body",
]
