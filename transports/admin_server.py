"""The admin socket: a ZeroMQ ROUTER with CURVE encryption and a ZAP allowlist of client keys.

libzmq's CURVE checks a client's long-term key only when a ZAP handler answers for the socket's
ZAP domain; without one any client that completes the handshake gets in (fail-open). So this
server runs its own ZAP handler (pyzmq's ``ThreadAuthenticator``, in the server's own context),
checks it is up before binding, and refuses to start at all without a server secret key and a
non-empty allowlist directory of client public keys (``cmc admin keygen`` writes both).

Each request is one frame (after the ROUTER envelope); the reply goes back with the same
envelope. ``ZMQ_MAXMSGSIZE`` disconnects a peer sending more than ``hard_limit_bytes`` (memory
stays bounded); smaller frames above the configured request limit get an error reply from the
handler. The client's key id is the ZAP ``User-Id`` of the frame: ``<allowlist file stem>:<first
8 characters of its Z85 public key>``; a key not on the list is ``?:...`` and the command layer
refuses it (``AdminCore.handle``).

The ZAP handler is watched for as long as the server runs, not only at start: the serving loop
checks it on every poll (at most 100 ms apart), and if it has died the socket is closed at once,
a CRITICAL is logged, an alarm goes to ``on_alarm`` (the launcher journals it) and nothing more
is served. In the window before that check, ``ZMQ_ZAP_ENFORCE_DOMAIN`` makes libzmq refuse every
new handshake rather than let any CURVE client in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from loguru import logger
from zmq.auth.thread import ThreadAuthenticator

from transports.config.ops import AdminConfig
from transports.errors import ConfigError
from transports.zap_log import ZapLog

ZAP_DOMAIN = "cmc-admin"


def load_allowlist(directory: str) -> dict[bytes, str]:
    """Return ``{z85 public key: name}`` for every ``*.key`` file in ``directory``."""
    d = Path(directory)
    if not directory or not d.is_dir():
        raise ConfigError(f"$.admin.allowlist: not a directory: {directory!r} (the admin socket "
                          "refuses to start without an allowlist of client keys; see "
                          "`cmc admin keygen`)")
    keys: dict[bytes, str] = {}
    for f in sorted(d.glob("*.key")):
        try:
            public, _ = zmq.auth.load_certificate(f)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"$.admin.allowlist: {f}: not a public key file: {exc}") from None
        keys[public] = f.stem
    if not keys:
        raise ConfigError(f"$.admin.allowlist: no *.key files in {directory!r}: the admin socket "
                          "refuses to start with an empty allowlist")
    return keys


def load_server_keys(path: str) -> tuple[bytes, bytes]:
    """Return the server's (public, secret) key pair from a ``.key_secret`` file."""
    p = Path(path)
    if not path or not p.is_file():
        raise ConfigError(f"$.admin.server_secret: no such file: {path!r} (the admin socket "
                          "refuses to start without CURVE keys; see `cmc admin keygen`)")
    try:
        public, secret = zmq.auth.load_certificate(p)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"$.admin.server_secret: {p}: {exc}") from None
    if not secret:
        raise ConfigError(f"$.admin.server_secret: {p} holds no secret key")
    return public, secret


class _Allowlist:
    """The ZAP credentials provider: a client key passes only if it is on the list."""

    def __init__(self, keys: dict[bytes, str]) -> None:
        self.keys = keys
        self.denied = 0
        self.allowed = 0

    def callback(self, domain: str, key: bytes) -> bool:
        ok = domain == ZAP_DOMAIN and key in self.keys
        if ok:
            self.allowed += 1
        else:
            self.denied += 1
            logger.warning("admin: refused a client key not on the allowlist ({}...)",
                           key[:8].decode(errors="replace"))
        return ok


class AdminServer:
    """Serves ``handler(frame, key_id) -> reply`` on a CURVE+ZAP ROUTER, in its own thread."""

    def __init__(self, cfg: AdminConfig, handler: Callable[[bytes, str], bytes], endpoint: str,
                 hard_limit_bytes: int = 1 << 20,
                 on_alarm: Callable[[str], None] | None = None) -> None:
        if zmq.zmq_version_info() < (4, 0) or not zmq.has("curve"):
            raise ConfigError("$.admin: this libzmq has no CURVE support")
        self.public, secret = load_server_keys(cfg.server_secret)
        self.allow = _Allowlist(load_allowlist(cfg.allowlist))
        self.handler = handler
        self.endpoint = endpoint
        #: ``on_alarm(reason)``: told once if the server stops serving by itself (ZAP died)
        self.on_alarm = on_alarm
        #: why the server stopped serving by itself ("" while it serves)
        self.failed = ""
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.auth = ThreadAuthenticator(self.ctx, log=ZapLog("zap"))
        self.auth.start()
        self.auth.configure_curve_callback(ZAP_DOMAIN, credentials_provider=self.allow)
        if not self.auth.is_alive():
            self.close()
            raise ConfigError("$.admin: the ZAP handler did not start; refusing to serve")
        sock: zmq.Socket[bytes] = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.curve_secretkey = secret
        sock.curve_publickey = self.public
        sock.curve_server = True
        sock.zap_domain = ZAP_DOMAIN.encode()
        # a dead ZAP handler must refuse handshakes, not accept every CURVE client (libzmq's
        # default), even in the moments before the serving loop sees it
        sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
        sock.setsockopt(zmq.MAXMSGSIZE, max(hard_limit_bytes, cfg.max_request_bytes * 2))
        sock.setsockopt(zmq.ROUTER_MANDATORY, 0)
        try:
            sock.bind(endpoint)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            self.close()
            raise ConfigError(f"$.admin.endpoint: cannot bind {endpoint!r}: {exc}") from None
        self.sock = sock
        self.served = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="admin", daemon=True)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def _key_id(self, frame: zmq.Frame) -> str:
        try:
            user = frame.get("User-Id")
        except zmq.ZMQError:
            user = ""
        raw = str(user).encode()
        name = self.allow.keys.get(raw, "?")
        return f"{name}:{raw[:8].decode(errors='replace')}"

    @property
    def serving(self) -> bool:
        """True while the server thread answers requests."""
        return self._thread.is_alive() and not self.failed

    def _zap_died(self) -> None:
        """Fail closed: the ZAP handler is gone, so who is asking can no longer be checked."""
        self.failed = "the admin socket's ZAP handler died; the socket is closed"
        self.sock.close(linger=0)
        logger.critical("admin: {} ({}); no further admin request is served", self.failed,
                        self.endpoint)
        if self.on_alarm is not None:
            try:
                self.on_alarm(self.failed)
            except Exception:  # noqa: BLE001 - the alarm is best effort, the socket is closed
                logger.exception("admin: the ZAP alarm could not be recorded")

    def _run(self) -> None:
        sock = self.sock
        while not self._stop.is_set():
            if not self.auth.is_alive():  # watched on every poll, not only at start
                self._zap_died()
                return
            try:
                if not sock.poll(100):
                    continue
                frames = sock.recv_multipart(copy=False)
            except zmq.ZMQError as exc:
                if self._stop.is_set():
                    break
                logger.error("admin socket receive failed: {}", exc)
                continue
            key_id = self._key_id(frames[-1])
            try:
                reply = self.handler(frames[-1].bytes, key_id)
            except Exception:  # noqa: BLE001 - the admin thread must survive any request
                logger.exception("admin handler failed")
                continue
            self.served += 1
            try:
                sock.send_multipart([*(f.bytes for f in frames[:-1]), reply])
            except zmq.ZMQError as exc:
                logger.warning("admin reply not sent: {}", exc)
        sock.close(linger=0)

    def stop(self) -> None:
        """Stop serving and release the socket, the ZAP handler and the context."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        elif not self.sock.closed:
            self.sock.close(linger=0)
        self.close()

    def close(self) -> None:
        """Stop the authenticator and destroy the server's context."""
        try:
            self.auth.stop()
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass
        self.ctx.destroy(linger=0)


__all__ = ["ZAP_DOMAIN", "AdminServer", "load_allowlist", "load_server_keys"]
