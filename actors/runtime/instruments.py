"""Instruments from the venue: before trading, each venue's ``instruments`` reply is compared
with the config, so a wrong tick, lot or currency stops the start instead of mispricing orders.

The engine prices in integer ticks and sizes in integer lots from its own config
(``ContractConfig.tick``, ``multiplier``, ``ccy``); a venue that disagrees would fill orders at
other prices and quantities than the engine believes. The check asks every venue's ``ref``
socket once (a DEALER request with a deadline), compares each configured contract of that venue
and raises ``InstrumentMismatch`` naming the field, the config's value and the venue's.
"""

from __future__ import annotations

import decimal
from typing import Any

import zmq

from transports.config.engine import AppConfig, ContractConfig
from transports.errors import ConfigError
from transports.venues.curve import secure_client
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import Error, Instrument, Instruments, InstrumentsReq, RefReply

_REF: Codec[Any] = Codec(RefReply)


class InstrumentMismatch(ConfigError):
    """The venue's instrument list disagrees with the config (or the venue did not answer)."""


def _dec(text: str | float) -> decimal.Decimal:
    return decimal.Decimal(str(text)).normalize()


def compare(index: int, c: ContractConfig, ins: Instrument | None) -> list[str]:
    """Return one message per field of contract ``index`` that the venue's entry contradicts."""
    where = f"$.contracts[{index}]"
    if ins is None:
        return [f"{where}.sym: {c.venue}:{c.sym} is not in venue {c.venue!r}'s instruments"]
    bad = []
    if _dec(c.tick) != _dec(ins.tick):
        bad.append(f"{where}.tick: config {c.tick}, venue {c.venue!r} says {ins.tick}")
    if _dec(c.multiplier) != _dec(ins.lot):
        bad.append(f"{where}.multiplier: config {c.multiplier:g}, venue {c.venue!r} says lot "
                   f"{ins.lot}")
    if c.ccy != ins.ccy:
        bad.append(f"{where}.ccy: config {c.ccy}, venue {c.venue!r} says {ins.ccy}")
    # protocol v2: a venue that wants open/close on every order (CTP) must be traded with
    # offsets, or every order would go without one and be refused (or worse, open)
    if ins.offsets and not c.offsets:
        bad.append(f"{where}.offsets: config false, venue {c.venue!r} says orders must give "
                   "an offset (set offsets = true)")
    if c.offsets and ins.offsets and ins.close_today != c.close_today:
        bad.append(f"{where}.close_today: config {str(c.close_today).lower()}, venue "
                   f"{c.venue!r} says {str(ins.close_today).lower()}")
    return bad


def fetch_instruments(ctx: zmq.Context[Any], address: str, timeout_ms: int,
                      server_key_file: str = "", client_secret_file: str = "",
                      where: str = "") -> Instruments:
    """Ask one ref socket for its instruments; raise ``InstrumentMismatch`` without an answer.

    With ``server_key_file`` the request goes as a CURVE client of that gateway, with the key
    pair of ``client_secret_file`` (``transports.venues.curve``; a missing key file is a
    ``ConfigError`` whose fields are prefixed by ``where``). A gateway that refuses the key,
    or is not the one whose key was given, answers nothing: the same "no reply" error."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, 1 << 22)
    try:
        if server_key_file:
            secure_client(sock, server_key_file, client_secret_file, where)
        sock.connect(address)
        sock.send(encode(InstrumentsReq()))
        # the ref socket also carries snapshot replies for other requesters: only ours come here
        if not sock.poll(timeout_ms, zmq.POLLIN):
            curve = (" (CURVE: is our key on the gateway's allowlist, and is "
                     f"{server_key_file} its public key?)" if server_key_file else "")
            raise InstrumentMismatch(f"no instruments reply from {address} within {timeout_ms} "
                                     f"ms{curve}")
        reply = _REF.decode(sock.recv_multipart()[-1])
    finally:
        sock.close(linger=0)
    if isinstance(reply, Error):
        raise InstrumentMismatch(f"{address}: instruments refused: {reply.code} {reply.msg}")
    if not isinstance(reply, Instruments):
        raise InstrumentMismatch(f"{address}: expected an instruments reply, got {reply!r}")
    return reply


def check_instruments(cfg: AppConfig, ctx: zmq.Context[Any], sock_dir: str,
                      timeout_ms: int = 3000) -> dict[str, int]:
    """Compare every configured contract with its venue's instruments; return the number of
    contracts checked per venue, or raise ``InstrumentMismatch`` listing every disagreement."""
    from actors.runtime.node import fill_address

    by_venue: dict[str, list[tuple[int, ContractConfig]]] = {}
    for i, c in enumerate(cfg.contracts):
        by_venue.setdefault(c.venue, []).append((i, c))
    venues = {v.name: (i, v) for i, v in enumerate(cfg.venues)}
    problems: list[str] = []
    checked: dict[str, int] = {}
    for venue, contracts in by_venue.items():
        if venue not in venues:
            continue  # the config's own validation names it
        index, v = venues[venue]
        reply = fetch_instruments(ctx, fill_address(v.ref, sock_dir),
                                  min(timeout_ms, v.request_timeout_ms * 2),
                                  v.curve_server_key, v.curve_client_secret,
                                  f"$.venues[{index}]")
        listed = {ins.sym: ins for ins in reply.list}
        for i, c in contracts:
            problems += compare(i, c, listed.get(c.sym))
        checked[venue] = len(contracts)
    if problems:
        raise InstrumentMismatch("the venues' instruments disagree with the config:\n  "
                                 + "\n  ".join(problems))
    return checked


__all__ = ["InstrumentMismatch", "check_instruments", "compare", "fetch_instruments"]
