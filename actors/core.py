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
from typing import Any, ClassVar

Out = list[tuple[str, Any]]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def handler_name(msg_type: type) -> str:
    """Return the handler name for a message type: ``BookDelta`` -> ``on_book_delta``."""
    return "on_" + _CAMEL.sub("_", msg_type.__name__).lower()


class Core:
    """Base of pure actor cores: dispatches a message to ``on_<message>`` by its type."""

    #: message type -> bound-method name, filled lazily per class
    _dispatch: ClassVar[dict[type, str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._dispatch = {}

    def __init__(self, name: str) -> None:
        self.name = name

    def handle(self, msg: Any, now_ns: int) -> Out:
        """Dispatch ``msg`` to its handler; unknown types are ignored (returns no output)."""
        meth = self._dispatch.get(type(msg))
        if meth is None:
            meth = handler_name(type(msg))
            self._dispatch[type(msg)] = meth
        fn = getattr(self, meth, None)
        if fn is None:
            return []
        return fn(msg, now_ns)

    def on_start(self, now_ns: int) -> Out:
        """Run once when the host starts the actor."""
        return []

    def on_stop(self, now_ns: int) -> Out:
        """Run once when the host stops the actor (cancel, flush)."""
        return []

    def snapshot(self) -> dict[str, Any]:
        """Return a JSON-able view of the state, for admin, tests and summaries."""
        return {}
