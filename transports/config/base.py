"""What every config section shares: the section base and the constrained number types.

Every section is a frozen msgspec Struct with ``forbid_unknown_fields``: an unknown key, a wrong
type or a value out of range is a ``ConfigError`` whose message names the field path (``$.sim.
faults.md_drop``) and the value; ``check_finite`` refuses NaN and infinities the same way.
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec

from transports.errors import ConfigError

PosInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
PosFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Rate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]  #: a probability per event


class Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config section: frozen, keyword-only, unknown keys refused."""


def check_finite(obj: object, path: str) -> None:
    """Raise ``ConfigError`` naming the first float under ``obj`` that is NaN or infinite."""
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ConfigError(f"{path}: must be a finite number, got {obj!r}")
    if isinstance(obj, msgspec.Struct):
        for name in obj.__struct_fields__:
            check_finite(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            check_finite(item, f"{path}[{i}]")


__all__ = ["NonNegFloat", "NonNegInt", "Port", "PosFloat", "PosInt", "Rate", "Section",
           "check_finite"]
