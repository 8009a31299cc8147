"""The simulator's fault switches: seeded decisions, spans and the fault record of one venue.

Every switch is a ``FaultsConfig`` field: a rate (probability per event; at 0 no random number is
drawn, so a run with every switch off behaves as if there were no fault code) and/or entries of
``[[sim.faults.schedule]]`` (``FaultWindow``: ``at_s``, ``for_s``, ``kind``, ``venue``; scheduled
hits are checked before the rate and draw nothing). Each venue has its own injector and random
stream, so a fault on one venue never shifts another venue's decisions. Every hit is counted in
the shared ``counts`` as ``fault_<kind>`` (the truth's ``counts``), per venue in ``by_venue``, and
logged in ``events`` (``{"ts", "venue", "kind", ...details}``).

The switches and where they act (the truth always records what really traded):

=================== ========================== ===============================================
kind                event (rate is per ...)    effect
=================== ========================== ===============================================
md_drop             delta                      not sent; its seq is used (a gap)
md_duplicate        delta                      sent twice
md_reorder          delta                      held and sent right after the symbol's next
                                               delta (counted when swapped; an ``hb`` that
                                               comes first flushes it unswapped, uncounted)
md_delay            delta                      the venue's md stream (deltas, trades, status,
                                               hb) is held ``md_delay_ms`` from this delta on,
                                               then released in order
md_crossed          delta                      followed by one more delta (seq + 1) adding a
                                               bid 1 tick above the best ask; the next delta
                                               of the symbol deletes it (the snapshot agrees)
md_bad              delta                      replaced by a frame with the same seq and one
                                               bad level (``md_bad_kinds``: px 0, qty < 0,
                                               qty 2**40, or a float px); still MessagePack
md_stall            book refresh               no delta for ``md_stall_ms`` (seqs do not move,
                                               the book changes pile up in the next delta);
                                               ``hb`` goes on with the true last seq
stop                book refresh               ``stop_ms``: no md, no hb, ref unanswered; oe
                                               requests and every report wait until the end
                                               (the exchange goes on: resting orders trade)
md_reset            book refresh               every book's seq restarts: the next delta is
                                               seq 1 with the whole book; status re-sent
session_break       book refresh               ``session_break_ms``: every symbol's ``status``
                                               is ``break`` (published), new orders are
                                               rejected ``session_closed``; resting orders
                                               stay; then ``open`` again
oe_reject           valid new order            ``reject`` code ``sim_fault``
oe_partial          new IOC/GTC order that     fills 1..n-1 of the n lots it could take; an
                    could take >= 2 lots       IOC remainder is canceled, a GTC remainder
                                               waits off-book and is matched again at the
                                               symbol's next refresh (then rests)
oe_swallow_ack      accepted order             no ``ack``; fills and ``done`` as usual
oe_swallow_order    new order                  never reaches the book, no reply at all;
                                               queries answer ``unknown``; the truth's order
                                               record says ``fault: oe_swallow_order``
oe_duplicate_fill   fill                       the same ``fill`` (same tid) sent twice
oe_overfill         client order that fills    the venue trades one lot more than the
                    whole                      order's quantity: a ``fill`` of 1 lot more and
                                               a ``done`` whose ``cum`` exceeds ``qty`` (the
                                               truth's fills and positions have it)
oe_swallow_cancel   cancel of an open order    never reaches the book, no reply at all: the
                                               order keeps working (and may trade)
oe_query_error      order-status query         answered ``error`` code ``unavailable``
                                               instead of the order's status
ref_snapshot_error  snapshot request (ref)     answered ``error`` code ``unavailable``
                                               instead of the snapshot
oe_late_fill        cancel of an open order    cancel: part of the leaves (1..leaves-1)
                    with >= 2 leaves; IOC/FOK  trades at the order's px just before the
                    with a fill                cancel; ``done`` (cum counts it) goes first,
                                               the ``fill`` ``oe_late_fill_ms`` after it.
                                               IOC/FOK: its last fill report goes out
                                               ``oe_late_fill_ms`` after its ``done``
oe_unknown_query    accepted order             ``query`` answers ``unknown`` until
                                               ``oe_unknown_query_ms`` after the acceptance
oe_disconnect       new order (after it is     ``oe_disconnect_ms``: oe requests arriving are
                    processed)                 lost (a lost ``new`` is in the truth's orders
                                               with ``fault: oe_disconnect``) and every oe
                                               message due to leave is dropped; orders keep
                                               working; then normal again
oe_garble           oe message leaving the     sent as a frame the protocol refuses (still
                    venue (any reply)          MessagePack): its ``t`` dropped, or its first
                                               field given a list for a value; the client
                                               loses what it said (``kind`` in the event)
oe_throttle         valid new order            the venue's rate limit (protocol v2):
                                               ``reject`` code ``throttled`` with
                                               ``retry_ms = oe_throttle_retry_ms`` (the event
                                               has ``cl``, ``account``, ``retry_ms``); a new
                                               order of that account arriving before the
                                               announced back-off ends is rejected the same
                                               way, counted ``throttle_violations`` in the
                                               truth's counts (not a fault hit)
session_down        book refresh               ``session_down_ms``: the gateway's session with
                                               its exchange is down (protocol v2): every
                                               account the venue has heard from gets
                                               ``session`` ``down``, then ``up`` at the end;
                                               new orders meanwhile are rejected
                                               ``session_down`` (counted
                                               ``orders_while_session_down``); resting orders
                                               trade on
=================== ========================== ===============================================

``oe_reuse_cl`` (bool, default True): a closed client order id is accepted again (counted
``fault_oe_reuse_cl``); False rejects it with ``duplicate_cl``. Extra counters:
``fault_oe_unknown_query_answers`` (``unknown`` answers given) and ``fault_oe_disconnect_msgs``
(oe messages lost in a disconnect).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import msgspec
import numpy as np

from transports.config.sim import FaultKind, FaultsConfig, FaultWindow
from transports.errors import ConfigError

KINDS: tuple[str, ...] = get_args(FaultKind)
SPAN_KINDS = ("md_stall", "stop", "oe_disconnect", "session_break", "session_down")
EXTRA_COUNTS = ("oe_reuse_cl", "oe_unknown_query_answers", "oe_disconnect_msgs")
MAX_EVENTS = 100_000  #: the event log stops growing here (counts go on)


def zero_counts() -> dict[str, int]:
    """Every fault counter at 0."""
    return {f"fault_{k}": 0 for k in (*KINDS, *EXTRA_COUNTS)}


class _Window:
    __slots__ = ("end", "fired", "kind", "start")

    def __init__(self, w: FaultWindow, start_ns: int, cfg: FaultsConfig) -> None:
        self.kind = w.kind
        self.start = start_ns + round(w.at_s * 1e9)
        span_s = w.for_s
        if w.kind in SPAN_KINDS and span_s == 0:
            span_s = getattr(cfg, f"{w.kind}_ms") / 1000.0
        self.end = self.start + round(span_s * 1e9)
        self.fired = False


class FaultInjector:
    """The seeded fault decisions of one venue (see the module docstring)."""

    def __init__(
        self,
        cfg: FaultsConfig,
        rng: np.random.Generator,
        *,
        venue: str = "",
        start_ns: int = 0,
        schedule: Sequence[FaultWindow] | None = None,
        counts: dict[str, int] | None = None,
        events: list[dict[str, Any]] | None = None,
    ) -> None:
        self.cfg, self.rng, self.venue = cfg, rng, venue
        self.counts = counts if counts is not None else zero_counts()
        for k, v in zero_counts().items():
            self.counts.setdefault(k, v)
        self.by_venue: dict[str, int] = {}
        self.events = events if events is not None else []
        self.last_event: dict[str, Any] = {}  # the latest hit's record (details can be added)
        sched = cfg.schedule if schedule is None else schedule
        self._windows = [
            _Window(w, start_ns, cfg) for w in sched if w.venue in ("", venue) or not venue
        ]
        self._span_until = dict.fromkeys(SPAN_KINDS, 0)  # rate-started spans

    # --- bookkeeping ----------------------------------------------------------------------------

    def count(self, kind: str, ts: int, **detail: Any) -> None:
        """Record one hit of ``kind`` at ``ts``."""
        key = f"fault_{kind}"
        self.counts[key] = self.counts.get(key, 0) + 1
        self.by_venue[key] = self.by_venue.get(key, 0) + 1
        self.last_event = {"ts": ts, "venue": self.venue, "kind": kind, **detail}
        if len(self.events) < MAX_EVENTS:
            self.events.append(self.last_event)

    def _scheduled(self, kind: str, ts: int) -> bool:
        for w in self._windows:
            if w.kind != kind or ts < w.start:
                continue
            if w.end > w.start:
                if ts < w.end:
                    return True
            elif not w.fired:
                w.fired = True
                return True
        return False

    def _hit(self, kind: str, rate: float, ts: int, **detail: Any) -> bool:
        if self._windows and self._scheduled(kind, ts):
            pass
        elif rate <= 0.0 or self.rng.random() >= rate:
            return False
        self.count(kind, ts, **detail)
        return True

    # --- spans ----------------------------------------------------------------------------------

    def span_end(self, kind: str, ts: int) -> int:
        """End of the ``kind`` span active at ``ts``, or 0."""
        end = self._span_until[kind] if ts < self._span_until[kind] else 0
        for w in self._windows:
            if w.kind == kind and w.start <= ts < w.end:
                end = max(end, w.end)
        return end

    def _start_span(self, kind: str, ts: int) -> None:
        if self.span_end(kind, ts):
            return
        rate = getattr(self.cfg, kind)
        if rate > 0.0 and self.rng.random() < rate:
            until = ts + getattr(self.cfg, f"{kind}_ms") * 1_000_000
            self._span_until[kind] = until
            self.count(kind, ts, until_ns=until)

    def tick(self, ts: int) -> bool:
        """A book refresh at ``ts``: start spans (rates, schedule); True: reset the seqs now."""
        for w in self._windows:
            if w.kind in SPAN_KINDS and not w.fired and w.start <= ts:
                w.fired = True
                self.count(w.kind, ts, until_ns=w.end)
        self._start_span("md_stall", ts)
        self._start_span("stop", ts)
        self._start_span("session_break", ts)
        self._start_span("session_down", ts)
        return self._hit("md_reset", self.cfg.md_reset, ts)

    def in_break(self, ts: int) -> bool:
        """True while the venue's session is in a break (fault ``session_break``)."""
        return bool(self.span_end("session_break", ts))

    def session_down(self, ts: int) -> bool:
        """True while the gateway's session with its exchange is down (fault ``session_down``)."""
        return bool(self.span_end("session_down", ts))

    def stopped_until(self, ts: int) -> int:
        """End of the ``stop`` active at ``ts``, or 0."""
        return self.span_end("stop", ts)

    def md_frozen(self, ts: int) -> bool:
        """True while no delta may be taken (a stall or a stop)."""
        return bool(self.span_end("md_stall", ts) or self.span_end("stop", ts))

    def oe_down(self, ts: int) -> bool:
        """True while the oe connection is down."""
        return bool(self.span_end("oe_disconnect", ts))

    def after_order(self, ts: int) -> None:
        """A new order was processed at ``ts``: maybe the oe connection drops now (the rate)."""
        self._start_span("oe_disconnect", ts)

    # --- market data ----------------------------------------------------------------------------

    def md_action(self, ts: int, sym: str, seq: int, *, delay: bool = True) -> str | None:
        """The fault for this delta (the first switch that hits, in this order): md_drop,
        md_bad, md_duplicate, md_crossed, md_delay (not while already held: ``delay`` False),
        md_reorder, or None."""
        c = self.cfg
        for kind, rate in (
            ("md_drop", c.md_drop),
            ("md_bad", c.md_bad),
            ("md_duplicate", c.md_duplicate),
            ("md_crossed", c.md_crossed),
            ("md_delay", c.md_delay),
        ):
            if (delay or kind != "md_delay") and self._hit(kind, rate, ts, sym=sym, seq=seq):
                return kind
        if (self._windows and self._scheduled("md_reorder", ts)) or (
            c.md_reorder > 0.0 and self.rng.random() < c.md_reorder
        ):
            return "md_reorder"  # counted by the caller once the swap happens
        return None

    def bad_kind(self) -> str:
        """Which bad value to put in a ``md_bad`` frame."""
        kinds = self.cfg.md_bad_kinds
        return kinds[int(self.rng.integers(0, len(kinds)))]

    # --- orders ---------------------------------------------------------------------------------

    def reject_order(self, ts: int = 0, cl: str = "") -> bool:
        """True: reject this otherwise valid order (code ``sim_fault``)."""
        return self._hit("oe_reject", self.cfg.oe_reject, ts, cl=cl)

    def throttle(self, ts: int, cl: str, account: str) -> int:
        """The back-off (ms) to announce when this otherwise valid order is throttled, else 0."""
        retry_ms = self.cfg.oe_throttle_retry_ms
        if not self._hit("oe_throttle", self.cfg.oe_throttle, ts, cl=cl, account=account,
                         retry_ms=retry_ms):
            return 0
        return retry_ms

    def partial_cap(self, qty: int, available: int, ts: int = 0, cl: str = "") -> int | None:
        """A cap below what this order could take now (1..n-1), or None (no fault)."""
        n = min(qty, available)
        if n < 2 or not self._hit("oe_partial", self.cfg.oe_partial, ts, cl=cl):
            return None
        return int(self.rng.integers(1, n))

    def swallow_ack(self, ts: int, cl: str) -> bool:
        """True: do not send this order's ack."""
        return self._hit("oe_swallow_ack", self.cfg.oe_swallow_ack, ts, cl=cl)

    def swallow_order(self, ts: int, cl: str) -> bool:
        """True: this order never reaches the book and gets no reply."""
        return self._hit("oe_swallow_order", self.cfg.oe_swallow_order, ts, cl=cl)

    def duplicate_fill(self, ts: int, cl: str, tid: str) -> bool:
        """True: send this fill twice (same tid)."""
        return self._hit("oe_duplicate_fill", self.cfg.oe_duplicate_fill, ts, cl=cl, tid=tid)

    def overfill(self, ts: int, cl: str) -> bool:
        """True: this filled order trades one lot more than its quantity."""
        return self._hit("oe_overfill", self.cfg.oe_overfill, ts, cl=cl)

    def swallow_cancel(self, ts: int, cl: str) -> bool:
        """True: this cancel of an open order is lost (no effect, no reply)."""
        return self._hit("oe_swallow_cancel", self.cfg.oe_swallow_cancel, ts, cl=cl)

    def query_error(self, ts: int, cl: str) -> bool:
        """True: this order-status query is answered ``error`` instead of the status."""
        return self._hit("oe_query_error", self.cfg.oe_query_error, ts, cl=cl)

    def snapshot_error(self, ts: int, sym: str) -> bool:
        """True: this snapshot request is answered ``error`` instead of the snapshot."""
        return self._hit("ref_snapshot_error", self.cfg.ref_snapshot_error, ts, sym=sym)

    def late_fill(self, ts: int, cl: str) -> bool:
        """True: a fill of this order goes out ``oe_late_fill_ms`` after its ``done``."""
        return self._hit("oe_late_fill", self.cfg.oe_late_fill, ts, cl=cl)

    def garble(self, ts: int, msg: Any, account: str = "") -> Any:
        """``msg`` (a reply to ``account`` about to leave) as a frame the protocol's decoder
        must refuse, or None (no fault)."""
        name = type(msg).__name__ if isinstance(msg, msgspec.Struct) else str(
            msg.get("t", "?") if isinstance(msg, dict) else "?")
        if not self._hit("oe_garble", self.cfg.oe_garble, ts, t=name, account=account):
            return None
        d = msgspec.to_builtins(msg) if isinstance(msg, msgspec.Struct) else dict(msg)
        fields = [k for k in d if k != "t"]
        if not fields or self.rng.random() < 0.5:
            d.pop("t", None)
            self.last_event["how"] = "no_tag"
        else:
            d[fields[0]] = [[fields[0]]]  # a list where the protocol wants a scalar
            self.last_event["how"] = f"bad_type:{fields[0]}"
        return d

    def unknown_until(self, ts: int, cl: str) -> int:
        """Until when queries of this new order answer ``unknown`` (0: never)."""
        if not self._hit("oe_unknown_query", self.cfg.oe_unknown_query, ts, cl=cl):
            return 0
        return ts + self.cfg.oe_unknown_query_ms * 1_000_000


# --- presets ------------------------------------------------------------------------------------


class _Preset(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    faults: FaultsConfig = FaultsConfig()


class _PresetFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sim: _Preset = _Preset()


def preset_names() -> list[str]:
    """The fault presets shipped in ``conf/faults/``."""
    d = resources.files("conf").joinpath("faults")
    if not d.is_dir():
        return []
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".toml"))


def load_preset(name: str) -> FaultsConfig:
    """The ``[sim.faults]`` table of ``conf/faults/<name>.toml`` (or of a ``.toml`` path).

    Raises ``ConfigError`` naming the preset when it does not exist or does not validate.
    """
    if name.endswith(".toml") or "/" in name:
        p = Path(name)
        if not p.is_file():
            raise ConfigError(f"fault preset file not found: {name}")
        raw, source = p.read_bytes(), name
    else:
        src = resources.files("conf").joinpath("faults", f"{name}.toml")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not src.is_file():
            known = ", ".join(preset_names()) or "none"
            raise ConfigError(f"unknown fault preset {name!r} (known: {known})")
        raw, source = src.read_bytes(), f"conf/faults/{name}.toml"
    try:
        return msgspec.toml.decode(raw, type=_PresetFile).sim.faults
    except msgspec.ValidationError as exc:
        raise ConfigError(f"fault preset {name!r} ({source}): {exc}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"fault preset {name!r} ({source}): not valid TOML: {exc}") from None
