"""Following the source gateway: its market data into the source books, and their health.

The paper gateway (``gateway.py``) owns the sockets and the loop; this is what it does with
what the source sends. A delta goes into its ``book.SourceBook`` by the protocol's sequencing
rules and, once applied, into the venue (resting orders it reaches fill) and out as the
published book's changes (``flush``); a gap, a heartbeat whose seq is ahead, or a frame that
does not decode puts the book back to resync, and its snapshot is asked for at once and then
every ``snapshot_retry_ms`` until the reply makes it current. The source's ``status`` goes
into the venue's session and, with ``trade`` and ``mark``, is passed on (``publish``). The
source is alive while its heartbeats come: after ``source_stale_ms`` without one every book is
resynced and nothing is asked for until it beats again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import zmq
from loguru import logger

from transports.config.gateways import PaperVenueConfig
from transports.errors import CodecError
from transports.venues.paper.book import Outcome, SourceBook
from transports.venues.paper.source import REF_CODEC
from transports.venues.paper.venue import PaperVenue
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import (
    Delta,
    Error,
    Heartbeat,
    Mark,
    MdMessage,
    MdStatus,
    Snapshot,
    SnapshotReq,
    Trade,
)

_MD: Codec[Any] = Codec(MdMessage)


class SourceLink:
    """The source books of one paper venue and the source's liveness (module docstring).

    ``src_ref`` is the DEALER to the source's ref socket (snapshot requests go out on it);
    ``flush(ts)`` sends the venue's reports and the published book's changes, ``publish(sym,
    msg)`` sends one md message on the paper venue's own md socket."""

    def __init__(self, name: str, pcfg: PaperVenueConfig, books: dict[str, SourceBook],
                 venue: PaperVenue, src_ref: zmq.Socket[Any], flush: Callable[[int], None],
                 publish: Callable[[str, msgspec.Struct], None]) -> None:
        self.name, self.pcfg, self.books, self.venue = name, pcfg, books, venue
        self.src_ref, self.flush, self.publish = src_ref, flush, publish
        self.src_hb_ns = 0  #: when the source's last heartbeat came (0: never)
        self.asked: dict[str, int] = {}  #: sym -> when its snapshot was last asked for
        self.stats = {"source_bad_frames": 0, "source_gaps": 0, "snapshots": 0}

    def alive(self, now: int) -> bool:
        """True while the source's heartbeats come; past ``source_stale_ms`` without one,
        every book resyncs (once) and this stays False until the next heartbeat."""
        if self.src_hb_ns and now - self.src_hb_ns > self.pcfg.source_stale_ms * 1_000_000:
            logger.warning("paper {}: no heartbeat from the source for {} ms: books not current",
                           self.name, self.pcfg.source_stale_ms)
            self.src_hb_ns = 0
            for book in self.books.values():
                book.start_resync()
            self.asked.clear()  # snapshots are asked for as soon as it beats again
        return self.src_hb_ns != 0

    def ask_snapshots(self, now: int) -> None:
        """Ask for the snapshot of every book not current (again after ``snapshot_retry_ms``)."""
        retry = self.pcfg.snapshot_retry_ms * 1_000_000
        for sym, book in self.books.items():
            if not book.synced and now - self.asked.get(sym, -retry) >= retry:
                self.asked[sym] = now
                try:
                    self.src_ref.send(encode(SnapshotReq(sym=sym)), zmq.NOBLOCK)
                except zmq.Again:  # the source's ref is not reachable: the retry asks again
                    pass

    def on_md(self, frame: bytes, now: int) -> None:
        """One md frame from the source (the orders due before it were matched already)."""
        try:
            msg = _MD.decode(frame)
        except CodecError as exc:
            # it may have been a delta: no book is trusted until its snapshot
            self.stats["source_bad_frames"] += 1
            logger.warning("paper {}: undecodable source md frame: {}", self.name, exc)
            for book in self.books.values():
                book.start_resync()
            self.asked.clear()
            return
        if isinstance(msg, Heartbeat):
            if not self.src_hb_ns:
                logger.info("paper {}: source market data is up", self.name)
            self.src_hb_ns = now
            for sym, seq in msg.seqs.items():
                book = self.books.get(sym)
                if book is not None and book.on_heartbeat_seq(seq):
                    self.stats["source_gaps"] += 1
                    self.asked.pop(sym, None)  # ask at once
            return
        book = self.books.get(msg.sym)
        if book is None:
            return
        if isinstance(msg, Delta):
            outcome, changes = book.on_delta(msg)
            if outcome is Outcome.APPLIED:
                self.venue.on_book(now, msg.sym, changes)
                self.flush(msg.ts)
            elif outcome is Outcome.GAP:
                self.stats["source_gaps"] += 1
                self.asked.pop(msg.sym, None)  # ask at once
                # levels it changed are published once the book is current again
                self.venue.model.dirty[msg.sym].update((c.side, c.px) for c in changes)
        elif isinstance(msg, MdStatus):
            self.venue.session[msg.sym] = msg.state
            self.publish(msg.sym, msg)
        elif isinstance(msg, Trade | Mark):
            self.publish(msg.sym, msg)

    def on_ref(self, frame: bytes, now: int) -> None:
        """One ref reply from the source: a snapshot makes its book current."""
        try:
            rep = REF_CODEC.decode(frame)
        except CodecError as exc:
            logger.warning("paper {}: undecodable source ref reply: {}", self.name, exc)
            return
        if isinstance(rep, Error):
            logger.warning("paper {}: source ref error {}: {}", self.name, rep.code, rep.msg)
            return
        if not isinstance(rep, Snapshot) or rep.sym not in self.books:
            return
        changes = self.books[rep.sym].on_snapshot(rep)
        if changes is None:
            if not self.books[rep.sym].synced:
                self.asked.pop(rep.sym, None)  # a hole after it: ask again at once
            return
        self.stats["snapshots"] += 1
        self.venue.model.reset_overlay(rep.sym)
        self.venue.on_book(now, rep.sym, changes)
        self.flush(self.books[rep.sym].ts or now)


__all__ = ["SourceLink"]
