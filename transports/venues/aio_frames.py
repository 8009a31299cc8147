"""What the asyncio gateways (ccxt, CTP, IB) share to read the engine's sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import zmq
import zmq.asyncio

from transports.wire.venue_msgs import Error

#: the most frames one read takes before the loop runs its other work again
MAX_FRAMES = 256


async def ready_frames(sock: zmq.asyncio.Socket, poll_ms: int) -> list[list[bytes]]:
    """Wait up to ``poll_ms`` for ``sock`` to be readable (so a loop notices a stop), then take
    what it holds without waiting, at most ``MAX_FRAMES`` multipart messages; [] if none came."""
    if not await sock.poll(poll_ms, zmq.POLLIN):
        return []
    out = []
    for _ in range(MAX_FRAMES):
        try:
            out.append(await sock.recv_multipart(flags=zmq.NOBLOCK))
        except zmq.Again:
            break
    return out


def decode_request(frames: list[bytes], dec: msgspec.msgpack.Decoder[Any]) -> Any:
    """The request in one ``[identity, payload]`` message a gateway's ROUTER read, or an
    ``Error(code="malformed")`` saying what is wrong with it (a message of another length, a
    payload that does not decode): the reply to send back to ``frames[0]`` instead of an answer.
    One rule for every asyncio gateway's ref and oe loops, so a hostile frame never ends one."""
    if len(frames) != 2:
        return Error(code="malformed",
                     msg=f"expected [identity, payload], got {len(frames)} frames")
    try:
        return dec.decode(frames[1])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return Error(code="malformed", msg=str(exc)[:200])


async def answer_subscriptions(sock: zmq.asyncio.Socket, poll_ms: int,
                               status_for: Callable[[str], Iterable[tuple[str, Any]]],
                               publish: Callable[[str, Any], None]) -> None:
    """Forever: answer each subscription the md XPUB reports (``XPUB_VERBOSE``: a
    re-subscription after an engine restart too) with ``status_for(prefix)``, the current
    session ``status`` of the symbols it covers, published at once (the simulator's rule,
    docs/venue-protocol.md ``status``)."""
    while True:
        for frames in await ready_frames(sock, poll_ms):
            sub = frames[0] if len(frames) == 1 else b""
            if sub[:1] == b"\x01":
                for topic, msg in status_for(sub[1:].decode("utf-8", "replace")):
                    publish(topic, msg)


__all__ = ["MAX_FRAMES", "answer_subscriptions", "decode_request", "ready_frames"]
