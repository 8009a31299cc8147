"""Where a journal's files are and what they are called: segment names, the trading day that
rotates them, finding every segment of a journal, the files beside it.

Separate from the writer (``transports.journal.writer``, which re-exports these names) because
everything that only *reads* a run -- the reader, replay, audit, reports, checkpoint indexes --
needs the layout and none of the writing (group commit, rotation, recovery). Pure path logic
plus a directory listing; no journal is opened here.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path

_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()


def trading_day(ts_ns: int, day_roll_utc_s: int = 0) -> str:
    """Return the ISO date of the trading day ``ts_ns`` falls in."""
    days = (ts_ns // 1_000_000_000 - day_roll_utc_s) // 86_400
    return _dt.date.fromordinal(_EPOCH_ORDINAL + days).isoformat()


def segment_path(base: Path, n: int) -> Path:
    """Return the path of segment ``n`` of the journal whose segment 0 is ``base``."""
    return base if n == 0 else base.with_name(f"{base.stem}-{n}{base.suffix}")


def base_path(path: str | Path) -> Path:
    """Return segment 0's path for a run directory, a base path or any segment's path."""
    p = Path(path)
    if p.is_dir():
        return p / "journal.cmcj"
    m = re.fullmatch(r"(.+)-(\d+)(\.\w+)", p.name)
    if m and (p.parent / f"{m.group(1)}{m.group(3)}").exists():
        return p.parent / f"{m.group(1)}{m.group(3)}"
    return p


#: beside the journal: how the recording node wrapped its cores (``cmc launch`` writes it,
#: ``scripts.replay.core.recorded_wrap`` reads it)
CORES_FILE = "cores.json"


def checkpoint_index_path(path: str | Path) -> Path:
    """Return the checkpoint index beside the journal (``journal.ckpt``): one JSON line per
    CHECKPOINT record (group, segment, offset, index, prev hash, ts_ns). A hint for seeking,
    outside the hash chain: readers check the record it points at before using it."""
    return base_path(path).with_suffix(".ckpt")


def find_segments(path: str | Path) -> list[Path]:
    """Return the existing segment files in order (segment 0 first). A missing segment is not
    skipped silently: the reader finds the next file's header out of sequence."""
    base = base_path(path)
    pat = re.compile(re.escape(base.stem) + r"-(\d+)" + re.escape(base.suffix))
    numbered = sorted(
        int(m.group(1))
        for f in base.parent.glob(f"{base.stem}-*{base.suffix}")
        if (m := pat.fullmatch(f.name))
    )
    return ([base] if base.exists() else []) + [segment_path(base, n) for n in numbered]


def fsync_dir(path: Path) -> None:
    """fsync a directory: a file created (or renamed) in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "CORES_FILE",
    "base_path",
    "checkpoint_index_path",
    "find_segments",
    "fsync_dir",
    "segment_path",
    "trading_day",
]
