"""Checkpoints: the cores of one group, pickled at a dispatch-cycle boundary, and read back.

The host takes a checkpoint in its own thread between two dispatch cycles
(``HostSupervision.checkpoint``, ``actors.runtime.host.supervised_host``), so it is consistent:
every item the host journaled before it is in the cores' state, none after. It travels to the
journal actor as a one-item ``JournalBatch`` (source ``@checkpoint``; it crosses nodes like any
batch) and is written as a CHECKPOINT record (docs/journal-format.md, "Checkpoints"). A rebuild
(``actors.runtime.rebuild.rebuild``) loads the latest one and replays only what follows it.

Serialization is ``pickle`` (protocol 5; numpy views are kept as views of their base array, so a
book's row views still share its memory after a load): the journal is the engine's own file,
written and read by the same code base; a checkpoint is never loaded from anywhere else.
(Unpickling runs code named by the data: do not load a journal you did not write.)

Attribute speed. CPython 3.11 keeps an object's attributes inline until something asks for its
``__dict__``, and every attribute read of the object is about twice as slow from then on;
pickling asks for it (that is how it gets the state), and pickle's default load builds a
``__dict__`` too. So: the engine's own objects are pickled with ``actors.core.restore_attrs``
as their state setter (``_Pickler.reducer_override``), which loads them inline; and the host,
having pickled its live cores for a checkpoint (making their attributes slow), goes on with
cores loaded from that checkpoint (``reload_cores``; ``actors.runtime.host.supervised_host``):
measured on the bench's floor, a checkpoint left the hot cores +3.5-4 µs (about +16 %) per
ordering tick for the rest of the run before (docs/performance.md, step 31).

A core attribute that cannot be pickled (a lock, an event, a lambda, an open file) is handled
explicitly: the first time pickling fails, every attribute of the core — following wrapper
chains (attributes that are cores themselves, e.g. ``inner``) — is tried alone; the ones that
fail are *external*: replaced by a placeholder in the checkpoint, and on load taken from a fresh
core of the same actor (``build(actor, epoch)``), at the same attribute path. An unpicklable
object deeper inside (in a dict of a core) makes the checkpoint fail (``CheckpointError``); the
host logs and counts it and goes on (a rebuild then replays from an earlier checkpoint or the
start).
"""

from __future__ import annotations

import copy
import copyreg
import io
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from actors.core import restore_attrs
from transports.errors import CmcError
from transports.journal.format import CHECKPOINT_SRC  # re-exported: the checkpoint batch's source

Path = tuple[str, ...]
CODEC = "pickle5"


class CheckpointError(CmcError):
    """The cores could not be checkpointed, or a checkpoint could not be loaded."""


class External:
    """Stands in a checkpoint for an attribute that cannot be pickled."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (External, (self.path,))


def _view(root: np.ndarray, offset: int, shape: tuple[int, ...], strides: tuple[int, ...],
          dtype: Any) -> np.ndarray:
    return np.ndarray(shape, dtype, buffer=root, offset=offset, strides=strides)


#: the engine's own modules: their plain objects load attribute by attribute
_OWN = ("actors.", "transports.")
#: built-in bases whose subclasses pickle items of their own (left to pickle's default)
_CONTAINERS = (dict, list, set, frozenset, tuple, int, float, str, bytes, bytearray)
#: class -> whether ``_Pickler`` pickles its objects with ``restore_attrs`` (filled as met)
_INLINE: dict[type, bool] = {}


def _loads_inline(cls: type) -> bool:
    """Whether ``cls`` is one of the engine's plain classes: its own module, a ``__dict__``,
    pickle's default reduction (no ``__reduce__``, ``__getstate__``, ``__setstate__`` or
    ``__getnewargs__`` of its own: those classes restore themselves) and no container base."""
    ok = _INLINE.get(cls)
    if ok is None:
        ok = _INLINE[cls] = (
            cls.__module__.startswith(_OWN) and not issubclass(cls, _CONTAINERS)
            and cls.__reduce_ex__ is object.__reduce_ex__ and cls.__reduce__ is object.__reduce__
            and cls.__getstate__ is object.__getstate__
            and not hasattr(cls, "__setstate__") and not hasattr(cls, "__getnewargs_ex__")
            and not hasattr(cls, "__getnewargs__") and hasattr(cls, "__dict__")
            # slots anywhere in the hierarchy hold state ``__dict__`` does not show
            and not any("__slots__" in c.__dict__ for c in cls.__mro__))
    return ok


class _Pickler(pickle.Pickler):
    """Pickles numpy views as views of their (memoized) base array, so that cores keeping
    several views of one array (a book's rows, its publication views) get them back sharing
    memory, as they were; a plain pickle would make each view an independent copy. The
    engine's plain objects are pickled as pickle's default would, except that they load
    through ``restore_attrs`` (the module's "Attribute speed")."""

    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        if _loads_inline(cls):
            try:
                state = obj.__dict__
            except AttributeError:
                return NotImplemented
            # the object is memoized before its state is pickled (cycles are kept), as with
            # pickle's own reduction; the sixth item replaces the default ``__dict__`` update
            return copyreg.__newobj__, (cls,), state or None, None, None, restore_attrs
        if cls is np.ndarray and isinstance(obj.base, np.ndarray):
            root = obj.base
            while isinstance(root.base, np.ndarray):
                root = root.base
            if root.flags.c_contiguous:
                offset = (obj.__array_interface__["data"][0]
                          - root.__array_interface__["data"][0])
                return _view, (root, offset, obj.shape, obj.strides, obj.dtype)
        return NotImplemented


def dumps(obj: Any) -> bytes:
    """Pickle ``obj`` (protocol 5), numpy views kept as views of their base."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=5).dump(obj)
    return buf.getvalue()


def _is_core(v: Any) -> bool:
    return hasattr(v, "__dict__") and callable(getattr(type(v), "handle", None))


def find_externals(core: Any, path: Path = ()) -> list[Path]:
    """Return the attribute paths of ``core`` (through wrapper chains) that cannot be pickled."""
    out: list[Path] = []
    for attr, v in vars(core).items():
        if _is_core(v):
            out.extend(find_externals(v, (*path, attr)))
            continue
        try:
            dumps(v)
        except Exception:  # noqa: BLE001 - anything pickle refuses
            out.append((*path, attr))
    return out


def _resolve(obj: Any, path: Path) -> Any:
    for attr in path:
        obj = getattr(obj, attr)  # not ``vars(obj)``: that would make ``obj``'s reads slow
    return obj


def _stand_in(core: Any, paths: list[Path]) -> Any:
    """A shallow copy of ``core`` (and of the cores on the paths) with ``External``
    placeholders at ``paths``; the live core is not touched."""
    top = copy.copy(core)
    for path in paths:
        obj = top
        for attr in path[:-1]:
            child = copy.copy(vars(obj)[attr])
            vars(obj)[attr] = child
            obj = child
        vars(obj)[path[-1]] = External(path)
    return top


def dump_cores(cores: dict[str, Any], externals: dict[str, list[Path]]
               ) -> tuple[bytes, dict[str, list[Path]]]:
    """Pickle ``cores``; return the bytes and the external paths per actor.

    ``externals`` is the caller's cache (actor -> paths; updated when pickling fails), so the
    search for unpicklable attributes runs once, not at every checkpoint."""
    def attempt() -> bytes:
        view = {a: (_stand_in(c, externals[a]) if externals.get(a) else c)
                for a, c in cores.items()}
        return dumps(view)

    try:
        return attempt(), {a: p for a, p in externals.items() if p and a in cores}
    except Exception:  # noqa: BLE001 - find out which attributes, then try once more
        pass
    for a, c in cores.items():
        externals[a] = find_externals(c)
    try:
        return attempt(), {a: p for a, p in externals.items() if p and a in cores}
    except Exception as exc:
        raise CheckpointError(f"cannot pickle the cores: {exc!r}") from exc


def _load(blob: bytes, externals: dict[str, Any],
          source: Callable[[str], Any]) -> dict[str, Any]:
    """Unpickle a checkpoint's cores and fill each external attribute path from
    ``source(actor)`` (asked once per actor that has externals)."""
    try:
        cores: dict[str, Any] = pickle.loads(blob)
    except Exception as exc:
        raise CheckpointError(f"cannot unpickle the checkpoint: {exc!r}") from exc
    for actor, paths in externals.items():
        if not paths or actor not in cores:
            continue
        origin = source(actor)
        for p in paths:
            path = tuple(p)
            holder = _resolve(cores[actor], path[:-1])
            setattr(holder, path[-1], _resolve(origin, path))
    return cores


def reload_cores(blob: bytes, externals: dict[str, list[Path]],
                 live: dict[str, Any]) -> dict[str, Any]:
    """The cores of a checkpoint just taken of ``live`` (``dump_cores``), loaded back: the
    same state as the live ones, with their attributes inline again (the module's "Attribute
    speed"). An external attribute is the live core's own object."""
    return _load(blob, externals, live.__getitem__)


def load_cores(blob: bytes, externals: dict[str, list[list[str]]], epochs: dict[str, int],
               build: Callable[[str, int], Any]) -> dict[str, Any]:
    """Unpickle a checkpoint's cores; fill external attributes from fresh cores."""
    return _load(blob, externals, lambda actor: build(actor, epochs.get(actor, 0)))


__all__ = ["CHECKPOINT_SRC", "CODEC", "CheckpointError", "External", "dump_cores", "dumps",
           "find_externals", "load_cores", "reload_cores"]
