"""The MessagePack codec: one encoder and decoder per message family, a maximum frame size,
and validation errors that name the field."""

from __future__ import annotations

import decimal
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


#: Venue-protocol keys that hold opaque ids: a gateway may send strings or integers.
ID_KEYS = frozenset({"cl", "oid", "tid"})
#: Keys the protocol gives as integers that a gateway may send as exact decimal strings.
INT_KEYS = frozenset({"min_qty", "max_qty"})
#: Keys the protocol gives as decimal strings that a gateway may send as numbers.
DECIMAL_KEYS = frozenset({"lot", "tick", "contract_value", "funding_rate", "rate"})
#: Deepest nesting the lenient path walks (a hostile frame must not exhaust the stack).
MAX_DEPTH = 32


def spec_normalize(obj: Any, depth: int = 0) -> Any:
    """Bring a decoded venue-protocol value to the types the wire structs declare, by the
    protocol's own rules (docs/venue-protocol.md, "Types"): a nil value is an absent key;
    ``cl``/``oid``/``tid`` are opaque ids carried as text (an integer becomes its decimal
    digits); ``min_qty``/``max_qty`` may be exact decimal strings, decimal keys (``lot``, ``tick``,
    ``contract_value``, ``funding_rate``, ``rate``) numbers.
    Anything else is left for validation to judge."""
    if depth > MAX_DEPTH:
        raise CodecError(f"nesting deeper than {MAX_DEPTH}")
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            if v is None:
                continue  # nil == absent; a required key then fails validation, as it must
            if k in ID_KEYS and type(v) is int:
                v = str(v)
            elif k in INT_KEYS and type(v) is str:
                v = _exact_int(k, v)
            elif k in DECIMAL_KEYS and type(v) in (int, float):
                v = repr(v) if type(v) is float else str(v)
            elif isinstance(v, (dict, list)):
                v = spec_normalize(v, depth + 1)
            out[k] = v
        return out
    if isinstance(obj, list):
        return [spec_normalize(v, depth + 1) if isinstance(v, (dict, list)) else v for v in obj]
    return obj


def _exact_int(key: str, text: str) -> int | str:
    try:
        d = decimal.Decimal(text)
    except decimal.InvalidOperation:
        return text  # validation names the field
    if not d.is_finite() or d != d.to_integral_value():
        raise CodecError(f"invalid message: {key} = {text!r} is not an exact integer")
    return int(d)


class Codec(Generic[T]):
    """A typed decoder with a frame-size limit; errors become ``CodecError`` naming the field.

    With ``lenient`` (the default; off for the engine's own internal frames), a frame that
    fails the strict typed decode is decoded again untyped, brought to the declared types by
    ``spec_normalize`` and validated: every variant the protocol allows decodes, at the cost of
    a second pass only for the frames that need it (``lenient_frames`` counts them)."""

    def __init__(self, kind: Any, max_frame_bytes: int = MAX_FRAME_BYTES,
                 lenient: bool = True) -> None:
        self._decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(kind)
        self._kind = kind
        self.max_frame_bytes = max_frame_bytes
        self.lenient = lenient
        self.lenient_frames = 0

    def decode(self, frame: bytes | memoryview) -> T:
        """Decode one frame or raise ``CodecError`` (too large, not MessagePack, bad field)."""
        if len(frame) > self.max_frame_bytes:
            raise CodecError(f"frame of {len(frame)} bytes exceeds {self.max_frame_bytes}")
        try:
            return self._decoder.decode(frame)  # type: ignore[no-any-return]
        except msgspec.ValidationError as exc:
            if self.lenient:
                return self._decode_lenient(frame, exc)
            raise CodecError(f"invalid message: {exc}") from None
        except msgspec.DecodeError as exc:
            raise CodecError(f"malformed frame: {exc}") from None
        except RecursionError:
            raise CodecError("malformed frame: nested too deeply") from None

    def _decode_lenient(self, frame: bytes | memoryview, first: Exception) -> T:
        try:
            raw = msgspec.msgpack.decode(frame)
            out: T = msgspec.convert(spec_normalize(raw), self._kind)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            raise CodecError(f"invalid message: {first}") from None
        self.lenient_frames += 1
        return out


#: An inter-node batch: (destination actor, message) pairs.
Batch = list[tuple[str, AnyMsg]]

batch_codec: Codec[Batch] = Codec(Batch, lenient=False)
msg_codec: Codec[AnyMsg] = Codec(AnyMsg, lenient=False)
