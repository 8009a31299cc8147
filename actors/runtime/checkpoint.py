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
import io
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

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


class _Pickler(pickle.Pickler):
    """Pickles numpy views as views of their (memoized) base array, so that cores keeping
    several views of one array (a book's rows, its publication views) get them back sharing
    memory, as they were; a plain pickle would make each view an independent copy."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is np.ndarray and isinstance(obj.base, np.ndarray):
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
        obj = vars(obj)[attr]
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


def load_cores(blob: bytes, externals: dict[str, list[list[str]]], epochs: dict[str, int],
               build: Callable[[str, int], Any]) -> dict[str, Any]:
    """Unpickle a checkpoint's cores; fill external attributes from fresh cores."""
    try:
        cores: dict[str, Any] = pickle.loads(blob)
    except Exception as exc:
        raise CheckpointError(f"cannot unpickle the checkpoint: {exc!r}") from exc
    for actor, paths in externals.items():
        if not paths or actor not in cores:
            continue
        fresh = build(actor, epochs.get(actor, 0))
        for p in paths:
            path = tuple(p)
            holder = _resolve(cores[actor], path[:-1])
            vars(holder)[path[-1]] = _resolve(fresh, path)
    return cores


__all__ = ["CHECKPOINT_SRC", "CODEC", "CheckpointError", "External", "dump_cores", "dumps",
           "find_externals", "load_cores"]
