"""Hot replication of journal records through a JetStream stream.

The primary publishes each journal record (opaque bytes) as one message on ``<stream>.rec`` with
headers ``Cmc-Seq`` (the publisher's record sequence, contiguous from ``next_seq``), ``Cmc-Kind``
(e.g. ``batch``, ``intent``, ``decision``), ``Cmc-Epoch`` (the lease epoch it held) and ``Cmc-Ts``
(publisher wall clock, ns), plus ``Nats-Msg-Id = <epoch>:<seq>`` so a retried publish is
deduplicated by the server. ``publish_many`` packs several records into one message
(``Cmc-Count`` records, MessagePack ``[[kind, data], ...]``, sequences from ``Cmc-Seq``): the
per-message cost of nats-py dominates, so packing is what makes async replication fast; the
follower unpacks, so consumers see the same records either way. ``publish_sync`` returns once
JetStream acknowledged the record (the order may leave); ``publish_async`` pipelines (acks are
collected; ``flush`` waits for them and raises when any failed). All records go through one
connection, so the stream holds them in publish order.

The standby follows with an ordered consumer from a stream sequence: ``Follower`` hands every
record, in order, to a callback, and reports lag (records not yet delivered, and ms since the
last delivered record was published). Records carrying an epoch lower than one already seen are
late writes of a deposed primary: counted as ``stale`` and not delivered.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

import msgpack
import msgspec
import nats
from nats.aio.msg import Msg
from nats.js import api
from nats.js.client import JetStreamContext

from transports.clock import Clock, LiveClock
from transports.ha.loop import HaError

H_SEQ, H_KIND, H_EPOCH, H_TS = "Cmc-Seq", "Cmc-Kind", "Cmc-Epoch", "Cmc-Ts"
H_COUNT = "Cmc-Count"  #: a packed message: MessagePack ``[[kind, data], ...]``, seqs from Cmc-Seq
KIND_PACK = "*pack"
MAX_PACK_BYTES = 512 * 1024  #: well below NATS's default 1 MB max payload
MAX_PACK_RECORDS = 512


class ReplicationError(HaError):
    """A record was not acknowledged by JetStream (server down, timeout, refused)."""


class Record(msgspec.Struct, frozen=True):
    """One replicated journal record as the follower sees it."""

    seq: int  #: publisher's record sequence
    kind: str
    epoch: int
    ts_ns: int  #: publisher's wall clock at publish
    stream_seq: int  #: JetStream sequence (resume a follower from ``stream_seq + 1``)
    data: bytes


async def ensure_stream(js: JetStreamContext, stream: str, replicas: int = 1,
                        max_bytes: int = -1) -> str:
    """Create the journal stream if missing (file storage, ``<stream>.>``); returns its subject."""
    subject = f"{stream}.rec"
    try:
        await js.stream_info(stream)
    except nats.js.errors.NotFoundError:
        await js.add_stream(api.StreamConfig(
            name=stream, subjects=[f"{stream}.>"], storage=api.StorageType.FILE,
            num_replicas=replicas, max_bytes=max_bytes, duplicate_window=120.0))
    await wait_stream_leader(js, stream)
    return subject


async def wait_stream_leader(js: JetStreamContext, stream: str, timeout_s: float = 10.0) -> None:
    """Wait (bounded) until a clustered stream has a leader: a new R3 stream answers no
    publishes before its election. A single server's streams are ready at once."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while True:
        info = await js.stream_info(stream)
        if info.cluster is None or info.cluster.leader:
            return
        if loop.time() > end:
            raise HaError(f"stream {stream}: no leader elected within {timeout_s} s")
        await asyncio.sleep(0.02)


class Replicator:
    """Publisher side (async core, one loop). ``epoch`` should be set to the lease epoch."""

    def __init__(self, js: JetStreamContext, stream: str, *, epoch: int = 0, next_seq: int = 1,
                 op_timeout_ms: int = 1000, max_pending: int = 4000,
                 clock: Clock | None = None) -> None:
        self.js, self.stream = js, stream
        self.subject = f"{stream}.rec"
        self.epoch = epoch
        self.next_seq = next_seq
        self.op_timeout_s = op_timeout_ms / 1000
        #: async records in flight before publish_async waits (the JetStream context's own
        #: limit, ``publish_async_max_pending``, must be above this)
        self.max_pending = max_pending
        self.clock: Clock = clock or LiveClock()
        self.published = 0  #: records acknowledged (sync) or handed to the connection (async)
        self._futures: collections.deque[asyncio.Future[api.PubAck]] = collections.deque()
        self._errors: list[str] = []

    def _headers(self, kind: str, seq: int) -> dict[str, str]:
        return {H_SEQ: str(seq), H_KIND: kind, H_EPOCH: str(self.epoch),
                H_TS: str(self.clock.now_ns()), "Nats-Msg-Id": f"{self.epoch}:{seq}"}

    def _take_seq(self, seq: int | None) -> int:
        if seq is None:
            seq = self.next_seq
        self.next_seq = seq + 1
        return seq

    async def publish_sync(self, data: bytes, kind: str = "rec", seq: int | None = None,
                           timeout_s: float | None = None) -> int:
        """Publish and wait for the JetStream ack; returns the stream sequence.

        Raises ``ReplicationError`` when no ack came within the timeout (server down or slow)
        or the server refused the record. A previous async failure is raised here too.
        """
        self._raise_async_errors()
        seq = self._take_seq(seq)
        try:
            ack = await self.js.publish(self.subject, data, timeout=timeout_s or self.op_timeout_s,
                                        headers=self._headers(kind, seq))
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise ReplicationError(f"record {seq} ({kind}) not acknowledged by JetStream "
                                   f"stream {self.stream}: {exc!r}") from None
        self.published += 1
        return int(ack.seq)

    async def publish_many(self, items: list[tuple[bytes, str]]) -> None:
        """Pipeline several ``(data, kind)`` records as packed messages (acks: ``flush``)."""
        i = 0
        while i < len(items):
            chunk: list[tuple[bytes, str]] = []
            size = 0
            while i < len(items) and len(chunk) < MAX_PACK_RECORDS and (
                    not chunk or size + len(items[i][0]) <= MAX_PACK_BYTES):
                chunk.append(items[i])
                size += len(items[i][0]) + 16
                i += 1
            if len(chunk) == 1:
                await self.publish_async(chunk[0][0], chunk[0][1])
                continue
            first = self.next_seq
            hdrs = self._headers(KIND_PACK, first)
            hdrs[H_COUNT] = str(len(chunk))
            hdrs["Nats-Msg-Id"] += f"+{len(chunk)}"
            body = msgpack.packb([[k, d] for d, k in chunk], use_bin_type=True)
            await self.publish_async(body, KIND_PACK, seq=first, headers=hdrs)
            self.next_seq = first + len(chunk)
            self.published += len(chunk) - 1

    async def publish_async(self, data: bytes, kind: str = "rec", seq: int | None = None,
                            headers: dict[str, str] | None = None) -> None:
        """Pipeline one record; its ack is collected later (``flush``)."""
        if len(self._futures) >= self.max_pending:  # bounded pipeline: wait for the oldest
            await asyncio.wait([self._futures[0]], timeout=self.op_timeout_s)
            self._reap()
            if len(self._futures) >= self.max_pending:
                raise ReplicationError(f"{len(self._futures)} records unacknowledged for "
                                       f"{self.op_timeout_s} s: JetStream stalled")
        seq = self._take_seq(seq)
        try:
            # no wait_stall: nats-py wraps the semaphore in wait_for (a task per record, ~6x
            # slower); the pipeline is bounded above instead
            fut = await self.js.publish_async(self.subject, data,
                                              headers=headers or self._headers(kind, seq))
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise ReplicationError(f"record {seq} ({kind}) not published: {exc!r}") from None
        self.published += 1
        self._futures.append(fut)
        self._reap()

    def _reap(self) -> None:
        while self._futures and self._futures[0].done():
            fut = self._futures.popleft()
            if fut.cancelled():
                self._errors.append("ack cancelled")
            elif fut.exception() is not None:
                self._errors.append(repr(fut.exception()))

    @property
    def pending(self) -> int:
        """Async records not acknowledged yet."""
        self._reap()
        return len(self._futures)

    def _raise_async_errors(self) -> None:
        self._reap()
        if self._errors:
            errs, self._errors = self._errors, []
            raise ReplicationError(f"{len(errs)} async record(s) not acknowledged: {errs[0]}")

    async def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every async record is acknowledged; ``ReplicationError`` on any failure
        or when acks are still missing at the timeout (those are then abandoned)."""
        futs = list(self._futures)
        if futs:
            _done, not_done = await asyncio.wait(futs, timeout=timeout_s or self.op_timeout_s)
            if not_done:
                for f in not_done:
                    f.cancel()
                self._reap()
                self._errors = []
                raise ReplicationError(f"{len(not_done)} async record(s) not acknowledged "
                                       f"within {timeout_s or self.op_timeout_s} s")
        self._raise_async_errors()


class Follower:
    """Standby side: an ordered consumer from ``start_seq`` delivering ``Record``s in order.

    ``callback(record)`` runs on the loop for every record; an exception in it stops delivery
    (``error`` says why) rather than skipping the record.
    """

    def __init__(self, js: JetStreamContext, stream: str, callback: Callable[[Record], None], *,
                 start_seq: int = 1, clock: Clock | None = None) -> None:
        self.js, self.stream = js, stream
        self.subject = f"{stream}.rec"
        self.callback = callback
        self.start_seq = max(1, start_seq)
        self.clock: Clock = clock or LiveClock()
        self.delivered = 0
        self.last_stream_seq = self.start_seq - 1
        self.last_seq = 0  #: last publisher sequence delivered
        self.last_ts_ns = 0
        self.max_epoch = 0
        self.stale = 0  #: records of a lower epoch after a higher one (deposed primary)
        self.gaps = 0  #: publisher sequence not contiguous within one epoch
        self.pending = 0  #: records in the stream after the last delivered one
        self.delay_ms = 0.0  #: publish-to-delivery time of the last record
        self.error = ""
        self._sub: nats.js.JetStreamContext.PushSubscription | None = None

    async def start(self) -> Follower:
        cfg = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                 opt_start_seq=self.start_seq)
        self._sub = await self.js.subscribe(self.subject, stream=self.stream, cb=self._on_msg,
                                            ordered_consumer=True, config=cfg,
                                            idle_heartbeat=1.0)
        return self

    async def _on_msg(self, msg: Msg) -> None:
        if self.error:
            return
        meta = msg.metadata
        sseq = int(meta.sequence.stream)
        if sseq <= self.last_stream_seq:
            return  # redelivery after an ordered-consumer reset
        h = msg.headers or {}
        try:
            seq, epoch, ts = int(h.get(H_SEQ, 0)), int(h.get(H_EPOCH, 0)), int(h.get(H_TS, 0))
            kind = h.get(H_KIND, "")
            if kind == KIND_PACK:
                items = msgpack.unpackb(msg.data, raw=False)
                if len(items) != int(h.get(H_COUNT, -1)):
                    raise ValueError("count mismatch")
                recs = [Record(seq + i, str(k), epoch, ts, sseq, bytes(d))
                        for i, (k, d) in enumerate(items)]
            else:
                recs = [Record(seq, kind, epoch, ts, sseq, msg.data)]
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            self.error = f"stream seq {sseq}: bad replication message ({exc}): {h!r}"
            return
        self.last_stream_seq = sseq
        self.pending = int(meta.num_pending)
        if epoch < self.max_epoch:
            self.stale += len(recs)
            return
        if epoch == self.max_epoch and self.last_seq and seq != self.last_seq + 1:
            self.gaps += 1
        self.max_epoch = epoch
        for rec in recs:
            try:
                self.callback(rec)
            except Exception as exc:  # noqa: BLE001 - stop delivering, report; never skip
                self.error = f"callback failed at record {rec.seq} (stream seq {sseq}): {exc!r}"
                self.last_stream_seq = sseq - 1  # resume from this message
                return
            self.delivered += 1
            self.last_seq, self.last_ts_ns = rec.seq, rec.ts_ns
        self.delay_ms = max(0.0, (self.clock.now_ns() - ts) / 1e6)

    def lag(self) -> tuple[int, float]:
        """Cheap (no request): (messages behind as of the last delivery, ms since the last
        delivered record was published while behind, else 0). A message may pack records."""
        if self.pending <= 0:
            return 0, 0.0
        return self.pending, max(0.0, (self.clock.now_ns() - self.last_ts_ns) / 1e6)

    async def lag_from_server(self, timeout_s: float = 1.0) -> tuple[int, float]:
        """Exact lag in records: the stream's last record sequence (asks the server) minus
        the last one delivered, and ms as in ``lag``."""
        try:
            msg = await asyncio.wait_for(
                self.js.get_msg(self.stream, subject=self.subject), timeout_s)
        except nats.js.errors.NotFoundError:
            return 0, 0.0
        h = msg.headers or {}
        last = int(h.get(H_SEQ, 0)) + int(h.get(H_COUNT, 1)) - 1
        behind = max(0, last - self.last_seq)
        if not behind:
            return 0, 0.0
        return behind, max(0.0, (self.clock.now_ns() - self.last_ts_ns) / 1e6)

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            try:
                await sub.unsubscribe()
            except (nats.errors.Error, OSError):
                pass


__all__ = ["Follower", "Record", "ReplicationError", "Replicator", "ensure_stream",
           "wait_stream_leader"]
