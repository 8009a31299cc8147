"""A feed's clock calibration: the venue's clock offset and the one-way latency to it.

Every heartbeat gives ``recv − venue_ts`` = one-way latency − offset; pings on a dedicated oe
connection give round trips. The sample with the smallest round trip gives the offset
(NTP-style midpoint) and half that round trip the one-way latency; without round trips with a
venue time (version 1 pongs give the round trip only), the heartbeats give the offset less one
way. Both are published in ``FeedHealth`` (``actors.feed.FeedCore``, which owns one of these).

A pure helper with its own state (the last ``CLOCK_WINDOW`` samples of each kind): no clock
reads, the caller passes its receive times.
"""

from __future__ import annotations

from transports.wire.venue_msgs import Pong

#: clock samples kept for the min-filter
CLOCK_WINDOW = 64


class FeedClock:
    """The samples of one venue's clock and what they say (``clock``)."""

    #: ``min(clock_samples)`` while known, kept as samples come and go so that ``clock`` (every
    #: health period) does not walk the window; None: worked out at the next ``clock`` (a
    #: class default: an older pickle has none)
    _best: tuple[int, int] | None = None

    def __init__(self, clock_samples: list[tuple[int, int]] | None = None,
                 hb_deltas: list[int] | None = None,
                 rtt_samples: list[int] | None = None) -> None:
        #: (round trip ns, offset ns) from version 2 pongs
        self.clock_samples: list[tuple[int, int]] = clock_samples or []
        self.hb_deltas: list[int] = hb_deltas or []  #: recv - venue ts of recent heartbeats
        #: round trips from version 1 pongs (no venue time)
        self.rtt_samples: list[int] = rtt_samples or []

    def on_heartbeat(self, ts_venue_ns: int, now_ns: int) -> None:
        """A heartbeat stamped ``ts_venue_ns`` by the venue arrived at ``now_ns``."""
        self.hb_deltas.append(now_ns - ts_venue_ns)
        if len(self.hb_deltas) > CLOCK_WINDOW:
            del self.hb_deltas[0]

    def on_pong(self, p: Pong, now_ns: int) -> None:
        """A pong, in either form the protocol allows: version 2 echoes the ping's time in
        ``echo`` and stamps its own in ``ts``; version 1 echoes the ping's time in ``ts`` and
        gives no venue time, so it yields the round trip only (docs/venue-protocol.md)."""
        if p.echo <= 0:  # version 1: ``ts`` is the echo
            if 0 < p.ts <= now_ns:
                self.rtt_samples.append(now_ns - p.ts)
                if len(self.rtt_samples) > CLOCK_WINDOW:
                    del self.rtt_samples[0]
            return
        if p.echo > now_ns:
            return
        rtt = now_ns - p.echo
        # NTP-style: the venue stamped its reply about half way through the round trip
        sample = (rtt, p.ts - (p.echo + now_ns) // 2)
        samples = self.clock_samples
        samples.append(sample)
        best = self._best
        if len(samples) > CLOCK_WINDOW:
            gone = samples.pop(0)
            if gone == best:
                best = None  # the best left the window: the next ``clock`` looks for it
        if best is not None and sample < best:
            best = sample
        self._best = best

    def clock(self) -> tuple[int, int]:
        """Return (offset_ns, one_way_ns): venue clock minus ours, and one-way latency."""
        if self.clock_samples:
            best = self._best
            if best is None:
                best = self._best = min(self.clock_samples)
            rtt, offset = best
            return offset, rtt // 2
        if self.hb_deltas:
            # a heartbeat arrives one way after its venue time: recv - ts = one_way - offset;
            # without a round trip (no pongs) offset and latency are not separable
            one_way = min(self.rtt_samples) // 2 if self.rtt_samples else 0
            return one_way - min(self.hb_deltas), one_way
        return 0, 0


__all__ = ["CLOCK_WINDOW", "FeedClock"]
