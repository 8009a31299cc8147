"""A TCP proxy a drill can cut: the network partition of ``cmc drill failover --mode partition``.

``TcpProxy(target_url)`` listens on a free loopback port and forwards every connection to the
target (a NATS server); ``cut`` closes every forwarded connection and refuses new ones (the
client sees its server vanish, as behind a broken switch), ``heal`` accepts again. One thread
runs a ``selectors`` loop; every wait in it is bounded so ``close`` stops it promptly.
"""

from __future__ import annotations

import selectors
import socket
import threading
from urllib.parse import urlparse

_POLL_S = 0.05
_CHUNK = 1 << 16


class TcpProxy:
    """Forward ``127.0.0.1:<port>`` to ``target_url``'s host and port, until cut."""

    def __init__(self, target_url: str) -> None:
        u = urlparse(target_url)
        self.target = (u.hostname or "127.0.0.1", int(u.port or 4222))
        self.scheme = u.scheme or "nats"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ, None)
        self.peer: dict[socket.socket, socket.socket] = {}
        self.cuts = 0
        self._cut = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="drill-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The proxy's URL for the client's config."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except BlockingIOError:
            return
        if self._cut.is_set():
            client.close()  # partitioned: nobody gets through
            return
        try:
            upstream = socket.create_connection(self.target, timeout=1.0)
        except OSError:
            client.close()
            return
        for s in (client, upstream):
            s.setblocking(False)
        self.peer[client], self.peer[upstream] = upstream, client
        self.sel.register(client, selectors.EVENT_READ, None)
        self.sel.register(upstream, selectors.EVENT_READ, None)

    def _drop(self, s: socket.socket) -> None:
        other = self.peer.pop(s, None)
        for x in (s, other):
            if x is None:
                continue
            self.peer.pop(x, None)
            try:
                self.sel.unregister(x)
            except (KeyError, ValueError):
                pass
            x.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if self._cut.is_set() and self.peer:
                    for s in list(self.peer):
                        self._drop(s)
            for key, _ in self.sel.select(_POLL_S):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                if s is self.listener:
                    self._accept()
                    continue
                try:
                    data = s.recv(_CHUNK)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                other = self.peer.get(s)
                if not data or other is None or self._cut.is_set():
                    self._drop(s)
                    continue
                try:
                    other.setblocking(True)
                    other.settimeout(1.0)
                    other.sendall(data)
                    other.setblocking(False)
                except OSError:
                    self._drop(s)

    def cut(self) -> None:
        """Close every forwarded connection and refuse new ones."""
        self.cuts += 1
        self._cut.set()

    def heal(self) -> None:
        """Accept connections again."""
        self._cut.clear()

    def close(self) -> None:
        """Stop the proxy and close every socket."""
        self._stop.set()
        self._thread.join(2.0)
        for s in list(self.peer):
            self._drop(s)
        self.sel.close()
        self.listener.close()


__all__ = ["TcpProxy"]
