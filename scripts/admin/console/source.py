"""The console's side of the admin socket: one poll and the operator commands, each bounded.

Every request goes through ``scripts.admin.client.request`` (CURVE, the client's key from the
keys directory) with ``timeout_s``; one ZeroMQ context is kept for the console's life so a poll
does not pay a context per request. ``AdminUnreachable`` from the ``pairs`` request means no
launch answers yet: the console says it waits and polls again.
"""

from __future__ import annotations

import threading
from typing import Any

import zmq

from scripts.admin.client import request
from scripts.admin.console.model import Snapshot, Units
from transports.errors import CmcError

#: the keys the console sends, their admin command and whether a dialog confirms them first
COMMANDS: dict[str, tuple[str, bool]] = {
    "halt": ("halt", True),
    "flatten": ("flatten", True),
    "resume": ("resume", False),
    "reduce": ("reduce", False),
}


class AdminSource:
    """Polls a launch's admin socket and sends operator commands (thread-safe: one lock)."""

    def __init__(self, endpoint: str, keys_dir: str | None, client: str = "client",
                 timeout_s: float = 3.0, combos_limit: int = 8) -> None:
        self.endpoint = endpoint
        self.keys_dir = keys_dir
        self.client = client
        self.timeout_s = timeout_s
        self.combos_limit = combos_limit
        self._ctx: zmq.Context[Any] | None = zmq.Context()
        self._lock = threading.Lock()
        self._units: Units | None = None
        self._units_from = ""

    def _ask(self, cmd: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._ctx is None:
            raise CmcError("the console's admin source is closed")
        return request(self.endpoint, self.keys_dir, cmd, args or {}, self.timeout_s,
                       client=self.client, ctx=self._ctx)

    def poll(self) -> Snapshot:
        """``pairs`` (its failure raises: ``AdminUnreachable`` or ``CmcError``), then ``combos``
        and ``actors`` (a failure there only leaves them out)."""
        with self._lock:
            reply = self._ask("pairs")
            if not reply.get("ok"):
                raise CmcError(f"pairs: {reply.get('error')}")
            extra: dict[str, Any] = {}
            for cmd, args in (("combos", {"limit": self.combos_limit}), ("actors", {})):
                try:
                    r = self._ask(cmd, args)
                except CmcError:
                    continue
                if r.get("ok") and isinstance(r.get("result"), dict):
                    extra[cmd] = r["result"]
            return Snapshot(reply["result"], extra.get("combos"), extra.get("actors"))

    def send(self, cmd: str, reason: str = "") -> dict[str, Any]:
        """Send one operator command; return its reply map (``ok``, ``result``/``error``)."""
        args = {} if cmd == "flatten" else {"reason": reason}
        with self._lock:
            return self._ask(cmd, args)

    def units(self, snap: Snapshot) -> Units | None:
        """The launch's units: from the reply, else its config file (the status names it; read
        once per path, best effort: a console on another host shows ``?``)."""
        given = Units.from_reply(snap.pairs)
        if given is not None:
            return given
        path = str((snap.pairs.get("status") or {}).get("config") or "")
        if path and path != self._units_from:
            self._units_from = path
            try:
                from transports.config.engine import load_config

                self._units = Units.from_config(load_config(path))
            except (CmcError, OSError, ValueError):
                self._units = None
        return self._units

    def close(self) -> None:
        """Release the ZeroMQ context (sockets are closed after each request)."""
        with self._lock:
            if self._ctx is not None:
                self._ctx.term()
                self._ctx = None


__all__ = ["COMMANDS", "AdminSource"]
