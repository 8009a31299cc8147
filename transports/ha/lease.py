"""The primary's lease: one key in a JetStream key-value bucket, compare-and-set on its revision.

Semantics (docs/operations.md, "Hot standby"):

- **acquire**: create the key when absent (never by a ``standby`` role), take a deleted (released)
  key at once, or take over a key whose revision this contender has seen unchanged for the TTL:
  ``update(last=<revision seen>)``. JetStream refuses the write when anybody wrote in between.
- **renew**: ``update(last=<our revision>)`` every ``renew_ms``; refused = deposed at once.
- **fencing token**: the revision of every successful write is a stream sequence, strictly
  increasing across all writers. ``epoch`` is the revision of the write that won the lease (fixed
  for a tenure: what orders carry); ``revision`` the latest renewal. A takeover's CAS happens
  after the old holder's last write, so the new epoch exceeds every token the old holder had.
- **local deadline**: a holder is only a holder until ``send time of its last successful write +
  TTL`` on its monotonic clock, whether or not NATS answers: ``holding`` checks the clock on
  every call, from any thread. A standby measures the TTL from when IT saw the revision, which is
  after the holder sent it, so the holder's deadline passes first.

``Lease`` is the async core (one asyncio loop); ``transports.ha.service.LeaseService`` is the
thread-safe facade the engine uses. The clock is injected: with a ``TestClock`` the expiry rules
are exercised without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable

import msgspec
import nats
from nats.js import api
from nats.js.client import JetStreamContext
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from transports.clock import Clock, LiveClock
from transports.ha.loop import HaError

#: errors meaning "NATS did not answer in time / is unreachable" (retry until the deadline)
TRANSIENT = (TimeoutError, nats.errors.Error, OSError, ConnectionError)
WRONG_LAST = (10071, 10164)  #: JetStream: wrong last (subject) sequence


class LeaseValue(msgspec.Struct, frozen=True):
    """What the lease key holds (JSON, readable with ``nats kv get``)."""

    holder: str  #: the holder's id (engine instance)
    node: str  #: host/node name, for operators
    renewed_ns: int  #: holder's wall clock at the write (information only: expiry is monotonic)
    tenure: str  #: random per acquisition: tells our own lost-ack write from another's
    n: int = 0  #: renewals in this tenure


class LeaseLost(HaError):
    """The compare-and-set was refused: somebody else wrote the lease (deposed)."""


async def ensure_bucket(js: JetStreamContext, bucket: str, replicas: int = 1) -> KeyValue:
    """Open the lease bucket, creating it (history 1, file storage) when missing."""
    try:
        kv = await js.key_value(bucket)
    except BucketNotFoundError:
        kv = await js.create_key_value(bucket=bucket, history=1, replicas=replicas,
                                       storage=api.StorageType.FILE)
    loop = asyncio.get_running_loop()
    end = loop.time() + 10.0
    while True:  # a new clustered bucket answers no writes before its leader is elected
        info = await js.stream_info(f"KV_{bucket}")
        if info.cluster is None or info.cluster.leader:
            return kv
        if loop.time() > end:
            raise HaError(f"bucket {bucket}: no leader elected within 10 s")
        await asyncio.sleep(0.02)


class Lease:
    """Async core of the lease for one contender. See the module docstring for semantics.

    ``may_create`` False (role ``standby``) never creates an absent key: a standby takes over a
    lease that existed. ``on_acquired(epoch)`` and ``on_deposed(reason)`` run on the loop.
    """

    def __init__(self, js: JetStreamContext, bucket: str, key: str, *, holder: str,
                 node: str = "", ttl_ms: int = 300, renew_ms: int = 100,
                 op_timeout_ms: int = 1000, may_create: bool = True,
                 clock: Clock | None = None,
                 on_acquired: Callable[[int], None] | None = None,
                 on_deposed: Callable[[str], None] | None = None) -> None:
        if renew_ms * 2 > ttl_ms:
            raise ValueError(f"renew_ms {renew_ms} must be at most half of ttl_ms {ttl_ms}")
        self.js, self.bucket, self.key = js, bucket, key
        self.subject = f"$KV.{bucket}.{key}"
        self.stream = f"KV_{bucket}"
        self.holder, self.node = holder, node
        self.ttl_ns, self.renew_ns = ttl_ms * 1_000_000, renew_ms * 1_000_000
        self.op_timeout_s = op_timeout_ms / 1000
        self.may_create = may_create
        self.clock: Clock = clock or LiveClock()
        self.on_acquired, self.on_deposed = on_acquired, on_deposed
        # what we last saw of the key (any writer) and when, on our monotonic clock
        self.seen_revision = 0
        self.seen_value: LeaseValue | None = None
        self.seen_deleted = False
        self.seen_mono_ns = 0
        self._observed = False
        # our tenure
        self.epoch = 0  #: revision of the write that won the lease; 0 = not holding
        self.revision = 0  #: revision of our latest successful write
        self.deadline_ns = 0  #: local deadline (monotonic): last successful send + TTL
        self.last_renew_mono_ns = 0  #: when our last successful write was acknowledged
        self._tenure = ""
        self._n = 0
        self._last_value = b""
        self.deposed_reason = ""
        self.renew_failures = 0  #: renewals that got no answer (NATS slow or unreachable)
        self.in_flight = False  #: a renewal is on the wire (benches freeze between renewals)
        self.acquired = asyncio.Event()
        self.deposed = asyncio.Event()

    # -- state (thread-safe reads) -----------------------------------------------------------

    @property
    def holding(self) -> bool:
        """True only while we hold the lease AND our local deadline has not passed."""
        return self.epoch > 0 and self.clock.mono_ns() < self.deadline_ns

    def remaining_ns(self) -> int:
        """Nanoseconds left before our local deadline (0 when not holding)."""
        return max(0, self.deadline_ns - self.clock.mono_ns()) if self.epoch else 0

    # -- primitives ----------------------------------------------------------------------------

    def _value(self) -> bytes:
        return msgspec.json.encode(LeaseValue(self.holder, self.node, self.clock.now_ns(),
                                              self._tenure, self._n))

    async def _write(self, last: int, timeout_s: float) -> int:
        """CAS write of our value on ``last``; returns the new revision or raises LeaseLost."""
        try:
            self._last_value = self._value()
            ack = await self.js.publish(
                self.subject, self._last_value, timeout=max(0.001, timeout_s),
                headers={api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(last)})
        except nats.js.errors.APIError as exc:
            if exc.err_code in WRONG_LAST:
                raise LeaseLost(f"lease {self.key}: revision {last} is no longer the last") \
                    from None
            raise
        return int(ack.seq)

    def _see(self, revision: int, value: bytes | None, deleted: bool) -> None:
        if revision != self.seen_revision or not self._observed:
            self.seen_mono_ns = self.clock.mono_ns()
        self._observed = True
        self.seen_revision, self.seen_deleted = revision, deleted
        self.seen_value = None
        if value and not deleted:
            try:
                self.seen_value = msgspec.json.decode(value, type=LeaseValue)
            except msgspec.DecodeError:
                self.seen_value = None

    async def observe(self) -> int:
        """Read the key's latest revision (0 = absent) and remember when we first saw it."""
        try:
            msg = await asyncio.wait_for(
                self.js.get_msg(self.stream, subject=self.subject), self.op_timeout_s)
        except nats.js.errors.NotFoundError:
            self._see(0, None, False)
            return 0
        op = (msg.headers or {}).get("KV-Operation")
        self._see(int(msg.seq or 0), msg.data, op in (KV_DEL, KV_PURGE))
        return self.seen_revision

    def expired(self) -> bool:
        """True when the revision we saw is deleted, or unchanged for the TTL (by our clock)."""
        if not self._observed:
            return False
        if self.seen_revision == 0:
            return self.may_create
        return self.seen_deleted or self.clock.mono_ns() - self.seen_mono_ns >= self.ttl_ns

    async def try_acquire(self) -> bool:
        """One attempt: take the lease if absent, released, or expired; True when we hold it."""
        if self.holding:
            return True
        if not self._observed:
            await self.observe()
        if not self.expired():
            return False
        self._tenure, self._n = secrets.token_hex(6), 0
        sent = self.clock.mono_ns()
        try:
            rev = await self._write(self.seen_revision, self.op_timeout_s)
        except LeaseLost:
            with contextlib.suppress(*TRANSIENT):
                await self.observe()
            return False
        self._won(rev, sent)
        return True

    def _won(self, rev: int, sent_ns: int) -> None:
        self.epoch = self.revision = rev
        self.deadline_ns = sent_ns + self.ttl_ns
        self.last_renew_mono_ns = self.clock.mono_ns()
        self._see(rev, self._last_value, False)
        self.deposed_reason = ""
        self.deposed.clear()
        self.acquired.set()
        if self.on_acquired is not None:
            self.on_acquired(rev)

    async def renew(self) -> bool:
        """One renewal (CAS on our revision). False = deposed (refused, or deadline passed);
        raises a TRANSIENT error when NATS did not answer (still holding until the deadline)."""
        if not self.epoch:
            return False
        now = self.clock.mono_ns()
        if now >= self.deadline_ns:
            self.depose("expired")
            return False
        self._n += 1
        budget = min(self.op_timeout_s, (self.deadline_ns - now) / 1e9)
        self.in_flight = True
        try:
            rev = await self._write(self.revision, budget)
        except LeaseLost:
            if await self._our_write_landed():
                return True
            self.depose("lost")
            return False
        except TRANSIENT:
            self.renew_failures += 1
            raise
        finally:
            self.in_flight = False
        self.revision = rev
        self.deadline_ns = now + self.ttl_ns
        self.last_renew_mono_ns = self.clock.mono_ns()
        self._see(rev, self._last_value, False)
        return True

    async def _our_write_landed(self) -> bool:
        """After a refused CAS: was the last write ours (an ack lost earlier)? Adopt it."""
        try:
            await self.observe()
        except TRANSIENT:
            return False
        v = self.seen_value
        if v is not None and v.holder == self.holder and v.tenure == self._tenure:
            self.revision = self.seen_revision  # deadline stays at the last confirmed send
            return True
        return False

    def depose(self, reason: str) -> None:
        """Stop holding at once (idempotent); fires ``on_deposed(reason)`` once per tenure."""
        if not self.epoch:
            return
        self.epoch = 0
        self.deadline_ns = 0
        self.deposed_reason = reason
        self.acquired.clear()
        self.deposed.set()
        if self.on_deposed is not None:
            self.on_deposed(reason)

    async def release(self) -> None:
        """Give the lease up (delete marker, CAS on our revision) so a standby takes it now."""
        if not self.epoch:
            return
        rev = self.revision
        self.depose("released")
        with contextlib.suppress(LeaseLost, *TRANSIENT):
            await self.js.publish(self.subject, b"", timeout=self.op_timeout_s, headers={
                "KV-Operation": KV_DEL, api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(rev)})

    # -- loops (real time) -------------------------------------------------------------------

    async def hold(self) -> str:
        """Renew every ``renew_ms`` until deposed; returns the reason. Cancel = crash (no
        release). Each attempt is bounded by the time left before the local deadline."""
        while self.epoch:
            start = self.clock.mono_ns()
            try:
                if not await self.renew():
                    break
            except TRANSIENT:
                pass
            now = self.clock.mono_ns()
            if self.epoch and now >= self.deadline_ns:
                self.depose("expired")
                break
            wake = min(start + self.renew_ns, self.deadline_ns) if self.epoch else now
            await asyncio.sleep(max(0.0, (wake - now) / 1e9))
        return self.deposed_reason

    async def campaign(self) -> int:
        """Watch the key and take the lease once it expires or is released; returns the epoch.

        Waits for each watch update at most until ``seen + TTL`` (our clock), then tries the CAS.
        A broken watch (NATS away) is re-created after a short pause.
        """
        while not self.holding:
            try:
                watcher = await self._watch()
            except TRANSIENT:
                await asyncio.sleep(self.renew_ns / 1e9)
                continue
            try:
                await self._campaign_on(watcher)
            except TRANSIENT:
                await asyncio.sleep(self.renew_ns / 1e9)
            finally:
                with contextlib.suppress(*TRANSIENT, AttributeError):
                    await watcher.stop()
        return self.epoch

    async def _watch(self) -> KeyValue.KeyWatcher:
        kv = await asyncio.wait_for(self.js.key_value(self.bucket), self.op_timeout_s)
        return await asyncio.wait_for(kv.watch(self.key), self.op_timeout_s)

    async def _campaign_on(self, watcher: KeyValue.KeyWatcher) -> None:
        while True:
            if self._observed and self.expired() and await self.try_acquire():
                return
            if self._observed and self.seen_revision and not self.seen_deleted:
                wait = (self.seen_mono_ns + self.ttl_ns - self.clock.mono_ns()) / 1e9
            else:
                wait = 1.0  # nothing to expire yet: just look again now and then
            try:
                entry = await watcher.updates(timeout=max(0.0005, wait))
            except nats.errors.TimeoutError:
                continue
            if entry is None:  # the watch's "no (more) history" marker
                if not self._observed:
                    await self.observe()
                continue
            deleted = entry.operation in (KV_DEL, KV_PURGE)
            self._see(int(entry.revision or 0), entry.value, deleted)

    async def run(self, stay: Callable[[], bool] = lambda: True) -> None:
        """Campaign, hold, and campaign again after being deposed while ``stay()``."""
        while True:
            await self.campaign()
            await self.hold()
            if not stay():
                return


__all__ = ["TRANSIENT", "Lease", "LeaseLost", "LeaseValue", "ensure_bucket"]
