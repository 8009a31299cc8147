"""Run-time fault switches of a fake exchange (set through ``POST /__fake__/fault``).

The simulator's own switches (``[sim.faults]``, schedules) act inside the ``SimCore`` as they do
in the simulator; these act at the fake's edge, on top, so a test can hit an exact moment. A
switch is a JSON object ``{"kind": ..., ...}``; ``account`` empty = every account, ``venue``
empty = every served venue (the exchange layer turns ``market`` into ``venue``):

=================== ================================= =========================================
kind                parameters                        effect
=================== ================================= =========================================
drop_diff           venue, sym ("" any), n (1)        the next n deltas are not sent; their
                                                      update ids are used (a gap)
stall_md            venue, ms                         md of the venue is held for ms, then sent
                                                      in order (no gap; the book goes stale)
disconnect_private  venue, account, ms (0)            the account's private streams are closed
                                                      by the server (clients must reconnect);
                                                      new ones are refused (closed at once) for
                                                      ms more
reject_orders       account, n (1)                    the next n new orders are rejected
                                                      (never reach the book)
throttle_orders     account, n (1)                    the next n new orders get the exchange's
                                                      rate-limit answer (HTTP 429)
delay               account, ms                       every REST response waits ms more (0:
                                                      off again)
timeout_order       account, n (1), mode              the next n new orders execute but their
                    ("error" | "hang"), hang_ms       HTTP response is the exchange's timeout
                                                      error ("error", Binance -1007) or comes
                                                      only after hang_ms ("hang", default 30 s)
lose_reply          account, n (1)                    the venue's answer to the next n requests
                                                      (order or read) is lost: the request takes
                                                      effect, the HTTP answer is the exchange's
                                                      timeout error after the fake's wait
clock_offset        ms                                the fake's clock (server time, timestamp
                                                      checks) is shifted by ms
clear               -                                 every switch off
=================== ================================= =========================================

Every switch set and every hit is counted in ``counts`` and logged in ``events`` (the truth's
``fake_faults``).
"""

from __future__ import annotations

from typing import Any

from transports.errors import CmcError

KINDS = ("drop_diff", "stall_md", "disconnect_private", "reject_orders", "throttle_orders",
         "delay", "timeout_order", "lose_reply", "clock_offset", "clear")
MAX_EVENTS = 10_000


class FaultSpecError(CmcError):
    """A fault switch the fake does not understand (the control endpoint answers 400)."""


class FakeFaults:
    """The switches and their record; pure state (callers pass ``now`` in ns)."""

    def __init__(self) -> None:
        self.drop: dict[tuple[str, str], int] = {}  # (venue, sym or "") -> deltas left to drop
        self.stall_until: dict[str, int] = {}  # venue -> ns
        self.reject: dict[str, int] = {}  # account or "" -> orders left
        self.throttle: dict[str, int] = {}
        self.lose: dict[str, int] = {}  # account or "" -> answers left to lose
        self.delay_ms: dict[str, int] = {}
        self.timeout: dict[str, tuple[int, str, int]] = {}  # account -> (n, mode, hang_ms)
        self.clock_offset_ms = 0
        #: (venue or "", account or "") -> ns until which new private streams are refused
        self.private_down_until: dict[tuple[str, str], int] = {}
        self.counts: dict[str, int] = {}
        self.events: list[dict[str, Any]] = []

    def private_down(self, venue: str, account: str, now: int) -> bool:
        """True while ``disconnect_private``'s outage refuses ``account``'s streams on
        ``venue``."""
        d = self.private_down_until
        return any(d.get(k, 0) > now for k in ((venue, account), ("", account), (venue, ""),
                                               ("", "")))

    def record(self, kind: str, now: int, **detail: Any) -> None:
        """Count one hit (or setting) of ``kind``."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.events) < MAX_EVENTS:
            self.events.append({"ts": now, "kind": kind, **detail})

    def set(self, spec: dict[str, Any], now: int) -> None:
        """Apply one switch (see the module docstring); ``disconnect_private`` is the core's."""
        kind = spec.get("kind")
        if kind not in KINDS:
            raise FaultSpecError(f"unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
        try:
            n = int(spec.get("n", 1))
            ms = int(spec.get("ms", 0))
        except (TypeError, ValueError):
            raise FaultSpecError(f"fault {kind}: n and ms must be integers") from None
        acct, venue = str(spec.get("account", "")), str(spec.get("venue", ""))
        if kind == "disconnect_private":
            self.private_down_until[(venue, acct)] = now + ms * 1_000_000
        elif kind == "drop_diff":
            self.drop[(venue, str(spec.get("sym", "")))] = n
        elif kind == "stall_md":
            self.stall_until[venue] = now + ms * 1_000_000
        elif kind == "reject_orders":
            self.reject[acct] = n
        elif kind == "throttle_orders":
            self.throttle[acct] = n
        elif kind == "lose_reply":
            self.lose[acct] = n
        elif kind == "delay":
            self.delay_ms[acct] = ms
        elif kind == "timeout_order":
            mode = str(spec.get("mode", "error"))
            if mode not in ("error", "hang"):
                raise FaultSpecError(f"timeout_order: mode must be error or hang, got {mode!r}")
            self.timeout[acct] = (n, mode, int(spec.get("hang_ms", 30_000)))
        elif kind == "clock_offset":
            self.clock_offset_ms = ms
        elif kind == "clear":  # every switch off; the record stays
            counts, events = self.counts, self.events
            self.__init__()  # type: ignore[misc]
            self.counts, self.events = counts, events
        self.record(f"set_{kind}", now, **{k: v for k, v in spec.items() if k != "kind"})

    # --- consumers ------------------------------------------------------------------------------

    def _take(self, table: dict[str, int], account: str) -> bool:
        for key in (account, ""):
            if table.get(key, 0) > 0:
                table[key] -= 1
                return True
        return False

    def take_reject(self, account: str, now: int, cl: str) -> bool:
        """True: reject this new order (a ``reject_orders`` hit)."""
        hit = self._take(self.reject, account)
        if hit:
            self.record("reject_orders", now, account=account, cl=cl)
        return hit

    def take_throttle(self, account: str, now: int) -> bool:
        """True: answer this new order with the rate-limit error."""
        hit = self._take(self.throttle, account)
        if hit:
            self.record("throttle_orders", now, account=account)
        return hit

    def take_lose(self, account: str, now: int, what: str) -> bool:
        """True: lose the venue's answer to this request (a ``lose_reply`` hit)."""
        hit = self._take(self.lose, account)
        if hit:
            self.record("lose_reply", now, account=account, t=what)
        return hit

    def take_timeout(self, account: str, now: int, cl: str) -> tuple[str, int] | None:
        """(mode, hang_ms) when this new order's response must time out, else None."""
        for key in (account, ""):
            n, mode, hang_ms = self.timeout.get(key, (0, "", 0))
            if n > 0:
                self.timeout[key] = (n - 1, mode, hang_ms)
                self.record("timeout_order", now, account=account, cl=cl, mode=mode)
                return mode, hang_ms
        return None

    def take_drop(self, venue: str, sym: str, now: int, seq: int) -> bool:
        """True: do not send this delta."""
        for key in ((venue, sym), (venue, ""), ("", sym), ("", "")):
            if self.drop.get(key, 0) > 0:
                self.drop[key] -= 1
                self.record("drop_diff", now, venue=venue, sym=sym, seq=seq)
                return True
        return False

    def stalled_until(self, venue: str, now: int) -> int:
        """End of the md stall of ``venue`` active at ``now``, or 0."""
        end = max(self.stall_until.get(venue, 0), self.stall_until.get("", 0))
        return end if end > now else 0

    def delay_s(self, account: str) -> float:
        """Extra delay of a REST response to ``account``, seconds."""
        return max(self.delay_ms.get(account, 0), self.delay_ms.get("", 0)) / 1000.0

    def to_dict(self) -> dict[str, Any]:
        """The record: counts and events."""
        return {"counts": dict(self.counts), "events": [dict(e) for e in self.events]}


__all__ = ["KINDS", "FakeFaults", "FaultSpecError"]
