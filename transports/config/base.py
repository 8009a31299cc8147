"""What every config section shares: the section base and the constrained number types.

Every section is a frozen msgspec Struct with ``forbid_unknown_fields``: an unknown key, a wrong
type or a value out of range is a ``ConfigError`` whose message names the field path (``$.sim.
faults.md_drop``) and the value; ``check_finite`` refuses NaN and infinities the same way.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Annotated, Any

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


# --- msgspec's validation errors, said for a person: the closest key, the bad value ------------

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]*)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_MISSING = object()


def _steps(path: str) -> list[str | int | None]:
    """``$.pairs[0].basis`` -> ``["pairs", 0, "basis"]``; a dict key msgspec hides (``[...]``)
    is None."""
    out: list[str | int | None] = []
    for name, index in _STEP.findall(path[1:]):
        out.append(name if name else (None if index == "..." else int(index)))
    return out


def _unwrap(t: Any) -> Any:
    """An optional section (``X | None``) is its struct."""
    if isinstance(t, msgspec.inspect.UnionType):
        structs = [x for x in t.types if isinstance(x, msgspec.inspect.StructType)]
        return structs[0] if len(structs) == 1 else t
    return t


def _struct_at(root: type, steps: list[str | int | None]) -> msgspec.inspect.StructType | None:
    """The struct type found at ``steps`` below ``root`` (through lists, dicts and optionals)."""
    t: Any = msgspec.inspect.type_info(root)
    for step in steps:
        t = _unwrap(t)
        if isinstance(step, str) and isinstance(t, msgspec.inspect.StructType):
            t = next((f.type for f in t.fields if f.encode_name == step), None)
        elif not isinstance(step, str) and isinstance(t, msgspec.inspect.ListType):
            t = t.item_type
        elif not isinstance(step, str) and isinstance(t, msgspec.inspect.DictType):
            t = t.value_type
        else:
            return None
    t = _unwrap(t)
    return t if isinstance(t, msgspec.inspect.StructType) else None


def _value_at(doc: Any, steps: list[str | int | None]) -> Any:
    """The raw value at ``steps`` in the decoded TOML, or ``_MISSING``."""
    for step in steps:
        if step is None:
            return _MISSING
        try:
            doc = doc[step]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return doc


def explain_validation_error(exc: msgspec.ValidationError, root: type, doc: Any) -> str:
    """Say a msgspec ``ValidationError`` for a person: ``$.pairs[0].z_entri: unknown key; did
    you mean 'z_entry'?`` for a misspelt key (the closest field of that section, by difflib),
    ``$.run.duration_s: Expected `float` > 0.0; the file has -1`` (the value from the raw TOML
    ``doc``) for a wrong type or range. ``root`` is the struct ``doc`` was decoded into."""
    m = _AT.match(str(exc))
    msg, path = (m.group("msg"), m.group("path") or "$") if m else (str(exc), "$")
    steps = _steps(path)
    unknown = _UNKNOWN.match(msg)
    if unknown:
        key = unknown.group("key")
        where = f"{path}.{key}"
        struct = _struct_at(root, steps)
        if struct is None:
            return f"{where}: unknown key"
        known = [f.encode_name for f in struct.fields]
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if close:
            return f"{where}: unknown key; did you mean {close[0]!r}?"
        return f"{where}: unknown key (known keys: {', '.join(sorted(known))})"
    value = _value_at(doc, steps)
    if value is _MISSING or msg.startswith("Object missing required field"):
        return f"{path}: {msg}"
    return f"{path}: {msg}; the file has {value!r}"


__all__ = ["NonNegFloat", "NonNegInt", "Port", "PosFloat", "PosInt", "Rate", "Section",
           "check_finite", "explain_validation_error"]
