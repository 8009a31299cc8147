"""Trading calendars: when each market is open, in the exchange's own time zone.

A calendar (``conf/calendars.toml``, ``[calendars.<name>]``) names its time zone (``zoneinfo``),
its trading days (``days``, weekday names), the sessions of one trading day and its holidays
(trading days that are closed, ``YYYY-MM-DD``). A session is ``{start, end, day_offset}`` in local
``HH:MM``: ``end <= start`` ends on the next calendar day (``end == start``: 24 hours later),
``"24:00"`` is the end of the day. ``day_offset = -1`` puts a session on the evening before its
trading day, which ``evening`` defines:

- ``"calendar"`` (CME Globex): the previous calendar day, whatever it is (Monday's session opens
  on Sunday at 17:00 CT);
- ``"trading_eve"`` (SHFE night sessions): the previous day in ``days`` (Monday's night session is
  on Friday), held only if that day is itself a trading day. So a night session belongs to the
  next trading day for holiday purposes: none on the evening before a holiday (its trading day is
  closed) and none on the last holiday evening (its evening is not a trading day).

A calendar may take its schedule from a library (``library``, a ``pandas_market_calendars``
name; ``transports/calendar_libs.py``), so holidays and early closes are not typed by hand:

- ``library_gives = "sessions"`` (CME Globex metals, ``CMEGlobex_Metals``): each trading day is
  the library's one session, open to close, early closes included; ``sessions`` stays empty;
- ``library_gives = "days"`` (SHFE/INE/DCE over ``XSHG``): the library says which days are
  trading days, the sessions (day and night, per product) are the project's own ``sessions``.

Either way a day must also be in ``days`` and not in ``holidays`` (a holiday the library does
not know yet can be added there).

Open spans that touch are one continuous span (24/7 crypto never closes). Between two spans the
market is in a ``"break"`` when the pause is at most ``break_max_min`` minutes (SHFE's 10:15-10:30
and 11:30-13:30, COMEX's daily 16:00-17:00 maintenance), else ``"closed"``. Local times that do
not exist (a DST gap) are read with the offset before the change, per ``zoneinfo`` (fold 0).

API: ``Calendar.state_at(ts_ns)`` -> ``"open" | "break" | "closed"``; ``open_until_ns(ts_ns)``
(end of the current continuous open span, ``MAX_NS`` if it does not end within ``HORIZON_DAYS``,
0 if not open); ``next_open_ns(ts_ns)`` (``ts_ns`` if open, else the next opening, 0 if none
within ``HORIZON_DAYS``); ``load_calendars(path=None)`` (the embedded file by default). Invalid
files raise ``ConfigError`` naming the field and the value. Times are Unix-epoch ns (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from transports.calendar_libs import LibraryDay, LibrarySchedule, library_schedule
from transports.errors import ConfigError

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MAX_NS = 2**63 - 1  #: "open with no end in sight"
HORIZON_DAYS = 400  #: how far ahead an end or an opening is looked for
NS_PER_MIN = 60_000_000_000
NS_PER_DAY = 1440 * NS_PER_MIN
State = Literal["open", "break", "closed"]


class SessionSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One session of a trading day, local ``HH:MM``."""

    start: str
    end: str
    day_offset: int = 0  #: 0: on the trading day; -1: the evening before (see ``evening``)


class CalendarSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One calendar as written in the TOML file."""

    tz: str
    days: list[str]
    sessions: list[SessionSpec] = []
    library: str = ""  #: a pandas_market_calendars calendar name, e.g. CMEGlobex_Metals, XSHG
    library_gives: Literal["sessions", "days"] = "days"
    holidays: list[str] = []
    evening: Literal["calendar", "trading_eve"] = "calendar"
    break_max_min: Annotated[int, msgspec.Meta(ge=0, le=1440)] = 0
    description: str = ""


class CalendarsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole file: ``[calendars.<name>]`` tables."""

    calendars: dict[str, CalendarSpec]


@dataclass(frozen=True, slots=True)
class _Session:
    start: time
    start_min: int
    end_min: int  # 1..1440, or <= start_min: the next day
    offset: int


def _minutes(text: str, where: str, *, end: bool) -> int:
    try:
        hh, mm = text.split(":")
        h, m = int(hh), int(mm)
        if len(hh) != 2 or len(mm) != 2 or not 0 <= m < 60:
            raise ValueError
        if not (0 <= h < 24 or (end and h == 24 and m == 0)):
            raise ValueError
    except ValueError:
        raise ConfigError(f"{where}: not a time HH:MM: {text!r}") from None
    return h * 60 + m


class Calendar:
    """The open spans of one market (see the module docstring)."""

    def __init__(self, name: str, spec: CalendarSpec, where: str = "") -> None:
        at = f"{where}calendars.{name}"
        self.name, self.spec = name, spec
        try:
            self.tz = ZoneInfo(spec.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{at}.tz: unknown time zone {spec.tz!r}") from None
        if not spec.days:
            raise ConfigError(f"{at}.days: no trading day")
        for i, d in enumerate(spec.days):
            if d not in WEEKDAYS or spec.days.index(d) != i:
                raise ConfigError(f"{at}.days[{i}]: not a distinct weekday {WEEKDAYS}: {d!r}")
        self.weekdays = frozenset(WEEKDAYS.index(d) for d in spec.days)
        self.lib: LibrarySchedule | None = None
        if spec.library:
            self.lib = library_schedule(spec.library, f"{at}.library")
        self.lib_sessions = self.lib is not None and spec.library_gives == "sessions"
        if self.lib_sessions and spec.sessions:
            raise ConfigError(f"{at}.sessions: the library gives the sessions "
                              f"(library_gives = \"sessions\"); leave sessions out")
        if not spec.sessions and not self.lib_sessions:
            raise ConfigError(f"{at}.sessions: no session")
        self.sessions: list[_Session] = []
        prev_end = None
        for i, s in enumerate(spec.sessions):
            w = f"{at}.sessions[{i}]"
            a = _minutes(s.start, f"{w}.start", end=False)
            b = _minutes(s.end, f"{w}.end", end=True)
            if s.day_offset not in (-1, 0):
                raise ConfigError(f"{w}.day_offset: must be -1 or 0, got {s.day_offset}")
            rel_a = s.day_offset * 1440 + a
            rel_b = rel_a + ((b - a) % 1440 or 1440)
            if prev_end is not None and rel_a < prev_end:
                raise ConfigError(f"{w}.start: {s.start!r} overlaps or precedes the session before")
            prev_end = rel_b
            self.sessions.append(_Session(time(a // 60, a % 60), a, b, s.day_offset))
        self.holidays: set[date] = set()
        for i, h in enumerate(spec.holidays):
            try:
                self.holidays.add(date.fromisoformat(h))
            except ValueError:
                raise ConfigError(f"{at}.holidays[{i}]: not a date YYYY-MM-DD: {h!r}") from None
        self.break_max_ns = spec.break_max_min * NS_PER_MIN
        self._days: dict[date, list[tuple[int, int]]] = {}
        self._memo: tuple[State, int, int, int] = ("closed", 0, 0, 0)

    # --- the schedule ---------------------------------------------------------------------------

    def is_trading_day(self, d: date) -> bool:
        """True when ``d`` (local) is a trading day: a configured weekday, not a holiday, and
        a trading day of the library when there is one."""
        if d.weekday() not in self.weekdays or d in self.holidays:
            return False
        return self.lib is None or self.lib.day(d) is not None

    def library_day(self, d: date) -> LibraryDay | None:
        """The library's schedule of trading day ``d`` (None: no library or closed there)."""
        return None if self.lib is None else self.lib.day(d)

    def holiday_name(self, d: date) -> str:
        """The library's name for ``d`` (a holiday or a special close), "" if it has none."""
        return "" if self.lib is None else self.lib.holiday_name(d)

    def _ns(self, d: date, minutes: int) -> int:
        """Local ``d`` plus ``minutes`` (may pass midnight) as epoch ns."""
        day = d + timedelta(days=minutes // 1440)
        m = minutes % 1440
        local = datetime(day.year, day.month, day.day, m // 60, m % 60, tzinfo=self.tz)
        return int(local.timestamp()) * 1_000_000_000

    def _evening(self, d: date) -> date | None:
        if self.spec.evening == "calendar":
            return d - timedelta(days=1)
        p = d - timedelta(days=1)
        while p.weekday() not in self.weekdays:
            p -= timedelta(days=1)
        return p if self.is_trading_day(p) else None

    def day_spans(self, d: date) -> list[tuple[int, int]]:
        """The sessions of trading day ``d`` as (start_ns, end_ns); [] if not a trading day."""
        got = self._days.get(d)
        if got is not None:
            return got
        out: list[tuple[int, int]] = []
        if self.lib_sessions and self.is_trading_day(d):
            lib = self.library_day(d)
            assert lib is not None
            out.append((lib.open_ns, lib.close_ns))
        elif self.is_trading_day(d):
            for s in self.sessions:
                base = d if s.offset == 0 else self._evening(d)
                if base is None:
                    continue
                end = s.end_min if s.end_min > s.start_min else s.end_min + 1440
                out.append((self._ns(base, s.start_min), self._ns(base, end)))
        self._days[d] = out
        return out

    def _date(self, ts_ns: int) -> date:
        return datetime.fromtimestamp(ts_ns // 1_000_000_000, self.tz).date()

    def spans(self, lo_ns: int, hi_ns: int) -> list[tuple[int, int]]:
        """Merged open spans that intersect [lo_ns, hi_ns), in order."""
        d, last = self._date(lo_ns) - timedelta(days=1), self._date(hi_ns) + timedelta(days=8)
        raw: list[tuple[int, int]] = []
        while d <= last:
            raw.extend(self.day_spans(d))
            d += timedelta(days=1)
        raw.sort()
        merged: list[list[int]] = []
        for s, e in raw:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return [(s, e) for s, e in merged if e > lo_ns and s < hi_ns]

    # --- questions ------------------------------------------------------------------------------

    def _locate(self, ts: int) -> tuple[State, int, int, int]:
        """(state, segment start, segment end, open-until) at ``ts``; a closed segment's end is
        the next opening (0: none within 8 days). Memoised per segment."""
        memo = self._memo  # one read: another thread may replace it
        if memo[1] <= ts < memo[2]:
            return memo
        window = 8 * NS_PER_DAY
        spans = self.spans(ts - window, ts + window)
        cur = next(((s, e) for s, e in spans if s <= ts < e), None)
        if cur is not None:
            s, e = cur
            horizon, limit = window, HORIZON_DAYS * NS_PER_DAY
            while e >= ts + horizon and horizon < limit:  # it may go on past what was built
                horizon = min(horizon * 4, limit)
                e = next(y for x, y in self.spans(ts, ts + horizon) if x <= ts < y)
            if e >= ts + horizon:
                self._memo = ("open", s, ts + limit, MAX_NS)
            else:
                self._memo = ("open", s, e, e)
            return self._memo
        prev = max((e for _, e in spans if e <= ts), default=None)
        nxt = min((s for s, _ in spans if s > ts), default=None)
        if nxt is None:
            return ("closed", ts, 0, 0)
        brk = prev is not None and nxt - prev <= self.break_max_ns
        self._memo = ("break" if brk else "closed", ts if prev is None else prev, nxt, 0)
        return self._memo

    def state_at(self, ts_ns: int) -> State:
        """``"open"``, ``"break"`` (a pause of at most ``break_max_min``) or ``"closed"``."""
        return self._locate(ts_ns)[0]

    def open_until_ns(self, ts_ns: int) -> int:
        """End of the continuous open span containing ``ts_ns`` (``MAX_NS``: no end within
        ``HORIZON_DAYS``); 0 if not open."""
        return self._locate(ts_ns)[3]

    def next_open_ns(self, ts_ns: int) -> int:
        """``ts_ns`` if open, else the start of the next open span (0: none within the horizon)."""
        state, _, nxt, _ = self._locate(ts_ns)
        if state == "open":
            return ts_ns
        if nxt:
            return nxt
        lo = ts_ns
        while lo < ts_ns + HORIZON_DAYS * NS_PER_DAY:
            hi = lo + 32 * NS_PER_DAY
            starts = [s for s, _ in self.spans(lo, hi) if s > ts_ns]
            if starts:
                return starts[0]
            lo = hi
        return 0


def parse_calendars(raw: bytes, source: str = "<calendars>") -> dict[str, Calendar]:
    """Decode and validate a calendars TOML file; errors name the field and the value."""
    try:
        spec = msgspec.toml.decode(raw, type=CalendarsFile)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return {name: Calendar(name, cs, f"{source}: ") for name, cs in spec.calendars.items()}


def load_calendars(path: str | Path | None = None) -> dict[str, Calendar]:
    """Load ``path``, or the embedded ``conf/calendars.toml`` when ``path`` is None."""
    if path is None:
        raw = resources.files("conf").joinpath("calendars.toml").read_bytes()
        return parse_calendars(raw, "conf/calendars.toml")
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"calendars file not found: {p}")
    return parse_calendars(p.read_bytes(), str(p))
