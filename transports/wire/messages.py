"""Every message that flows between actors: frozen, tagged msgspec Structs.

Prices are integer ticks (``*_ticks``) and quantities integer lots (``*_lots``); floats appear
only in statistics and money. Times are ns ints: ``ts_event_ns`` is the venue's clock,
``ts_recv_ns`` our receive time, and the other ``ts_*_ns`` stamp each hop of a decision chain so
the latency of every hop can be reported from the journal. Structs are array-like on the wire
(positional MessagePack arrays whose first element is the tag) because that is 2.5x cheaper than
maps and still validates on decode.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Side = Literal["B", "S"]
Level = tuple[int, int]


class Msg(msgspec.Struct, frozen=True, tag=True, array_like=True, gc=False):
    """Base of every internal message."""


# --- market data ---------------------------------------------------------------------------------


class BookSnapshot(Msg):
    """Full book for ``venue:sym`` from the Feed after a (re)sync; replaces the book."""

    venue: str
    sym: str
    seq: int
    ts_event_ns: int
    ts_recv_ns: int
    bids: list[Level]
    asks: list[Level]


class BookDelta(Msg):
    """Levels changed (absolute quantity, 0 deletes), in sequence, from the Feed."""

    venue: str
    sym: str
    seq: int
    ts_event_ns: int
    ts_recv_ns: int
    bids: list[Level]
    asks: list[Level]


class BookInvalid(Msg):
    """The Feed lost continuity for ``venue:sym``: the book must not be used until resynced."""

    venue: str
    sym: str
    reason: str
    ts_recv_ns: int


class BookUpdate(Msg):
    """The top of a book after a change: best levels first, from the Book actor."""

    venue: str
    sym: str
    valid: bool
    ts_event_ns: int
    ts_recv_ns: int
    ts_book_ns: int
    bid_px: list[int]
    bid_qty: list[int]
    ask_px: list[int]
    ask_qty: list[int]


class SessionStatus(Msg):
    """A venue's session state for a symbol (open, break, auction, closed, halt)."""

    venue: str
    sym: str
    state: str
    ts_event_ns: int


class FeedHealth(Msg):
    """A Feed's health and counters."""

    venue: str
    state: str
    gaps: int
    resyncs: int
    duplicates: int
    rejects: int
    last_hb_ns: int
    ts_ns: int
    stale_periods: int = 0
    clock_offset_ns: int = 0  #: venue clock minus ours (venue ts - offset = our time)
    one_way_ns: int = 0  #: estimated one-way latency from the venue
    reconnects: int = 0


# --- decisions and orders ------------------------------------------------------------------------


class LegSpec(Msg):
    """One leg of a combo as the Strategy wants it."""

    venue: str
    sym: str
    side: Side
    qty_lots: int
    limit_px_ticks: int  #: IOC limit (touch +/- max slippage)
    expected_px_ticks: float  #: executable VWAP the decision assumed


class ComboIntent(Msg):
    """The Strategy's decision to open or close a spread position."""

    combo_id: int
    pair: str
    action: Literal["open", "close"]
    direction: int  #: +1 = buy A / sell B, -1 = sell A / buy B
    legs: list[LegSpec]
    spread: float
    mean: float
    z: float
    edge: float
    cost: float
    residual_base: float
    ts_event_ns: int
    ts_recv_ns: int
    ts_book_ns: int
    ts_signal_ns: int


class LegOrder(Msg):
    """The ComboExecutor asks a LegExecutor to send one order."""

    combo_id: int
    leg: int
    attempt: int
    venue: str
    sym: str
    side: Side
    qty_lots: int
    px_ticks: int
    tif: Literal["IOC", "FOK", "GTC"]
    purpose: Literal["entry", "chase", "unwind", "flatten"]
    ts_recv_ns: int
    ts_signal_ns: int


class CancelLeg(Msg):
    """Cancel an order by client order id."""

    venue: str
    cl: str


class ExecReport(Msg):
    """What happened to an order, from the LegExecutor (normalised venue report)."""

    venue: str
    cl: str
    combo_id: int
    leg: int
    attempt: int
    sym: str
    side: Side
    kind: Literal["sent", "denied", "accepted", "rejected", "fill", "done", "cancel_reject"]
    state: str  #: the order state after this report
    px_ticks: int
    qty_lots: int  #: fill quantity for ``fill``, order quantity otherwise
    cum_lots: int
    leaves_lots: int
    fee: float
    trade_id: str
    reason: str
    ts_event_ns: int
    ts_recv_ns: int
    #: the currency of ``fee`` when the venue charged it in another than the instrument's
    #: (protocol v2 ``fill.fee_ccy``); "" = the instrument's
    fee_ccy: str = ""
    #: futures with offsets (CTP): the offset the order went with (``open``, ``close``,
    #: ``close_today``, ``close_yesterday``), so risk keeps both sides; "" = none
    offset: str = ""


class ComboState(Msg):
    """A combo's state change, from the ComboExecutor."""

    combo_id: int
    pair: str
    action: str
    state: Literal["working", "complete", "repairing", "repaired", "failed"]
    direction: int
    filled_a_lots: int
    filled_b_lots: int
    residual_base: float
    ts_ns: int
    #: final states only: each leg's entry fills against the price the decision expected,
    #: sum of (fill - expected) x lots in ticks, positive = worse, and the lots they cover
    slip_a_tick_lots: float = 0.0
    slip_b_tick_lots: float = 0.0
    entry_a_lots: int = 0
    entry_b_lots: int = 0


class TradingState(Msg):
    """The RiskSupervisor's trading state, broadcast to every executor. ``HALTED`` with the
    reason ``FLATTEN_THROUGH_HALT``: an operator's flatten while halted -- still halted, but
    the executors let orders that reduce a position through (as under ``REDUCING``), so the
    strategies' closes and their repairs can work; until the state changes."""

    state: Literal["ACTIVE", "REDUCING", "HALTED"]
    reason: str
    ts_ns: int


#: ``TradingState.reason`` of a halt an operator's flatten goes through (see ``TradingState``)
FLATTEN_THROUGH_HALT = "flatten_through_halt"


class Position(Msg):
    """A position change seen by the RiskSupervisor (signed lots)."""

    venue: str
    sym: str
    qty_lots: int
    ts_ns: int


# --- control -------------------------------------------------------------------------------------


class Timer(Msg):
    """A timer an actor asked for has fired: ``key`` names what it is for (each core's keys are
    constants of that core), ``arg`` which one (an order's client id, a symbol)."""

    key: str
    ts_ns: int
    arg: str = ""


class Reconnect(Msg):
    """Ask the host to close and reopen the actor's socket ``key`` (a stale session)."""

    key: str


class SetTimer(Msg):
    """Ask the dispatcher to deliver ``Timer(key, arg)`` to the asking actor at ``due_ns``
    (replaces a pending timer with the same ``(key, arg)``; ``due_ns`` 0 cancels it)."""

    key: str
    due_ns: int
    arg: str = ""


class FaultHook(Msg):
    """Fault injection for tests and drills, honoured only by the test-only ``FaultyCore``
    wrapper (``tests/support/helpers.py``); every production core ignores it. ``kind``:
    ``raise`` (an exception in the handler), ``poison`` (raise, and later instances raise in
    ``on_start``), ``block`` (the handler blocks its host), ``exit`` (``SystemExit`` in the
    handler), ``recurse`` (``RecursionError``)."""

    kind: Literal["raise", "poison", "block", "exit", "recurse"]


# Typed control: every live change is one of these, delivered through the dispatcher and
# journaled like any inbound event, so replay and rebuilds see it.


class Halt(Msg):
    """Stop opening (strategies); to ``risk``: trading state HALTED (latched) with a reason."""

    reason: str = ""


class Reduce(Msg):
    """To ``risk``: trading state REDUCING (only exposure-reducing orders) with a reason."""

    reason: str = ""


class Resume(Msg):
    """Undo a halt or reduce: ``risk`` clears its reasons; a strategy opens again."""

    reason: str = ""


class Flatten(Msg):
    """Close everything held: a strategy through combos; ``risk`` tells every strategy and
    flattens what nobody holds."""

    reason: str = ""


class Resync(Msg):
    """From a Book to its Feed: the data of ``sym`` was unusable; fetch a fresh snapshot."""

    sym: str


class SetParams(Msg):
    """A live change of configuration: ``section`` is the config path of the struct it changes
    (``"pairs.<pair>"`` or ``"risk"``), ``values`` the fields and their new values (validated
    by the sender against the config types; the holder validates again and journals a
    ``Decision`` of what it applied or refused)."""

    section: str
    values: dict[str, Any]


class Start(Msg):
    """Journal marker: the host started the actor's core, built with ``epoch``."""

    epoch: int = 0


class Stop(Msg):
    """Journal marker: the host stopped the actor's core."""


class Restart(Msg):
    """Journal marker from the supervisor: the actor's core was restarted, ``kind`` "rebuild"
    (its state replayed from the journal, moved to ``epoch``) or "fresh" (a new core of
    ``epoch``); a ``Start`` follows."""

    kind: str
    epoch: int
    reason: str = ""


class JournalBatch(Msg):
    """Copies of the messages one host delivered in one dispatch cycle, for the Journal.

    ``items`` are ``(source, destination, message)`` triples in delivery order. The source is
    the sending actor of this group, or where the message came from outside it: ``@md``,
    ``@oe``, ... (a venue frame on that socket of the destination), ``@timer``, ``@group`` (a
    tell from another group or node), ``@call`` (an admin or test call). A destination
    ``actor@sock`` marks a frame the actor sent to a venue socket. ``ts_ns`` is the cycle's
    clock reading, the ``now_ns`` every handler of the cycle was given — so a replay that
    feeds the external items to fresh cores at ``ts_ns`` must reproduce the rest.
    """

    group: str
    ts_ns: int
    items: list[tuple[str, str, Any]]


class BadFrame(Msg):
    """A frame on socket ``key`` failed to decode (delivered to the socket's owner)."""

    key: str
    reason: str


class Decision(Msg):
    """A journal-only record of a decision or refusal with its inputs."""

    actor: str
    what: str
    detail: str
    ts_ns: int


class RiskView(Msg):
    """The RiskSupervisor's view for the executors' pre-trade checks: net exposure per
    underlying in base units (signed) and, optionally, FX rates (ccy -> home ccy per unit).

    ``gross_notional`` and ``margin_used`` (home ccy, every venue, at the supervisor's marks) are
    the sums over ``positions`` ("venue:sym" -> signed lots, as the supervisor knew them) of
    ``|lots| x lot_notional`` and of that times the contract's ``margin_rate``;
    ``lot_notional`` ("venue:sym" -> home ccy per lot at the mark) lets an executor replace its
    own venue's part with its fresher positions and working orders; ``budget_venues`` is how
    many executors share the headroom left under the gross and margin limits (0: unknown)."""

    exposure: dict[str, float]
    ts_ns: int
    fx: dict[str, float] = {}
    gross_notional: float = 0.0
    margin_used: float = 0.0
    positions: dict[str, int] = {}
    lot_notional: dict[str, float] = {}
    budget_venues: int = 0


class VenueGate(Msg):
    """A LegExecutor's order-entry status, sent to the strategies when it changes:
    ``state`` is "" (new orders may go), ``uncertain`` (an order's outcome is unknown: only
    reducing orders pass), ``disconnected``, ``session_down`` (the gateway's own session with
    its exchange is down, protocol v2 ``session``), ``reconciling`` or ``throttled`` (no new
    order passes)."""

    venue: str
    state: str
    ts_ns: int


class InFlightOrder(Msg):
    """One order intent from a node's intent WAL (``intents-<node>.cmcw``): the order as it was
    written before it was (perhaps) sent; ``ts_sent_ns`` is when the intent was written."""

    cl: str
    sym: str
    side: str
    px_ticks: int
    qty_lots: int
    tif: str
    ts_sent_ns: int


class InFlight(Msg):
    """From the runtime of a restarted node to a LegExecutor rebuilt from the journal, before
    its start: the order intents its WAL holds that the rebuilt executor does not know (the
    journal never saw them sent: the process died between the intent and its journal batch).
    The executor queries each by client id when it reconciles, before any new order."""

    venue: str
    orders: tuple[InFlightOrder, ...]


class IntentFailed(Msg):
    """From a LegExecutor's shell (source ``@wal``) to its executor: the intents of these
    orders (client ids ``cls``) could not be made durable in the node's intent WAL, so the
    orders were never sent; ``reason`` is the WAL's error. The executor rejects them locally
    and, the first time, asks risk to reduce (``LegExecutorCore.on_intent_failed``)."""

    venue: str
    cls: tuple[str, ...]
    reason: str
    ts_ns: int


class ClockJump(Msg):
    """From a node's runtime to each core of a host that noticed its own clock jump forward by
    ``gap_ns`` between two wake-ups (the process was stopped, the VM paused, or a thread held
    the interpreter): what the cores hold describes a world ``gap_ns`` old. Feeds resync every
    book, executors reconcile, strategies open nothing until their books are fresh again.
    Journaled where it arrives (``@clock``), so a replay sees the same jump."""

    gap_ns: int


# --- protocol version 2: what a venue says about itself, marks and funding ---------------------


class VenueInfo(Msg):
    """From a Feed to its venue's LegExecutor (and the strategies): what the gateway's
    ``instruments`` reply says beyond the config -- its protocol ``version`` (1 when the reply
    has no ``v``) and each symbol's ``kind`` (``perp``, ``spot``, ...; only the symbols the
    reply gives one for)."""

    venue: str
    version: int
    kinds: dict[str, str]
    ts_recv_ns: int


class MarkUpdate(Msg):
    """A perpetual's mark (protocol v2 ``mark``), from the Feed to the strategies of a pair
    using ``venue:sym``: mark and index prices in ticks, the funding rate per interval (a
    fraction, 0.0001 = 1 bp) exchanged at ``ts_next_funding_ns`` (venue clock, 0 = unknown)."""

    venue: str
    sym: str
    mark_px_ticks: int
    index_px_ticks: int
    funding_rate: float
    ts_next_funding_ns: int
    ts_event_ns: int
    ts_recv_ns: int


class FundingPaid(Msg):
    """A funding payment settled on the account's position (protocol v2 ``funding`` on oe),
    from the LegExecutor to risk: ``paid`` in ``ccy`` (negative = paid out; ``ccy`` is the
    instrument's when the venue named none) at ``rate`` per interval."""

    venue: str
    sym: str
    ccy: str
    paid: float
    rate: float
    ts_event_ns: int
    ts_recv_ns: int


AnyMsg = (
    BookSnapshot | BookDelta | BookInvalid | BookUpdate | SessionStatus | FeedHealth | LegSpec
    | ComboIntent | LegOrder | CancelLeg | ExecReport | ComboState | TradingState | Position
    | Timer | SetTimer | Reconnect | FaultHook | JournalBatch | BadFrame | Decision | RiskView
    | VenueGate | Halt | Reduce | Resume | Flatten | Resync | SetParams | Start | Stop | Restart
    | InFlight | InFlightOrder | IntentFailed | ClockJump | VenueInfo | MarkUpdate | FundingPaid
)

__all__ = [
    "FLATTEN_THROUGH_HALT",
    "AnyMsg",
    "BadFrame",
    "BookDelta",
    "BookInvalid",
    "BookSnapshot",
    "BookUpdate",
    "CancelLeg",
    "ClockJump",
    "ComboIntent",
    "ComboState",
    "Decision",
    "ExecReport",
    "FaultHook",
    "FeedHealth",
    "Flatten",
    "FundingPaid",
    "Halt",
    "InFlight",
    "InFlightOrder",
    "IntentFailed",
    "JournalBatch",
    "LegOrder",
    "LegSpec",
    "MarkUpdate",
    "Msg",
    "Position",
    "Reconnect",
    "Reduce",
    "Restart",
    "Resume",
    "Resync",
    "RiskView",
    "SessionStatus",
    "SetParams",
    "SetTimer",
    "Start",
    "Stop",
    "Timer",
    "TradingState",
    "VenueGate",
    "VenueInfo",
]
