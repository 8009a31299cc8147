"""The contract of a pure actor core: state plus typed handlers returning what to send.

A **core** is a plain object: state plus ``on_<snake_case_message>(msg, now_ns)`` handlers that
return an ``Out`` list of ``(destination, message)`` pairs. It never reads a clock, opens a
socket or starts a thread, so tests and replay drive it directly.

Destinations are actor names (``"strategy.au-gc"``), or a ``@`` key naming one of the sockets the
actor's own shell owns (``"@oe"``, ``"@ref"``), or ``"@timer"`` with a ``SetTimer`` message.

A **shell** wraps one core for a host: it opens the actor's sockets in the host's thread, turns
wire frames into core calls, and sends what the core addresses to ``@`` keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

Out = list[tuple[str, Any]]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def handler_name(msg_type: type) -> str:
    """Return the handler name for a message type: ``BookDelta`` -> ``on_book_delta``."""
    return "on_" + _CAMEL.sub("_", msg_type.__name__).lower()


def _ignore(_core: Any, _msg: Any, _now_ns: int) -> Out:
    return []


def restore_attrs(obj: Any, state: dict[str, Any]) -> None:
    """Set a checkpoint's ``name -> value`` state on ``obj`` attribute by attribute.

    Why not ``obj.__dict__.update(state)`` (pickle's default): CPython 3.11 keeps an object's
    attributes inline (a values array its specialised attribute reads index directly) until
    something asks for its ``__dict__``; from then on every read of that object is about twice
    as slow, for good. ``setattr`` keeps them inline, so a core loaded from a checkpoint (a
    rebuild, a standby's take-over, the host's own swap after each checkpoint,
    ``actors.runtime.checkpoint``) runs as fast as a fresh one."""
    for name, value in state.items():
        setattr(obj, name, value)


class Core:
    """Base of pure actor cores: dispatches a message to ``on_<message>`` by its type.

    The dispatch table (message type -> handler function, or ``_ignore``) is one per core
    class, filled the first time the class meets a type; cores do not write their own
    switches."""

    #: message type -> the class's handler function for it (``_ignore`` when it has none)
    _handlers: ClassVar[dict[type, Callable[[Any, Any, int], Out]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {}

    def __init__(self, name: str) -> None:
        self.name = name

    def handle(self, msg: Any, now_ns: int) -> Out:
        """Dispatch ``msg`` to its handler; unknown types are ignored (returns no output)."""
        try:
            return self._handlers[type(msg)](self, msg, now_ns)
        except KeyError:
            if type(msg) in self._handlers:
                raise  # the handler's own KeyError
        return type(self).resolve(type(msg))(self, msg, now_ns)

    @classmethod
    def resolve(cls, msg_type: type) -> Callable[[Any, Any, int], Out]:
        """Return (and remember) the class's handler function for ``msg_type``."""
        fn = getattr(cls, handler_name(msg_type), None)
        if not callable(fn):
            fn = _ignore
        cls._handlers[msg_type] = fn
        return fn

    def on_start(self, now_ns: int) -> Out:
        """Run once when the host starts the actor."""
        return []

    def on_stop(self, now_ns: int) -> Out:
        """Run once when the host stops the actor (cancel, flush)."""
        return []

    def snapshot(self) -> dict[str, Any]:
        """Return a JSON-able view of the state, for admin, tests and summaries."""
        return {}
