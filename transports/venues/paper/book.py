"""The source venue's book of one symbol, kept by the protocol's sequencing rules.

Pure logic, no sockets and no clock. ``SourceBook`` is what the engine's Feed and Book actors do
for one symbol, folded into one object (docs/venue-protocol.md section 6): deltas apply when
``seq == last + 1``; an older seq is a duplicate; a newer one is a gap, and a ``seq == 1`` after
``last > 1`` a sequence reset, both starting a resync (the delta is kept in the buffer); while
resyncing deltas are buffered and a snapshot is applied with the buffered deltas that follow it,
which must continue without a hole; a heartbeat whose ``seqs`` is ahead (a silent gap) or
back at 1 (a reset) starts a resync too. A book left crossed or locked by the source is not
trusted either: it resyncs.

Every change of a level is returned as a ``LevelChange`` (side, px, old qty, new qty), so the
paper matcher can move queue positions and the published book can be diffed level by level.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from transports.wire.venue_msgs import Delta, Level, Snapshot

MAX_BUFFER = 10_000  #: deltas kept while resyncing; past that the resync starts again


class SyncState(Enum):
    """Whether the book can be traded on."""

    RESYNCING = "resyncing"  #: waiting for a snapshot; levels are stale
    SYNCED = "synced"


class Outcome(Enum):
    """What a delta did to the book."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    GAP = "gap"  #: a resync started (gap, sequence reset or crossed book)
    BUFFERED = "buffered"


@dataclass(frozen=True, slots=True, order=True)
class LevelChange:
    """One level of the source book changed: ``side`` "B" (bids) or "S" (asks)."""

    side: str
    px: int
    old: int
    new: int


class SourceBook:
    """One symbol of the source venue: levels by side, the last applied seq, the sync state."""

    def __init__(self, sym: str) -> None:
        self.sym = sym
        self.state = SyncState.RESYNCING
        self.seq = 0  #: seq of the last delta applied (or contained in the last snapshot)
        self.ts = 0  #: source time of the last applied update
        self.levels: dict[str, dict[int, int]] = {"B": {}, "S": {}}
        self._buffer: list[Delta] = []
        self.resyncs = 0  #: resyncs started (gaps, resets, crossed books, staleness)
        self.duplicates = 0

    # --- views ----------------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """True when the book is current and may be traded on."""
        return self.state is SyncState.SYNCED

    def qty(self, side: str, px: int) -> int:
        """Lots the source shows at ``px`` on ``side`` (0 when there is no level)."""
        return self.levels[side].get(px, 0)

    def best(self, side: str) -> int | None:
        """Best price of ``side``; None when the side is empty."""
        lv = self.levels[side]
        if not lv:
            return None
        return max(lv) if side == "B" else min(lv)

    def sorted_levels(self, side: str) -> list[tuple[int, int]]:
        """The levels of ``side``, best first."""
        return sorted(self.levels[side].items(), reverse=(side == "B"))

    # --- inputs ---------------------------------------------------------------------------------

    def start_resync(self) -> None:
        """Stop trusting the book until a snapshot is applied (levels kept, unusable)."""
        if self.state is SyncState.SYNCED:
            self.resyncs += 1
        self.state = SyncState.RESYNCING
        self._buffer.clear()

    def on_delta(self, d: Delta) -> tuple[Outcome, list[LevelChange]]:
        """Apply, buffer or refuse one delta; the level changes it made (if applied)."""
        if self.state is SyncState.RESYNCING:
            if self._buffer and d.seq <= self._buffer[-1].seq:
                if d.seq != 1:
                    self.duplicates += 1
                    return Outcome.DUPLICATE, []
                self._buffer.clear()  # the source restarted meanwhile: only its new deltas count
            if len(self._buffer) >= MAX_BUFFER:
                self._buffer.clear()
            self._buffer.append(d)
            return Outcome.BUFFERED, []
        if d.seq == 1 and self.seq > 1:  # the source restarted: a reset, never a gap backwards
            self.start_resync()
            self._buffer.append(d)
            return Outcome.GAP, []
        if d.seq <= self.seq:
            self.duplicates += 1
            return Outcome.DUPLICATE, []
        if d.seq > self.seq + 1:
            self.start_resync()
            self._buffer.append(d)
            return Outcome.GAP, []
        changes = self._apply(d)
        if self._crossed():
            self.start_resync()
            return Outcome.GAP, changes
        return Outcome.APPLIED, changes

    def on_snapshot(self, s: Snapshot) -> list[LevelChange] | None:
        """Apply a snapshot while resyncing, with the buffered deltas that follow it.

        Returns the level changes against the levels held before (the book is SYNCED), or None
        when it was not applied: not resyncing, the buffer has a hole after it, or the result
        is crossed (the resync goes on; the caller asks again).
        """
        if self.state is not SyncState.RESYNCING:
            return None
        rest = [d for d in self._buffer if d.seq > s.seq]
        for i, d in enumerate(rest):
            if d.seq != s.seq + 1 + i:
                self._buffer.clear()
                return None
        old = {"B": dict(self.levels["B"]), "S": dict(self.levels["S"])}
        self.levels = {"B": _positive(s.b), "S": _positive(s.a)}
        self.seq, self.ts = s.seq, s.ts
        for d in rest:
            self._apply(d)
        self._buffer.clear()
        if self._crossed():
            return None
        self.state = SyncState.SYNCED
        changes: list[LevelChange] = []
        for side in ("B", "S"):
            before, after = old[side], self.levels[side]
            for px in before.keys() | after.keys():
                o, n = before.get(px, 0), after.get(px, 0)
                if o != n:
                    changes.append(LevelChange(side, px, o, n))
        return changes

    def on_heartbeat_seq(self, seq: int) -> bool:
        """A heartbeat says the source's last seq is ``seq``; True when a resync started (a
        silent gap, or a reset back to 1)."""
        if self.state is not SyncState.SYNCED:
            return False
        if seq > self.seq or (seq < self.seq and seq <= 1):
            self.start_resync()
            return True
        return False

    # --- internals ------------------------------------------------------------------------------

    def _apply(self, d: Delta) -> list[LevelChange]:
        changes: list[LevelChange] = []
        for side, lvls in (("B", d.b), ("S", d.a)):
            book = self.levels[side]
            for px, q in lvls:
                old = book.get(px, 0)
                if q > 0:
                    book[px] = q
                else:
                    book.pop(px, None)
                new = max(q, 0)
                if old != new:
                    changes.append(LevelChange(side, px, old, new))
        self.seq, self.ts = d.seq, d.ts
        return changes

    def _crossed(self) -> bool:
        b, a = self.best("B"), self.best("S")
        return b is not None and a is not None and b >= a


def _positive(levels: list[Level]) -> dict[int, int]:
    return {px: q for px, q in levels if q > 0}


__all__ = ["MAX_BUFFER", "LevelChange", "Outcome", "SourceBook", "SyncState"]
