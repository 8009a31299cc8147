"""Attributes of the LegExecutor kept by the helpers it owns (``Via``), and its snapshot.

The executor's state lives in its helpers (``book``, ``reports``, ``pretrade``, ``frames``,
``wal``, ``throttle``: see ``actors.leg``), where it is changed and pickled; other code (tests,
the reconciliation, admin views, older callers) still reads some of it under the executor's
own names (``core.orders``, ``core.journal``, ...). A ``Via`` names such an attribute in one
line instead of a property each.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class Via(Generic[T]):
    """``name = Via("helper", "attr", doc)`` in a class: ``obj.name`` reads
    ``obj.helper.attr`` (and writes it when ``writable``; else a write raises
    ``AttributeError``, as a read-only property's does)."""

    def __init__(self, helper: str, attr: str, doc: str, writable: bool = False) -> None:
        self.helper = helper
        self.attr = attr
        self.writable = writable
        self.__doc__ = f"{doc} (``{helper}.{attr}``)"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Via[T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(getattr(obj, self.helper), self.attr)

    def __set__(self, obj: Any, value: T) -> None:
        if not self.writable:
            raise AttributeError(f"{type(obj).__name__}.{self.name} is read-only "
                                 f"(it is {self.helper}.{self.attr})")
        setattr(getattr(obj, self.helper), self.attr, value)


def leg_snapshot(core: Any) -> dict[str, Any]:
    """A ``LegExecutorCore``'s ``snapshot``: orders (cl -> state, cum, unknown), positions,
    counters, the gate, the reconciliation and the session (and offsets when it has them)."""
    book, denied = core.book, core.pretrade.denied
    return {
        "venue": core.venue,
        "trading_state": core.trading_state,
        "orders": {
            cl: {"state": lo.state.value, "cum": lo.cum_lots, "unknown": lo.unknown}
            for cl, lo in book.orders.items()
        },
        "positions": dict(book.positions),
        "open": sorted(book.open),
        "counters": {**book.counters, "unresolved": len(book.unknown),
                     "denied": dict(denied), "retired": len(book.retired)},
        "gate": core.gate,
        "reconcile": {**core.reconciler.snapshot(),
                      "denied_before": denied.get("reconciling", 0)},
        "session": core.session.snapshot(),
        **({"offsets": core.offsets.snapshot()} if core.offsets.rules else {}),
    }


__all__ = ["Via", "leg_snapshot"]
