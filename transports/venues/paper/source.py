"""Where the paper venue's market data comes from, and what the source lists.

The source is any protocol gateway (the simulator, a ccxt gateway, CTP): its md socket (SUB to
its PUB) and its ref socket (DEALER to its ROUTER). Its addresses are those of the config's venue
named by ``[venues.paper] md_from``, or ``--md-from``: either another venue name of the config or
explicit endpoints ``md=ADDR,ref=ADDR``. ``{sock}`` in an address is the socket directory.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import zmq

from transports.clock import Clock
from transports.config.engine import AppConfig, VenueConfig, with_overrides
from transports.errors import ConfigError, VenueError
from transports.venues.paper.ledger import Spec
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import Instrument, Instruments, InstrumentsReq, RefReply

REF_CODEC: Codec[Any] = Codec(RefReply)
RETRY_NS = 1_000_000_000  #: an unanswered instruments request is sent again after this
POLL_NS = 50_000_000  #: longest wait for it, so a stop is noticed


@dataclass(frozen=True, slots=True)
class SourceAddrs:
    """The source gateway's md and ref endpoints (``{sock}`` filled in)."""

    md: str
    ref: str


def paper_venue(cfg: AppConfig, name: str | None) -> VenueConfig:
    """The ``[[venues]]`` entry to serve: ``name``, or the config's only paper venue."""
    papers = [v for v in cfg.venues if v.paper is not None]
    if name is None:
        if len(papers) != 1:
            names = ", ".join(v.name for v in papers) or "none"
            raise ConfigError(f"--venue: name the paper venue to serve (paper venues: {names})")
        return papers[0]
    v = next((v for v in cfg.venues if v.name == name), None)
    if v is None:
        raise ConfigError(f"--venue: no venue {name!r} in the config")
    if v.paper is None:
        raise ConfigError(f"--venue: venue {name!r} has no [venues.paper] section")
    return v


def source_addrs(cfg: AppConfig, venue: VenueConfig, sock_dir: str,
                 md_from: str | None = None) -> SourceAddrs:
    """The source's endpoints: ``md_from`` (a venue name or ``md=..,ref=..``) or else the venue
    that ``[venues.paper] md_from`` names."""
    assert venue.paper is not None
    spec = md_from or venue.paper.md_from
    if "=" in spec:
        parts: dict[str, str] = {}
        for item in spec.split(","):
            key, sep, val = item.strip().partition("=")
            if not sep or key not in ("md", "ref") or not val:
                raise ConfigError(f"--md-from: expected md=ADDR,ref=ADDR or a venue name, got "
                                  f"{spec!r}")
            parts[key] = val
        if set(parts) != {"md", "ref"}:
            raise ConfigError(f"--md-from: both md= and ref= are needed, got {spec!r}")
        return SourceAddrs(parts["md"].replace("{sock}", sock_dir),
                           parts["ref"].replace("{sock}", sock_dir))
    src = next((v for v in cfg.venues if v.name == spec), None)
    if src is None:
        raise ConfigError(f"--md-from: no venue {spec!r} in the config")
    if src.name == venue.name:
        raise ConfigError(f"--md-from: venue {spec!r} cannot take market data from itself")
    return SourceAddrs(src.md.replace("{sock}", sock_dir), src.ref.replace("{sock}", sock_dir))


def fetch_instruments(sock: zmq.Socket[Any], clock: Clock, timeout_s: float,
                      stop: threading.Event | None = None) -> Instruments:
    """Ask the source's ref (a connected DEALER) for its instruments, again every second until
    an answer comes; ``VenueError`` after ``timeout_s`` or once ``stop`` is set."""
    deadline = clock.mono_ns() + int(timeout_s * 1e9)
    next_send = 0
    while (now := clock.mono_ns()) < deadline:
        if stop is not None and stop.is_set():
            raise VenueError("stopped before the source listed its instruments")
        if now >= next_send:
            sock.send(encode(InstrumentsReq()), zmq.NOBLOCK)
            next_send = now + RETRY_NS
        wait_ms = max(1, min(next_send, deadline, now + POLL_NS) - now) // 1_000_000
        if not sock.poll(wait_ms, zmq.POLLIN):
            continue
        try:
            reply = REF_CODEC.decode(sock.recv_multipart()[-1])
        except Exception:  # noqa: BLE001 - a bad frame is not an answer; keep asking
            continue
        if isinstance(reply, Instruments):
            return reply
    raise VenueError(f"the source's ref socket did not list its instruments in {timeout_s:g} s")


def specs_of(instruments: Instruments, cfg: AppConfig, venue: str) -> dict[str, Spec]:
    """The paper venue's instruments: the source's list; the margin rate from the instrument
    (version 2) or else the paper venue's contract config. A contract configured for the paper
    venue that the source does not list is a ``ConfigError`` naming it."""
    contracts = {c.sym: c for c in cfg.contracts if c.venue == venue}
    listed = {i.sym: i for i in instruments.list}
    missing = sorted(set(contracts) - set(listed))
    if missing:
        raise ConfigError(f"venue {venue!r}: the source lists no {', '.join(missing)} "
                          f"(it lists {', '.join(sorted(listed)) or 'nothing'})")
    out = {}
    for sym, ins in listed.items():
        try:
            tick, lot = Decimal(ins.tick), Decimal(ins.lot)
        except InvalidOperation:
            raise VenueError(f"source instrument {sym}: tick {ins.tick!r} or lot {ins.lot!r} "
                             "is not a decimal") from None
        c = contracts.get(sym)
        margin = ins.margin_rate or (c.margin_rate if c is not None else 0.0)
        out[sym] = Spec(sym, tick, lot, ins.ccy, ins.min_qty, ins.max_qty, ins.kind, ins.base,
                        margin)
    return out


def sim_view(cfg: AppConfig) -> AppConfig:
    """The config the simulator gateway runs beside paper venues: the paper venues and their
    contracts left out (their gateway binds their addresses, not the simulator), and a pair leg
    on a paper venue moved to the same symbol on the venue its market data comes from, so the
    simulator quotes that market as the pair's leg and measures its windows there."""
    paper = {v.name: v.paper.md_from for v in cfg.venues if v.paper is not None}
    if not paper:
        return cfg

    def moved(key: str) -> str:
        venue, sep, sym = key.partition(":")
        while venue in paper:  # a paper venue may take its data from another paper venue
            venue = paper[venue]
        return f"{venue}{sep}{sym}" if key else key

    pairs = [msgspec.structs.replace(p, leg_a=moved(p.leg_a), leg_b=moved(p.leg_b),
                                     fx=moved(p.fx)) for p in cfg.pairs]
    return with_overrides(cfg, venues=[v for v in cfg.venues if v.name not in paper],
                          contracts=[c for c in cfg.contracts if c.venue not in paper],
                          pairs=pairs)


def republished(instruments: Instruments, taker_bps: float, maker_bps: float) -> Instruments:
    """The source's list as the paper venue serves it: version 2, with the paper's fees."""
    rows: list[Instrument] = [msgspec.structs.replace(i, taker_bps=taker_bps,
                                                      maker_bps=maker_bps)
                              for i in instruments.list]
    return Instruments(list=rows, v=2)


__all__ = ["SourceAddrs", "fetch_instruments", "paper_venue", "republished", "sim_view",
           "source_addrs", "specs_of"]
