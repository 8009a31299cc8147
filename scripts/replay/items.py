"""Typed decoding of journal BATCH bodies for ``cmc replay --verify``: one msgspec call a batch.

An item ``[src, dest, msg]`` decodes as an array-like Struct tagged by its ``src`` (the tag is
the array's first element): venue frames from ``@md``/``@ref``/``@oe`` to the union of their
socket, the other external items (``@timer``, ``@group``, ``@start`` ...) to ``AnyMsg``, and the
items the group's own actors caused left as ``msgspec.Raw`` (the replay compares their bytes and
never decodes them). That is ``transports.journal.format.decode_item``'s rule, done by msgspec
in C for the whole batch instead of one Python call per item.

A batch the typed decoder refuses — a source it does not know, an internal message on a venue
socket (a ``BadFrame``), a venue frame only the lenient codec reads, a body past the codec's
frame limit — comes back as ``None``; ``lazy_items`` then gives the same items decoded one by one
by ``decode_item`` when they are used, so either path feeds the cores the same messages.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from transports.journal.format import decode_batch_raw, decode_item
from transports.wire.codec import MAX_FRAME_BYTES
from transports.wire.messages import AnyMsg
from transports.wire.venue_msgs import MdMessage, OeReply, RefReply

#: external sources whose messages are venue frames, with their socket's union
VENUE_SOURCES: dict[str, Any] = {"@md": MdMessage, "@ref": RefReply, "@oe": OeReply}
#: external sources whose messages are internal (tagged arrays)
INTERNAL_SOURCES = ("@timer", "@group", "@start", "@stop", "@supervisor", "@clock", "@wal")

#: a decoded batch: ``(ts_ns, group, items)``; each item has ``src``, ``ext`` (``src`` starts
#: with ``@``: fed to the cores), ``dest`` and ``msg`` (typed when ``ext``, else raw bytes)
Batch = tuple[int, str, list[Any]]


def _item_type(n: int, src: str, msg_type: Any) -> type:
    return msgspec.defstruct(
        f"Item{n}",
        [("dest", str), ("msg", msg_type)],
        array_like=True,
        tag=src,
        frozen=True,
        gc=False,
        namespace={"src": src, "ext": src[:1] == "@", "__doc__": f"an item from {src!r}"},
    )


def batch_decoder(actors: Iterable[str]) -> Callable[[bytes | memoryview], Batch | None]:
    """Return ``decode(body)`` for BATCH bodies whose internal senders are ``actors`` (and the
    journal's own ``""``): the decoded batch, or None when the typed decode does not apply."""
    sources: list[tuple[str, Any]] = list(VENUE_SOURCES.items())
    sources += [(s, AnyMsg) for s in INTERNAL_SOURCES]
    sources += [(a, msgspec.Raw) for a in sorted({"", *actors}) if a[:1] != "@"]
    union = functools.reduce(operator.or_,
                             [_item_type(n, s, t) for n, (s, t) in enumerate(sources)])
    dec = msgspec.msgpack.Decoder(tuple[int, str, list[union]])  # type: ignore[valid-type]
    decode, limit = dec.decode, MAX_FRAME_BYTES
    # anything the typed decode refuses is left to the generic path, which raises what it
    # always raised for a bad batch (or reads what the lenient codec reads)
    errors = (msgspec.DecodeError, RecursionError)

    def decode_batch(body: bytes | memoryview) -> Batch | None:
        if len(body) > limit:
            return None
        try:
            return decode(body)  # type: ignore[no-any-return]
        except errors:
            return None

    return decode_batch


_peek = msgspec.msgpack.Decoder(tuple[int, str, msgspec.Raw])


def peek_batch(body: bytes | memoryview) -> tuple[int, str, int]:
    """Return ``(ts_ns, group, number of items)`` of a BATCH body without decoding its items
    (the count is read from the items array's MessagePack header)."""
    ts, group, rest = _peek.decode(body)
    head = memoryview(rest)
    b = head[0]
    if 0x90 <= b <= 0x9F:  # fixarray
        return ts, group, b & 0x0F
    if b == 0xDC:  # array 16
        return ts, group, int.from_bytes(head[1:3], "big")
    if b == 0xDD:  # array 32
        return ts, group, int.from_bytes(head[1:5], "big")
    return ts, group, len(decode_batch_raw(body)[2])  # not an array: as the generic decode fails


class LazyItem:
    """One item of a batch the typed decoder refused: decoded by ``decode_item`` on use."""

    __slots__ = ("dest", "ext", "raw", "src")

    def __init__(self, src: str, dest: str, raw: Any) -> None:
        self.src, self.dest, self.raw = src, dest, raw
        self.ext = src[:1] == "@"

    @property
    def msg(self) -> Any:
        """The typed message of an external item, the raw bytes of any other."""
        return decode_item(self.src, self.dest, self.raw) if self.ext else self.raw


def lazy_items(body: bytes | memoryview) -> Batch:
    """Return a batch decoded generically (``decode_batch_raw``), its items ``LazyItem``\\s."""
    ts, group, items = decode_batch_raw(body)
    return ts, group, [LazyItem(s, d, r) for s, d, r in items]


__all__ = ["INTERNAL_SOURCES", "VENUE_SOURCES", "Batch", "LazyItem", "batch_decoder",
           "lazy_items", "peek_batch"]
