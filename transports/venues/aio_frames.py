"""What the asyncio gateways (ccxt, CTP, IB) share to read the engine's sockets."""

from __future__ import annotations

import zmq
import zmq.asyncio

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


__all__ = ["MAX_FRAMES", "ready_frames"]
