"""The MessagePack codec: one encoder and decoder per message family, a maximum frame size,
and validation errors that name the field."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from transports.errors import CodecError
from transports.wire.messages import AnyMsg

T = TypeVar("T")

#: Largest frame accepted anywhere; a larger frame is refused before decoding.
MAX_FRAME_BYTES = 1 << 20

def _enc_hook(obj: Any) -> Any:
    # numpy scalars leak out of kernels easily; encode them as the Python number they hold
    item = getattr(obj, "item", None)
    if item is not None and getattr(obj, "shape", None) == ():
        return item()
    raise TypeError(f"cannot encode {type(obj).__name__}")


_ENCODER = msgspec.msgpack.Encoder(enc_hook=_enc_hook)


def encode(msg: Any) -> bytes:
    """Encode any message (internal or venue) as MessagePack."""
    return _ENCODER.encode(msg)


class Codec(Generic[T]):
    """A typed decoder with a frame-size limit; errors become ``CodecError`` naming the field."""

    def __init__(self, kind: Any, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(kind)
        self.max_frame_bytes = max_frame_bytes

    def decode(self, frame: bytes | memoryview) -> T:
        """Decode one frame or raise ``CodecError`` (too large, not MessagePack, bad field)."""
        if len(frame) > self.max_frame_bytes:
            raise CodecError(f"frame of {len(frame)} bytes exceeds {self.max_frame_bytes}")
        try:
            return self._decoder.decode(frame)  # type: ignore[no-any-return]
        except msgspec.ValidationError as exc:
            raise CodecError(f"invalid message: {exc}") from None
        except msgspec.DecodeError as exc:
            raise CodecError(f"malformed frame: {exc}") from None


#: An inter-node batch: (destination actor, message) pairs.
Batch = list[tuple[str, AnyMsg]]

batch_codec: Codec[Batch] = Codec(Batch)
msg_codec: Codec[AnyMsg] = Codec(AnyMsg)
