"""Checkpoints keep the cores' attributes fast (``actors.runtime.checkpoint``, "Attribute speed").

CPython 3.11 keeps an object's attributes inline until something asks for its ``__dict__``;
from then on every read of the object is about twice as slow. Pickling asks for it, and
pickle's default load builds one. Measured on the bench's floor: a checkpoint of the live
cores cost +2.7 µs (+12 %) per ordering tick for the rest of the run. What is checked here,
without timing anything: whether an object's attributes are inline, read from the garbage
collector's view of it (``gc.get_referents``: an object with a ``__dict__`` refers to that dict,
an inline one to its values), which never builds the dict itself. An object with more than 30
attributes (the strategy core) has a ``__dict__`` from birth (3.11 keeps at most 30 inline;
such a dict reads ~1.7 ns slower per attribute, not ~25 ns like a built one): a loaded core
is held to what a fresh one is.
"""

from __future__ import annotations

import gc
import pickle
import threading
from typing import Any

import numpy as np

from actors.runtime.checkpoint import dump_cores, load_cores, reload_cores
from actors.runtime.node_runtime import NodeRuntime
from actors.runtime.rebuild.rebuild import re_epoch
from actors.runtime.supervisor import with_epoch
from scripts.replay.core import build_cores
from tests.support.helpers import FaultyCore, eventually
from transports.config.engine import load_config
from transports.wire.messages import ExecReport

_OWN = ("actors.", "transports.")


def has_dict(obj: Any) -> bool:
    """True if ``obj``'s attributes live in a ``__dict__`` (slow reads), without asking for it."""
    refs = gc.get_referents(obj)
    if len(refs) != 2 or type(refs[0]) is not dict or refs[1] is not type(obj):
        return False
    d = refs[0]
    return bool(d) and all(type(k) is str and getattr(obj, k, d) is v for k, v in d.items())


def engine_objects(root: Any) -> list[Any]:
    """Every object of the engine's own classes with attributes reachable from ``root``."""
    seen: set[int] = set()
    out: list[Any] = []
    todo = [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type | np.ndarray | str | bytes | int | float):
            continue
        seen.add(id(obj))
        cls = type(obj)
        if cls.__module__.startswith(_OWN) and hasattr(cls, "__dictoffset__") \
                and cls.__dictoffset__ != 0 and not hasattr(cls, "__struct_fields__"):
            out.append(obj)
        elif not isinstance(obj, dict | list | tuple | set | frozenset) \
                and not cls.__module__.startswith(_OWN):
            continue  # a library's object: not ours to follow
        todo.extend(gc.get_referents(obj))
    return out


def slow(root: Any) -> list[str]:
    return sorted({type(o).__qualname__ for o in engine_objects(root) if has_dict(o)})


def _cores() -> dict[str, Any]:
    cfg = load_config()
    actors = [a for g in cfg.placement.groups for a in g.actors if a != "journal"]  # type: ignore[union-attr]
    cores = build_cores(cfg, actors)
    for core in cores.values():
        core.on_start(1_000_000_000)
    return cores


def test_the_detector_tells_a_dict_from_inline_attributes() -> None:
    cores = _cores()
    risk = cores["risk"]
    assert len(engine_objects(risk)) > 5 and slow(risk) == []  # fresh: inline
    vars(risk.book)  # asking for the ``__dict__`` is what makes the reads slow
    assert slow(risk) == ["Book"]
    # pickle's default load builds every object's ``__dict__``
    assert {"RiskCore", "Orphans", "PairHoldings"} <= set(slow(pickle.loads(pickle.dumps(risk))))
    assert slow(cores["strategy.au-gc"]) == ["StrategyCore"]  # 54 attributes: see the module


def test_a_checkpoint_loads_every_core_of_the_demo_config_inline() -> None:
    cores = _cores()
    blob, ext = dump_cores(cores, {})
    assert ext == {}
    cfg = load_config()
    back = load_cores(blob, {}, {}, lambda a, e: build_cores(with_epoch(cfg, e), [a])[a])
    kinds = {type(c).__name__ for c in back.values()}
    assert {"FeedCore", "BookCore", "StrategyCore", "ComboExecutorCore", "RiskCore",
            "LegExecutorCore"} <= kinds
    fresh = _cores()
    for actor, core in back.items():
        assert slow(core) == slow(fresh[actor]), actor
    # and the live cores the checkpoint was taken of are the slow ones now: the host swaps
    assert set(slow(cores["strategy.au-gc"])) > {"StrategyCore"}


def test_re_epoch_moves_a_rebuilt_core_without_slowing_it() -> None:
    cfg = load_config()

    def build(epoch: int) -> Any:
        return build_cores(with_epoch(cfg, epoch), ["strategy.au-gc"])["strategy.au-gc"]

    core = build(1)
    seq = core.posn.combo_seq
    re_epoch(core, build(1), build(3))
    assert core.posn.combo_seq == seq + 2 * 1_000_000_000  # moved to the new epoch
    assert slow(core) == ["StrategyCore"]  # as fresh (see the module): its helpers inline


def test_a_live_hosts_checkpoint_goes_on_with_the_loaded_cores(runtime: NodeRuntime) -> None:
    """After its checkpoint the host runs the cores loaded from it: the same state, inline."""
    rt = runtime
    host = rt.node.hosts["risk"]
    shells = host.proxy().shells.get(timeout=5)

    def fill(i: int) -> ExecReport:
        return ExecReport("shfe", f"1.{i}.0.0", i, 0, 0, "au2606", "B", "fill", "FILLED",  # type: ignore[arg-type]
                          30000 + i, 2, 2, 0, 0.25, f"t{i}", "", i, i)

    rt.node.send("risk", fill(1))
    eventually(lambda: rt.node.query("risk")["fills"] == 1)
    before = shells["risk"].core
    snap = rt.node.query("risk")
    st = host.proxy().checkpoint_now().get(timeout=5)
    assert st["taken"] == 1 and st["failed"] == 0
    after = shells["risk"].core
    assert after is not before and after.inner is not before.inner
    assert slow(after.inner) == [] and slow(before.inner)  # FaultyCore is the test's own
    assert rt.node.query("risk") == snap
    rt.node.send("risk", fill(2))  # the loaded core trades on
    eventually(lambda: rt.node.query("risk")["fills"] == 2)
    assert rt.node.query("risk")["positions"] == {"shfe:au2606": 4}
    assert host.proxy().host_counters().get(timeout=5).get("checkpoint_reload_errors", 0) == 0


def test_an_external_attribute_stays_the_live_cores_own() -> None:
    event = threading.Event()
    core = FaultyCore(build_cores(load_config(), ["risk"])["risk"], release=event)
    blob, ext = dump_cores({"risk": core}, {})
    assert ext == {"risk": [("release",)]}
    back = reload_cores(blob, ext, {"risk": core})
    assert back["risk"].release is event and back["risk"] is not core
    assert slow(back["risk"].inner) == []


class _Slotted:
    __slots__ = ("kept",)


_Mixed = type("_Mixed", (_Slotted,), {"__module__": "actors.example"})  # slots and a __dict__
_Plain = type("_Plain", (), {"__module__": "actors.example"})


def test_only_plain_engine_objects_take_the_inline_load() -> None:
    """An object whose class (or a base) has slots keeps pickle's own reduction: its slots are
    state that ``__dict__`` does not show, and the inline load would drop them."""
    from actors.runtime.checkpoint import _loads_inline, dumps

    assert _loads_inline(_Plain) and not _loads_inline(_Mixed)
    mixed = _Mixed()
    mixed.kept, mixed.extra = 1, 2  # type: ignore[attr-defined]
    plain = _Plain()
    plain.a, plain.b = 1, 2  # type: ignore[attr-defined]
    import actors  # the classes' module is a name only: pickle finds them here
    actors.example = type("m", (), {"_Mixed": _Mixed, "_Plain": _Plain})  # type: ignore[attr-defined]
    import sys
    sys.modules["actors.example"] = actors.example  # type: ignore[attr-defined]
    try:
        back_mixed, back_plain = pickle.loads(dumps((mixed, plain)))
    finally:
        del sys.modules["actors.example"]
        del actors.example  # type: ignore[attr-defined]
    assert (back_mixed.kept, back_mixed.extra) == (1, 2)
    assert (back_plain.a, back_plain.b) == (1, 2) and not has_dict(back_plain)
