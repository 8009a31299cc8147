"""``FrameScanner`` checks records a chunk at a time (``scan``); it must accept and refuse
exactly what the format's record-by-record rule does: the same records, and the same first bad
record (offset, index, reason, torn) for any damaged byte or cut."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path
from typing import Any

from transports.journal.format import (
    MAX_RECORD,
    REC_HDR,
    RECORD_TYPES,
    BadRecord,
    FrameScanner,
    decode_header,
    frame_hash,
)
from transports.journal.writer import JournalOptions, JournalWriter
from transports.wire.messages import Halt

T0 = 1_700_000_000 * 1_000_000_000


def _reference(buf: bytes, start: int, prev: bytes, index: int) -> dict[str, Any]:
    """The format's rule, one record at a time (the scanner before it read chunks)."""
    hdr, off, size, out = REC_HDR.size, start, len(buf), []

    def bad(reason: str, torn: bool) -> dict[str, Any]:
        zeros = not any(buf[off:])
        return {"records": out, "end": off, "last_hash": prev, "index": index,
                "bad": BadRecord(off, index, reason, torn or zeros, zeros)}

    while off < size:
        if size - off < hdr:
            return bad("incomplete record header", True)
        n, inv, crc, rtype, p = REC_HDR.unpack_from(buf, off)
        if n ^ 0xFFFFFFFF != inv:
            return bad("bad length field", False)
        if n > MAX_RECORD:
            return bad(f"record length {n} exceeds {MAX_RECORD}", False)
        end = off + hdr + n
        if end > size:
            return bad(f"record of {n} bytes extends past the end of the file", True)
        body = buf[off + hdr : end]
        if zlib.crc32(body, zlib.crc32(bytes((rtype,)) + p)) != crc:
            return bad("CRC mismatch", not any(buf[end:]))
        if rtype not in RECORD_TYPES:
            return bad(f"unknown record type {rtype}", False)
        if p != prev:
            return bad("hash chain broken: prev hash does not match the previous frame (a "
                       "record before it was edited, removed or inserted)", False)
        prev = hashlib.blake2b(buf[off:end], digest_size=16).digest()
        out.append((off, rtype, body, prev))
        off, index = end, index + 1
    return {"records": out, "end": off, "last_hash": prev, "index": index, "bad": None}


def _scanned(buf: bytes, start: int, prev: bytes, chunk: int | None) -> dict[str, Any]:
    sc = FrameScanner(buf, start, prev, 7)
    if chunk is None:
        got = list(sc)
    else:
        got = []
        while part := sc.scan(chunk):
            got += part
            if len(part) < chunk:
                break
    return {"records": [(o, t, bytes(b), h) for o, t, b, h in got], "end": sc.end,
            "last_hash": sc.last_hash, "index": sc.index, "bad": sc.bad}


def _reframe(data: bytes, off: int, rtype: int | None = None, prev: bytes | None = None,
             body_xor: int = 0) -> bytes:
    """``data`` with the record at ``off`` changed and its CRC recomputed to match."""
    n, inv, _crc, t, p = REC_HDR.unpack_from(data, off)
    t, p = t if rtype is None else rtype, p if prev is None else prev
    body = bytearray(data[off + REC_HDR.size : off + REC_HDR.size + n])
    body[-1] ^= body_xor
    crc = zlib.crc32(bytes(body), zlib.crc32(bytes((t,)) + p))
    rec = REC_HDR.pack(n, inv, crc, t, p) + bytes(body)
    return data[:off] + rec + data[off + len(rec):]


def _journal(tmp_path: Path) -> bytes:
    w = JournalWriter.open(tmp_path / "journal.cmcj", run_id="r", cfg_hash="c",
                           options=JournalOptions())
    for i in range(6):
        w.append_batch(T0 + i, "hot", [("@group", "a", Halt("x" * i))])
    w.close()  # a SEAL record ends it
    return (tmp_path / "journal.cmcj").read_bytes()


def test_every_damaged_byte_and_every_cut_is_refused_where_the_rule_refuses_it(
        tmp_path: Path) -> None:
    data = _journal(tmp_path)
    _meta, hlen = decode_header(data)
    prev = frame_hash(data[:hlen])
    clean = _reference(data, hlen, prev, 7)
    assert len(clean["records"]) == 7 and clean["end"] == len(data) and clean["bad"] is None
    bounds = {o for o, *_ in clean["records"]} | {len(data)}
    flips = []
    for pos in range(hlen, len(data)):
        flipped = bytearray(data)
        flipped[pos] ^= 0x41
        flips.append(bytes(flipped))
    cuts = [data[:cut] for cut in range(hlen, len(data))]
    padded = data + bytes(40)  # preallocated zeros after the last record
    # edits with their CRC recomputed: an unknown type, with and without a wrong prev; a body
    # edit (the chain breaks at the next record)
    o = clean["records"][2][0]
    flips += [_reframe(data, o, rtype=9), _reframe(data, o, rtype=9, prev=bytes(16)),
              _reframe(data, o, body_xor=1)]
    for buf in [data, padded, *flips, *cuts]:
        want = _reference(buf, hlen, prev, 7)
        # every damaged byte is refused; a cut only between records is a clean end
        damaged = buf in flips or buf is padded or (buf in cuts and len(buf) not in bounds)
        assert (want["bad"] is not None) == damaged
        for chunk in (None, 1, 2, 3, 512):
            assert _scanned(buf, hlen, prev, chunk) == want, (chunk, len(buf))
