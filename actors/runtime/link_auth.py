"""Authenticated node links: CURVE on every socket between the nodes of a launch, and a ZAP
allowlist holding only the launch's own node key.

Why: a node's inbound PULL and a child node's control ROUTER accept typed messages (a
``LegOrder``, a ``Halt``) from whoever connects. An ipc socket in a 0700 directory keeps other
users out but not another process of the same user, and a ``tcp://`` node address keeps out
nobody. So every node link is a CURVE socket: the binding side (PULL, ctl ROUTER) is the CURVE
server, the connecting side (PUSH, ctl DEALER) the client, and a ZAP handler in the node's own
ZeroMQ context lets in only a client presenting the launch's public key. A peer without the
launch's secret key cannot complete the handshake, so none of its frames is ever read.

One key pair per launch: the launcher writes it into the run directory (owner-only, 0600;
``write_link_keys``), each child node loads it by path (``load_link_keys``) and ``attach`` es it
to its ZeroMQ context before its hosts open their sockets. The sockets find it there
(``require``): a multi-node link opened in a context without keys is a ``ConfigError`` — there is
no unauthenticated fallback.

Fail-closed: libzmq accepts any CURVE client when no ZAP handler answers, so every server socket
sets ``ZMQ_ZAP_ENFORCE_DOMAIN``: with the ZAP thread dead, new handshakes are refused (the links
stop, they do not open up). ``LinkAuth.alive`` tells the watchers (the control server logs it).
"""

from __future__ import annotations

import os
import stat
import threading
import weakref
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from loguru import logger
from zmq.auth.thread import ThreadAuthenticator

from transports.errors import ConfigError
from transports.zap_log import ZapLog

#: The ZAP domain of node links (the admin socket uses its own, in its own context).
LINK_DOMAIN = "cmc-node"
#: The launch's node key pair, in the run directory.
LINK_KEY_FILE = "node-link.key_secret"


class LinkKeys:
    """The launch's node key pair (Z85): every node is CURVE server and client with it."""

    __slots__ = ("public", "secret")

    def __init__(self, public: bytes, secret: bytes) -> None:
        self.public = public
        self.secret = secret

    @classmethod
    def generate(cls) -> LinkKeys:
        """A fresh key pair (tests, a launch)."""
        public, secret = zmq.curve_keypair()
        return cls(public, secret)


def write_link_keys(directory: Path | str) -> tuple[LinkKeys, Path]:
    """Write a fresh key pair to ``directory/node-link.key_secret`` (0600 from its creation, so
    the secret is never readable by others even for a moment); return it and the path."""
    keys = LinkKeys.generate()
    path = Path(directory) / LINK_KEY_FILE
    tmp = path.with_name(f".{LINK_KEY_FILE}.{os.getpid()}")
    text = ("#   cmc: the node links' CURVE key pair of one launch (owner-only)\n"
            "metadata\ncurve\n"
            f'    public-key = "{keys.public.decode()}"\n'
            f'    secret-key = "{keys.secret.decode()}"\n')
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by the umask; this is not
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return keys, path


def load_link_keys(path: Path | str, field: str = "--link-key") -> LinkKeys:
    """Load the launch's node key pair; a missing file, one readable by others or owned by
    another user, or one without a secret key is a ``ConfigError`` naming ``field``."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise ConfigError(f"{field}: no node link keys at {str(p)!r} ({exc.strerror}); a "
                          "multi-node launch writes them into its run directory") from None
    if st.st_uid != os.getuid():
        raise ConfigError(f"{field}: {p} is owned by uid {st.st_uid}, not by this user")
    if st.st_mode & 0o077:
        raise ConfigError(f"{field}: {p} is readable by others (mode "
                          f"{stat.S_IMODE(st.st_mode):04o}); it must be 0600")
    try:
        public, secret = zmq.auth.load_certificate(p)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{field}: {p}: {exc}") from None
    if not secret:
        raise ConfigError(f"{field}: {p} holds no secret key")
    return LinkKeys(public, secret)


class _NodeAllowlist:
    """ZAP credentials: only the launch's own public key passes."""

    def __init__(self, public: bytes) -> None:
        self.public = public
        self.allowed = 0
        self.denied = 0

    def callback(self, domain: str, key: bytes) -> bool:
        ok = domain == LINK_DOMAIN and key == self.public
        if ok:
            self.allowed += 1
        else:
            self.denied += 1
            logger.warning("node link: refused a peer whose key is not the launch's ({}...)",
                           key[:8].decode(errors="replace"))
        return ok


class LinkAuth:
    """The ZAP handler of one ZeroMQ context and the CURVE setup of its node-link sockets."""

    def __init__(self, ctx: zmq.Context[Any], keys: LinkKeys) -> None:
        if not zmq.has("curve"):
            raise ConfigError("$.placement.nodes: this libzmq has no CURVE support; node links "
                              "cannot be authenticated")
        self.keys = keys
        self.allow = _NodeAllowlist(keys.public)
        self.auth = ThreadAuthenticator(ctx, log=ZapLog("node link zap"))
        self.auth.start()
        self.auth.configure_curve_callback(LINK_DOMAIN, credentials_provider=self.allow)
        if not self.auth.is_alive():
            self.stop()
            raise ConfigError("$.placement.nodes: the node links' ZAP handler did not start")

    def alive(self) -> bool:
        """True while the ZAP handler runs (else new handshakes are refused)."""
        return bool(self.auth.is_alive())

    def server(self, sock: zmq.Socket[Any]) -> None:
        """Make ``sock`` (before bind) a CURVE server that admits only the launch's key."""
        sock.curve_secretkey = self.keys.secret
        sock.curve_publickey = self.keys.public
        sock.curve_server = True
        sock.zap_domain = LINK_DOMAIN.encode()
        # without it libzmq lets any CURVE client in when the ZAP handler is gone
        sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)

    def client(self, sock: zmq.Socket[Any]) -> None:
        """Make ``sock`` (before connect) a CURVE client with the launch's key."""
        sock.curve_secretkey = self.keys.secret
        sock.curve_publickey = self.keys.public
        sock.curve_serverkey = self.keys.public

    def stop(self) -> None:
        """Stop the ZAP handler (before the context is destroyed)."""
        try:
            self.auth.stop()
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass


_lock = threading.Lock()
_by_ctx: weakref.WeakKeyDictionary[zmq.Context[Any], LinkAuth] = weakref.WeakKeyDictionary()


def attach(ctx: zmq.Context[Any], keys: LinkKeys) -> LinkAuth:
    """Start the node links' ZAP handler in ``ctx`` with ``keys``; the node-link sockets made
    in ``ctx`` from now on are authenticated. Attaching the same keys again is a no-op."""
    with _lock:
        have = _by_ctx.get(ctx)
        if have is not None:
            if have.keys.public != keys.public:
                raise ConfigError("$.placement.nodes: this context already has other node keys")
            return have
        la = _by_ctx[ctx] = LinkAuth(ctx, keys)
        return la


def of(ctx: zmq.Context[Any]) -> LinkAuth | None:
    """The node-link authentication attached to ``ctx``, if any."""
    with _lock:
        return _by_ctx.get(ctx)


def require(ctx: zmq.Context[Any], what: str) -> LinkAuth:
    """The node-link authentication of ``ctx``; a ``ConfigError`` if there is none (a node
    link is never opened unauthenticated)."""
    la = of(ctx)
    if la is None:
        raise ConfigError(f"$.placement.nodes: {what} needs the launch's node keys (CURVE) and "
                          "none were loaded; multi-node placements run under `cmc launch` "
                          "(`cmc node` loads <run dir>/node-link.key_secret)")
    return la


def push_to(ctx: zmq.Context[Any], node: str, address: str) -> zmq.Socket[bytes]:
    """A PUSH socket to ``node``'s inbound PULL at ``address``: a CURVE client of the launch's
    key (the peer admits nothing else), unbounded send queue (orders and reports are never
    dropped), a second of linger so a stop still delivers what was queued."""
    auth = require(ctx, f"the link to node {node}")
    sock = ctx.socket(zmq.PUSH)
    auth.client(sock)
    sock.setsockopt(zmq.LINGER, 1000)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.connect(address)
    return sock


def detach(ctx: zmq.Context[Any]) -> None:
    """Stop the ZAP handler of ``ctx`` (call before ``ctx.destroy``)."""
    with _lock:
        la = _by_ctx.pop(ctx, None)
    if la is not None:
        la.stop()


__all__ = ["LINK_DOMAIN", "LINK_KEY_FILE", "LinkAuth", "LinkKeys", "attach", "detach",
           "load_link_keys", "of", "require", "write_link_keys"]
