"""Local endpoints for the alert tests: an HTTP server recording JSON posts (real sockets, in a
thread) and an SMTP server (``aiosmtpd``) recording messages."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Hook:
    """What the HTTP server does and saw: ``posts`` (path, query, headers, JSON body),
    ``status``/``answer`` to reply with, ``hold`` (an Event a request waits on, released at
    the end)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        self.answer: bytes = b'{"errcode": 0, "errmsg": "ok", "ok": true}'
        self.hold: threading.Event | None = None
        self.arrived = threading.Event()  #: a request arrived (set before any hold)
        self.lock = threading.Lock()


@contextmanager
def http_server() -> Iterator[tuple[str, Hook]]:
    """A local HTTP server on a free port: yields its base URL and its ``Hook``."""
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            path, _, query = self.path.partition("?")
            with hook.lock:
                hook.posts.append({"path": path, "query": query, "headers": dict(self.headers),
                                   "json": json.loads(body)})
            hook.arrived.set()
            if hook.hold is not None:
                hook.hold.wait(30)
            self.send_response(hook.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(hook.answer)))
            self.end_headers()
            self.wfile.write(hook.answer)

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}", hook
    finally:
        if hook.hold is not None:
            hook.hold.set()
        srv.shutdown()
        srv.server_close()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """aiosmtpd handler keeping every message (and the login used)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.rcpts: list[list[str]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content))
        self.rcpts.append(list(envelope.rcpt_tos))
        return "250 OK"


@contextmanager
def smtp_server(login: tuple[str, str] | None = None) -> Iterator[tuple[int, Inbox]]:
    """A local SMTP server (aiosmtpd) on a free port; with ``login`` it offers AUTH, accepting
    only that user and password (plain text: a local test server without TLS)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    inbox = Inbox()
    kw: dict[str, Any] = {}
    if login is not None:
        def auth(server: Any, session: Any, envelope: Any, mechanism: str,
                 data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (
                data.login.decode(), data.password.decode()) == login
            if ok:
                inbox.logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)  # a refusal answers 535

        # AUTH offered without TLS (a local test server); not required, so aiosmtpd does not
        # warn -- the tests see the login in ``inbox.logins``
        kw = {"authenticator": auth, "auth_require_tls": False}
    port = free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port, **kw)
    ctl.start()
    try:
        yield port, inbox
    finally:
        ctl.stop()
