"""The venues ``cmc config new`` asks: ``NAME=md,ref,oe`` specs and one ``instruments`` request
per venue on its ref socket, each bounded by a timeout.

A venue that does not answer, answers with an error, or lists an instrument the engine could not
trade (no symbol, a tick or lot that is not a positive decimal) is a ``VenueError`` naming the
venue and the endpoint, so the operator knows which gateway to look at.
"""

from __future__ import annotations

import decimal
import re
from typing import Any

import msgspec

from transports.errors import CmcError, ConfigError, VenueError
from transports.wire.venue_msgs import Instruments

#: a venue name becomes part of actor names (``feed.<name>``) and socket names: keep it plain
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class VenueSpec(msgspec.Struct, frozen=True):
    """One ``--venue NAME=md,ref,oe``: the venue's name and its gateway's three endpoints
    (``[[venues]]`` ``md``, ``ref``, ``oe``), as the config will hold them."""

    name: str
    md: str
    ref: str
    oe: str


def parse_spec(text: str) -> VenueSpec:
    """Parse ``NAME=md,ref,oe``; raise ``ConfigError`` saying what is wrong with ``text``."""
    name, eq, rest = text.partition("=")
    name = name.strip()
    if not eq or not _NAME.match(name):
        raise ConfigError(f"--venue {text!r}: expected NAME=md,ref,oe with NAME of letters, "
                          "digits, '-' or '_'")
    parts = [p.strip() for p in rest.split(",")]
    if len(parts) != 3 or not all(parts):
        raise ConfigError(f"--venue {text!r}: expected three endpoints md,ref,oe, got "
                          f"{len(parts)}")
    for what, ep in zip(("md", "ref", "oe"), parts, strict=True):
        if "://" not in ep:
            raise ConfigError(f"--venue {name}: {what} endpoint {ep!r} is not a ZeroMQ address "
                              "(tcp://host:port, ipc://path)")
    return VenueSpec(name, *parts)


def parse_specs(texts: list[str] | tuple[str, ...]) -> list[VenueSpec]:
    """Parse every ``--venue``; a name given twice is a ``ConfigError``."""
    specs = [parse_spec(t) for t in texts]
    seen: set[str] = set()
    for s in specs:
        if s.name in seen:
            raise ConfigError(f"--venue {s.name}: given twice")
        seen.add(s.name)
    if not specs:
        raise ConfigError("no --venue given (NAME=md,ref,oe)")
    return specs


def _positive(text: str) -> bool:
    try:
        d = decimal.Decimal(str(text))
    except (ArithmeticError, ValueError):
        return False
    return d.is_finite() and d > 0


def ask_instruments(ctx: Any, spec: VenueSpec, sock_dir: str, timeout_ms: int) -> Instruments:
    """Ask ``spec``'s ref socket for its instruments (``{sock}`` filled with ``sock_dir``);
    raise ``VenueError`` naming the venue and endpoint when it does not answer in
    ``timeout_ms``, refuses, or lists an instrument the engine cannot use."""
    from actors.runtime.instruments import fetch_instruments

    address = spec.ref.replace("{sock}", sock_dir)
    where = f"venue {spec.name!r} (ref {address})"
    try:
        reply = fetch_instruments(ctx, address, timeout_ms)
    except CmcError as exc:  # no answer, an error reply, or not an instruments reply
        raise VenueError(f"{where}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - zmq's connect refuses a bad address this way
        raise VenueError(f"{where}: cannot ask for instruments: {exc}") from None
    if not reply.list:
        raise VenueError(f"{where}: lists no instruments")
    seen: set[str] = set()
    for i, ins in enumerate(reply.list):
        if not ins.sym:
            raise VenueError(f"{where}: instrument {i} has no symbol")
        if ins.sym in seen:
            raise VenueError(f"{where}: lists {ins.sym!r} twice")
        seen.add(ins.sym)
        for fld in ("tick", "lot"):
            if not _positive(getattr(ins, fld)):
                raise VenueError(f"{where}: {ins.sym} {fld} {getattr(ins, fld)!r} is not a "
                                 "positive decimal")
        if not ins.ccy or not ins.unit:
            raise VenueError(f"{where}: {ins.sym} has no ccy or unit")
    return reply


def ask_all(specs: list[VenueSpec], sock_dir: str, timeout_ms: int) -> dict[str, Instruments]:
    """Every venue's instruments, in ``specs`` order (the first failure raises)."""
    import zmq

    ctx: zmq.Context[Any] = zmq.Context()
    try:
        return {s.name: ask_instruments(ctx, s, sock_dir, timeout_ms) for s in specs}
    finally:
        ctx.destroy(linger=0)


__all__ = ["VenueSpec", "ask_all", "ask_instruments", "parse_spec", "parse_specs"]
