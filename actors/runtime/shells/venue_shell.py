"""The shell of a LegExecutor: owns the venue's order-entry DEALER and measures each hop.

The DEALER's identity is the account id, as the venue gateway protocol requires. Hops recorded
(ns): ``recv_to_signal`` (tick received → decision), ``signal_to_send``, ``tick_to_order`` (tick
received → order frame handed to the socket), ``send_to_ack``, ``send_to_fill`` and
``intent_fsync`` (making the order intent durable).

The stamps behind them are per order and forgotten as soon as they cannot be used, so a long
run does not grow: an order's send time when the venue closes it (``done``, ``reject``, a
closed ``status``) -- a fill reordered behind its ``done`` is then not sampled -- and a
LegOrder's tick stamps when its frame leaves (they are kept under the frame's client id, only
for an order the executor sent: a denied one leaves none); whatever is never answered (a lost
order) is dropped oldest first past ``MAX_STAMPED`` orders.

Durable order intents: with an ``IntentWal`` attached, every ``NewOrder`` is appended to it and
fdatasync'ed *before* the frame is written to the socket; the orders the host decides together
(one wake: the legs of a combo, the orders of one node-link frame;
``actors.runtime.host.host_commit``) share one fdatasync.

If that fails (the write or the fdatasync: the WAL is then failed for good), the orders whose
intents were not made durable are not sent, and the failure becomes an *input*: ``flush_sends``
returns one ``IntentFailed`` (venue, the client ids, the error) which the host routes to the
executor from ``@wal`` -- journaled like any input, so a replay or a rebuild sees it. The
executor rejects those orders locally (its combo hears ``rejected``, reason
``intent_wal_failed``), alarms ``intent_wal_failed`` and sends risk
``Reduce("intent_wal_failed:<venue>: ...")``. From then on:

- an order the executor lets through -- only a position-*reducing* one (a hedge's unwind, a
  flatten; pre-trade denies the rest ``intent_wal_failed``) -- is sent **without** a durable
  intent, counted ``non_durable`` here and journaled ``Decision("non_durable")`` by the
  executor. The choice: a naked leg nobody may close is open-ended market risk, while an order
  only the journal (and the venue) remembers is recovered by the reconciliation every start
  does (open orders listed and cancelled, the venue's positions adopted); so reducing orders
  go, nothing that adds exposure does;
- a ``NewOrder`` that reaches the shell before the executor has heard of the failure (later in
  the same group commit) is refused like the failed ones (another ``IntentFailed``);
- cancels and queries go out as always.

``blocked`` is another matter: the host was abandoned; every ``NewOrder`` raises
``OrdersBlocked`` and nothing is sent, ever.

Hot standby (``[ha]``, ``scripts.launch.ha``): ``fence`` returns the lease's epoch (the fencing
token) for every ``new`` and ``cancel`` that leaves, and raises while this engine does not hold
the lease -- then nothing leaves (the order is refused like ``blocked``; a cancel is dropped: the
new primary owns the order). ``replicate`` publishes the cycle's intents to the standby before
the orders leave (after the fdatasync, inside the same group commit); a publish that fails is
handled as an intent that could not be made durable. The first frame of each lease epoch on the
order-entry link is a ``cancel`` of ``FENCE_PROBE_CL`` stamped with it (``_probe_fence``): the
gateway is fenced before it answers a take-over's reconciliation, which carries no epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import zmq
from loguru import logger

from actors.core import Core, Out
from actors.runtime.shells.kill_hook import AFTER_FIRST_SEND, AFTER_FSYNC, KillHook
from actors.runtime.shells.shell import Shell, SocketSpec
from transports.clock import Clock
from transports.errors import CmcError, CodecError
from transports.journal.intent_wal import IntentNotDurable, IntentWal
from transports.latency import LatencyRecorder
from transports.wire.codec import Codec, encode
from transports.wire.messages import BadFrame, IntentFailed, LegOrder, TradingState
from transports.wire.venue_msgs import (
    FENCE_PROBE_CL,
    Ack,
    CancelReq,
    Done,
    Fill,
    NewOrder,
    OeReply,
    OrderStatus,
    Reject,
)

_oe_codec: Codec[Any] = Codec(OeReply)
#: at most this many orders' stamps (send times, tick stamps) are kept: the oldest go first
MAX_STAMPED = 65_536
#: ``OrderStatus`` states after which the venue sends nothing more about the order
_CLOSED_STATUS = frozenset({"filled", "canceled", "expired", "rejected"})
#: how much of an undecodable frame the error log shows
BAD_FRAME_LOG_BYTES = 160


class OrdersBlocked(CmcError):
    """New orders are refused: an earlier order intent could not be made durable."""


class LegShell(Shell):
    """Feeds a LegExecutor core from its oe socket and stamps latency."""

    def __init__(
        self,
        core: Core,
        oe_address: str,
        account: str,
        clock: Clock,
        latency: LatencyRecorder,
        intent_wal: IntentWal | None = None,
    ) -> None:
        super().__init__(core)
        self.intent_wal = intent_wal
        self.blocked = ""  #: why NewOrders are refused ('' = they are not): an abandoned host
        #: the intent WAL's error once it failed ('' = it has not); see the module
        self.wal_failed = ""
        self.intent_failures = 0
        self.refused_orders = 0
        self.non_durable = 0  #: orders sent after the WAL failed (reducing ones only)
        self._refused: list[str] = []  #: client ids refused this cycle (their intent failed)
        self.oe_address = oe_address
        self.account = account
        self.clock = clock
        self.latency = latency
        #: cl -> (tick received, signal) ns of the LegOrder whose frame is not yet sent
        self._origin: dict[str, tuple[int, int]] = {}
        #: cl -> when its frame was handed to the socket, until the venue closes the order
        self._sent_ns: dict[str, int] = {}
        self.max_stamped = MAX_STAMPED  #: the bound of each of the two (see the module)
        #: (socket key, order, whether its intent awaits this cycle's fdatasync)
        self._pending: list[tuple[str, NewOrder, bool]] = []
        self.bad_frames = 0
        self.unsent = 0  #: frames the oe socket refused (``_send_frame``)
        self._stalled = False  #: the last send was refused (logged once per stall)
        self._kill = KillHook.from_env()
        #: the fencing token for an order or cancel about to leave (``[ha]``); raises when
        #: this engine does not hold the lease. None: no fencing (epoch 0 on the wire)
        self.fence: Callable[[], int] | None = None
        #: publishes the cycle's intent records to the standby and returns once they are
        #: acknowledged (sync) or queued (async); raises ``IntentNotDurable`` on failure
        self.replicate: Callable[[list[bytes]], None] | None = None
        self._replica: list[bytes] = []  #: this cycle's intent records for ``replicate``
        self.fenced_local = 0  #: orders and cancels not sent: the lease was not ours
        self._probed_epoch = 0  #: the lease epoch the fencing probe was sent with (0: not yet)

    def socket_specs(self) -> Iterable[SocketSpec]:
        # a CURVE client of the gateway when the venue has keys (``Shell.use_curve``)
        return (self.venue_socket("oe", zmq.DEALER, self.oe_address,
                                  identity=self.account.encode()),)

    def handle(self, msg: Any, now_ns: int) -> Out:
        # every delivery to the leg passes here (book updates, risk views, reports): one type
        # read and two identity tests before the core (LegOrder and TradingState are final
        # message types: nothing subclasses them)
        kind = type(msg)
        if kind is not LegOrder:
            if kind is TradingState:
                # from the RiskSupervisor's decision to this executor holding it (cmc bench risk)
                self.latency.record("risk_to_executor", now_ns - msg.ts_ns)
            return self.core.handle(msg, now_ns)
        out = self.core.handle(msg, now_ns)
        for _, m in out:
            if type(m) is NewOrder:
                # the order's frame takes the tick stamps, keyed by its client id (which
                # ``flush_sends`` reads back); a denied order has no frame and leaves none
                origin = self._origin
                origin[m.cl] = (msg.ts_recv_ns, msg.ts_signal_ns)
                if len(origin) > self.max_stamped:
                    del origin[next(iter(origin))]
                break
        return out

    def decode(self, key: str, frames: list[bytes], now_ns: int) -> Any:
        try:
            msg = _oe_codec.decode(frames[-1])
        except CodecError as exc:
            # never silent: the frame may have been an ack, a fill or a done; the core alarms
            # it and holds the venue uncertain (``LegExecutorCore.on_bad_frame``)
            self.bad_frames += 1
            frame = frames[-1] if frames else b""
            logger.error("{}: undecodable order-entry frame from venue {} (account {}, {} "
                         "bytes): {}; frame {!r}", self.name, getattr(self.core, "venue", "?"),
                         self.account, len(frame), exc, frame[:BAD_FRAME_LOG_BYTES])
            return BadFrame(key, str(exc))
        kind = type(msg)
        if kind is Ack or kind is Fill:
            sent = self._sent_ns.get(msg.cl)
            if sent is not None:
                self.latency.record("send_to_ack" if kind is Ack else "send_to_fill",
                                    now_ns - sent)
        elif kind is Done or kind is Reject or (kind is OrderStatus
                                                 and msg.state in _CLOSED_STATUS):
            self._sent_ns.pop(msg.cl, None)  # closed: no ack or fill of it is expected
        return msg

    def _write_intent(self, msg: NewOrder) -> bool | None:
        """Append the intent to the WAL (not yet synced): True, it awaits the fdatasync; False,
        the order goes without one (no WAL, or a reducing order after the WAL failed); None,
        the order must not go (its intent failed, or the WAL failed and the executor does not
        know it yet)."""
        if self.blocked:
            self.refused_orders += 1
            raise OrdersBlocked(f"{self.name}: order {msg.cl} not sent: {self.blocked}")
        wal = self.intent_wal
        if self.wal_failed:
            if getattr(self.core, "wal_failed", ""):
                # the executor heard of the failure and let this order through: a reducing
                # one, sent without a durable intent (see the module)
                self.non_durable += 1
                return False
            self._refuse([msg.cl])
            return None
        if self.replicate is not None:
            self._replica.append(encode((self.clock.now_ns(), self.account, msg)))
        if wal is None:
            return self.replicate is not None
        try:
            wal.write(self.clock.now_ns(), self.account, msg)
        except IntentNotDurable as exc:
            self._fail([msg.cl], exc)
            return None
        return True

    def _fail(self, cls: list[str], exc: IntentNotDurable) -> None:
        self.intent_failures += 1
        self.wal_failed = str(exc)
        logger.critical("{}: order intents are not durable ({}); orders {} not sent; only "
                        "reducing orders go from now on, without a durable intent", self.name,
                        exc, ",".join(cls))
        self._refuse(cls)

    def _refuse(self, cls: list[str]) -> None:
        self.refused_orders += len(cls)
        self._refused += cls

    @property
    def pending(self) -> bool:
        """True while orders of this dispatch cycle wait for their intents' group commit (or
        refused ones for their ``IntentFailed``)."""
        return bool(self._pending or self._refused)

    def _fenced(self, what: str) -> int | None:
        """The epoch to stamp, or None (not sent: the lease is not ours)."""
        assert self.fence is not None
        try:
            return self.fence()
        except CmcError as exc:
            self.fenced_local += 1
            logger.critical("{}: {} not sent: {}", self.name, what, exc)
            return None

    def _probe_fence(self, key: str) -> None:
        """With a fencing token, the first frame of each lease epoch on the order-entry link is
        a ``cancel`` of ``FENCE_PROBE_CL`` stamped with it: the gateway learns the epoch before
        it answers anything else this engine asks (a take-over's reconciliation), so an older
        sender's frame that reaches it later (a frozen primary's, queued before its freeze) is
        refused, not filled behind the reconciliation's back. The reply is ignored
        (``LegExecutorCore.on_cancel_reject``)."""
        assert self.fence is not None
        try:
            epoch = self.fence()
        except CmcError:
            return  # not ours: the frame itself is refused or goes as before
        if epoch != self._probed_epoch:
            self._probed_epoch = epoch
            if not self._send_frame(key, encode(CancelReq(FENCE_PROBE_CL, self.clock.now_ns(),
                                                          epoch)), "the fencing probe"):
                self._probed_epoch = 0  # refused (a stalled socket): probe again first

    def send(self, key: str, msg: Any) -> None:
        if self.fence is not None and key == "oe":
            self._probe_fence(key)
        if self.fence is not None and type(msg) is CancelReq:
            epoch = self._fenced(f"cancel {msg.cl}")
            if epoch is None:
                return
            msg = CancelReq(msg.cl, msg.ts, epoch)
        if isinstance(msg, NewOrder):
            # Group commit: the intent is written now and the order queued; the host calls
            # flush_sends() when it releases the group commit (``actors.runtime.host.host_commit``),
            # so the orders decided together share one fdatasync instead of paying one each.
            sync = self._write_intent(msg)
            if sync is not None:
                self._pending.append((key, msg, sync))
            return
        self._send_frame(key, encode(msg), type(msg).__name__)

    def _send_frame(self, key: str, frame: bytes, what: str) -> bool:
        """Send one frame without blocking; False if the socket refused it (the gateway stopped
        reading and ``VENUE_SEND_HWM`` frames wait for it): counted in ``unsent``, logged once
        per such stall. The executor learns of a refused order as of a lost one (its ack timer,
        its query, the reconciliation when the link comes back); the host's thread goes on
        (a blocking send here froze every actor of the group behind one stuck gateway)."""
        try:
            self.sockets[key].send(frame, zmq.NOBLOCK)
        except zmq.Again:
            self.unsent += 1
            if not self._stalled:
                self._stalled = True
                logger.error("{}: the venue's {} socket takes no more frames (its gateway "
                             "stopped reading?): {} not sent; frames are dropped, counted in "
                             "unsent, until it reads again", self.name, key, what)
            return False
        if self._stalled:
            self._stalled = False
            logger.warning("{}: the venue's {} socket takes frames again ({} dropped in all)",
                           self.name, key, self.unsent)
        return True

    def flush_sends(self) -> list[IntentFailed]:
        """Make the held intents durable (one fdatasync per WAL), then send the orders.

        Return the failure as an input for the executor (the host routes it from ``@wal``):
        one ``IntentFailed`` naming every order of the cycle that was not sent, or []."""
        pending, self._pending = self._pending, []
        wal = self.intent_wal
        kill = self._kill is not None and self._kill.due(
            (m for _, m, _ in pending), getattr(self.core, "positions", {}))
        need = [m.cl for _, m, sync in pending if sync]
        replica, self._replica = self._replica, []
        if (wal is not None or self.replicate is not None) and need:
            if self.wal_failed:  # a later intent of this cycle failed: these are not durable
                self._refuse(need)
            else:
                t0 = self.clock.now_ns()
                try:
                    if wal is not None:
                        wal.sync()
                except IntentNotDurable as exc:
                    self._fail(need, exc)
                self.latency.record("intent_fsync", self.clock.now_ns() - t0)
                if self.replicate is not None and not self.wal_failed and replica:
                    t0 = self.clock.now_ns()
                    try:
                        self.replicate(replica)
                    except IntentNotDurable as exc:
                        self._fail(need, exc)
                    self.latency.record("intent_replicate", self.clock.now_ns() - t0)
            if self.wal_failed:  # none of them leaves: their intents may not be on disk
                pending = [p for p in pending if not p[2]]
        if kill and self._kill is not None and self._kill.point == AFTER_FSYNC:
            self._kill.fire()
        fence = self.fence
        for key, msg, _ in pending:
            if fence is not None:
                epoch = self._fenced(f"order {msg.cl}")
                if epoch is None:
                    continue
                msg = msgspec.structs.replace(msg, epoch=epoch)
            if not self._send_frame(key, encode(msg), f"order {msg.cl}"):
                self._origin.pop(msg.cl, None)
                continue  # not on the wire: the executor finds it lost (``_send_frame``)
            if kill and self._kill is not None and self._kill.point == AFTER_FIRST_SEND:
                self._kill.fire()
            now = self.clock.now_ns()
            sent_ns = self._sent_ns
            sent_ns[msg.cl] = now
            if len(sent_ns) > self.max_stamped:  # never answered (lost): the oldest goes
                del sent_ns[next(iter(sent_ns))]
            origin = self._origin.pop(msg.cl, None)  # keyed by the frame's client id
            if origin is not None and origin[0]:
                self.latency.record("tick_to_order", now - origin[0])
                self.latency.record("recv_to_signal", origin[1] - origin[0])
                self.latency.record("signal_to_send", now - origin[1])
        refused, self._refused = self._refused, []
        if not refused:
            return []
        venue = getattr(self.core, "venue", "")
        return [IntentFailed(venue, tuple(refused), self.wal_failed, self.clock.now_ns())]


def attach_intent_wal(shells: Iterable[Any], wal: IntentWal) -> int:
    """Give every ``LegShell`` in ``shells`` the node's intent WAL; return how many got it."""
    n = 0
    for shell in shells:
        if isinstance(shell, LegShell):
            shell.intent_wal = wal
            n += 1
    return n
