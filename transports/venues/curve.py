"""CURVE on the venue protocol's links: encryption and a ZAP allowlist between engines and
gateways on different hosts.

Why: the venue links (md PUB/SUB, ref DEALER/ROUTER, oe DEALER/ROUTER; docs/venue-protocol.md)
carry orders and fills. Over ipc or loopback only local processes reach them, but in the
production shape the engine and its gateways sit on different hosts and talk ``tcp://``: without
CURVE anyone on the path reads the frames and anyone who can reach the port sends orders. So a
gateway may serve its three sockets as CURVE servers, and then:

- every frame is encrypted and authenticated (CurveZMQ), and the engine checks the gateway's
  public key (a man in the middle without the gateway's secret key cannot complete the
  handshake: the engine receives nothing);
- a ZAP handler in the gateway's ZeroMQ context lets in only clients whose public key is in the
  allowlist directory (``*.key`` files); any other client's handshake fails, none of its frames
  is read, and nothing is sent to it (md included).

It is optional and off by default: ipc and loopback links need nothing. The same key files as
the admin socket's are used (the ``zmq.auth`` certificate format; ``cmc admin keygen`` writes a
server pair, client pairs and an ``allowlist/`` directory of client public keys).

Fail-closed, as ``actors.runtime.link_auth`` and ``transports.admin_server``: libzmq admits any
CURVE client when no ZAP handler answers, so every server socket sets ``ZMQ_ZAP_ENFORCE_DOMAIN``
(a dead ZAP thread refuses new handshakes), and a missing or unreadable key file, or an empty
allowlist, is a ``ConfigError`` naming the file before any socket is bound.

Server side: ``CurveServer`` (or ``secure_server`` for a list of sockets). Client side:
``secure_client``. A gateway gets its keys from ``--curve-secret FILE --curve-allow DIR`` (the
``cmc gateway`` flags, which also read ``CMC_CURVE_SECRET`` / ``CMC_CURVE_ALLOW``): see
``ServerKeys``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import zmq
import zmq.auth
from loguru import logger
from zmq.auth.thread import ThreadAuthenticator

from transports.errors import ConfigError
from transports.zap_log import ZapLog

#: The ZAP domain of venue links (node links and the admin socket use their own).
VENUE_DOMAIN = "cmc-venue"
#: The environment variables a gateway reads when no keys are passed to it (set by the
#: ``cmc gateway`` flags, or by a service unit).
ENV_SECRET = "CMC_CURVE_SECRET"
ENV_ALLOW = "CMC_CURVE_ALLOW"
_warned: set[str] = set()  #: secret key files already warned about (mode)


def _check_curve() -> None:
    if not zmq.has("curve"):
        raise ConfigError("this libzmq has no CURVE support; the venue links cannot be "
                          "encrypted (install pyzmq's wheel, which bundles libsodium)")


def _load(path: str, field: str, what: str) -> tuple[bytes, bytes | None]:
    """(public, secret or None) from a ``zmq.auth`` certificate file; a ``ConfigError`` naming
    ``field`` and the file when it is missing, unreadable or not a key file."""
    if not path:
        raise ConfigError(f"{field}: no {what} file given")
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"{field}: no such file: {str(p)!r} ({what}; `cmc admin keygen` "
                          "writes key files)")
    try:
        public, secret = zmq.auth.load_certificate(p)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{field}: {p}: not a readable CURVE key file: {exc}") from None
    if len(public) != 40:
        raise ConfigError(f"{field}: {p}: the public key is not 40 Z85 characters")
    return public, secret


def load_secret(path: str, field: str) -> tuple[bytes, bytes]:
    """The (public, secret) pair of a ``.key_secret`` file; a ``ConfigError`` naming ``field``
    and the file if it is missing, unreadable or holds no secret key. A file readable by others
    is used but warned about (``zmq.auth.create_certificates`` leaves it at the umask's mode)."""
    public, secret = _load(path, field, "CURVE secret key")
    if not secret:
        raise ConfigError(f"{field}: {path} holds no secret key (give the .key_secret file)")
    mode = stat.S_IMODE(os.stat(Path(path).expanduser()).st_mode)
    if mode & 0o077 and path not in _warned:
        _warned.add(path)  # once: the engine loads it for every socket of the venue
        logger.warning("{}: {} is readable by others (mode {:04o}); chmod 600 it", field, path,
                       mode)
    return public, secret


def load_public(path: str, field: str) -> bytes:
    """The public key of a ``.key`` (or ``.key_secret``) file; a ``ConfigError`` naming
    ``field`` and the file if it is missing or unreadable."""
    return _load(path, field, "CURVE public key")[0]


def load_allowlist(directory: str, field: str = "--curve-allow") -> dict[bytes, str]:
    """``{public key: file stem}`` of every ``*.key`` file in ``directory``; a ``ConfigError``
    naming ``field`` if it is not a directory, a file is not a key, or there is none (an empty
    allowlist would refuse every engine: a mistake, not a configuration)."""
    d = Path(directory).expanduser()
    if not directory or not d.is_dir():
        raise ConfigError(f"{field}: not a directory: {directory!r} (the allowlist of client "
                          "public keys; `cmc admin keygen` writes one)")
    keys: dict[bytes, str] = {}
    for f in sorted(d.glob("*.key")):
        keys[load_public(str(f), field)] = f.stem
    if not keys:
        raise ConfigError(f"{field}: no *.key files in {directory!r}: refusing to serve with "
                          "an empty allowlist")
    return keys


class ServerKeys(msgspec.Struct, frozen=True):
    """Where a gateway's CURVE keys are: its ``.key_secret`` file and the allowlist directory."""

    secret_key_file: str
    allow_dir: str

    @classmethod
    def of(cls, secret_key_file: str | None, allow_dir: str | None) -> ServerKeys | None:
        """Both or neither (None: CURVE off); one without the other is a ``ConfigError``."""
        if not secret_key_file and not allow_dir:
            return None
        if not secret_key_file or not allow_dir:
            raise ConfigError("--curve-secret and --curve-allow go together (the gateway's "
                              "secret key file and the allowlist directory of engine keys)")
        return cls(secret_key_file, allow_dir)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerKeys | None:
        """From ``CMC_CURVE_SECRET`` / ``CMC_CURVE_ALLOW`` (None when neither is set)."""
        env = os.environ if environ is None else environ
        return cls.of(env.get(ENV_SECRET), env.get(ENV_ALLOW))

    def check(self) -> None:
        """Load both (a ``ConfigError`` naming the file) without starting anything: for a
        command to fail fast, before its gateway connects to anything."""
        load_secret(self.secret_key_file, "--curve-secret")
        load_allowlist(self.allow_dir)

    def export(self) -> None:
        """Put them in this process's environment, where a gateway started without explicit
        keys finds them (``from_env``)."""
        os.environ[ENV_SECRET] = self.secret_key_file
        os.environ[ENV_ALLOW] = self.allow_dir


class _Allowlist:
    """ZAP credentials: a client key passes only if it is in the allowlist."""

    def __init__(self, keys: dict[bytes, str]) -> None:
        self.keys = keys
        self.allowed = 0
        self.denied = 0

    def callback(self, domain: str, key: bytes) -> bool:
        ok = domain == VENUE_DOMAIN and key in self.keys
        if ok:
            self.allowed += 1
        else:
            self.denied += 1
            logger.warning("venue link: refused a client key not on the allowlist ({}...)",
                           key[:8].decode(errors="replace"))
        return ok


class CurveServer:
    """The ZAP handler of one gateway's ZeroMQ context and the CURVE setup of its sockets.

    Start it once per context (libzmq has one ZAP endpoint per context), ``apply`` it to every
    socket before ``bind``, ``stop`` it before the context is terminated (its socket would
    otherwise keep ``term`` waiting)."""

    def __init__(self, ctx: zmq.Context[Any], keys: ServerKeys) -> None:
        _check_curve()
        self.keys = keys
        self.public, self._secret = load_secret(keys.secret_key_file, "--curve-secret")
        self.allow = _Allowlist(load_allowlist(keys.allow_dir))
        # a shadow: the ZAP thread's sockets are plain ones even in an asyncio context
        self.auth = ThreadAuthenticator(zmq.Context.shadow(ctx.underlying),
                                        log=ZapLog("venue link zap"))
        self.auth.start()
        self.auth.configure_curve_callback(VENUE_DOMAIN, credentials_provider=self.allow)
        if not self.auth.is_alive():
            self.stop()
            raise ConfigError("--curve-secret: the venue links' ZAP handler did not start; "
                              "refusing to serve")
        logger.info("venue links: CURVE on, {} allowed client key(s) from {}",
                    len(self.allow.keys), keys.allow_dir)

    def apply(self, sock: zmq.Socket[Any]) -> None:
        """Make ``sock`` (before bind) a CURVE server admitting only allowlisted clients."""
        sock.curve_secretkey = self._secret
        sock.curve_publickey = self.public
        sock.curve_server = True
        sock.zap_domain = VENUE_DOMAIN.encode()
        # without it libzmq lets any CURVE client in when the ZAP handler is gone
        sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)

    def alive(self) -> bool:
        """True while the ZAP handler runs (else new handshakes are refused)."""
        return bool(self.auth.is_alive())

    def stop(self) -> None:
        """Stop the ZAP handler (before the context is terminated)."""
        try:
            self.auth.stop()
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass


def start_server(ctx: zmq.Context[Any], keys: ServerKeys | None) -> CurveServer | None:
    """A gateway's CURVE server for ``keys``, or None when they are None (CURVE off)."""
    return None if keys is None else CurveServer(ctx, keys)


def secure_server(ctx: zmq.Context[Any], sockets: Iterable[zmq.Socket[Any]],
                  secret_key_file: str, allow_dir: str) -> CurveServer:
    """Start the ZAP handler in ``ctx`` and make every socket of ``sockets`` (not yet bound) a
    CURVE server with the key pair of ``secret_key_file`` admitting the client keys of
    ``allow_dir``. Returns the server (``stop`` it before terminating ``ctx``). A missing or
    unreadable file, or an empty allowlist, is a ``ConfigError`` naming it."""
    server = CurveServer(ctx, ServerKeys(secret_key_file, allow_dir))
    for sock in sockets:
        server.apply(sock)
    return server


def secure_client(sock: zmq.Socket[Any], server_public_key_file: str,
                  client_secret_file: str, where: str = "") -> None:
    """Make ``sock`` (before connect) a CURVE client that talks only to the server whose public
    key is in ``server_public_key_file``, presenting the key pair of ``client_secret_file`` (a
    ``.key_secret``). ``where`` (``$.venues[0]``) prefixes the field names of any
    ``ConfigError`` (missing, unreadable file)."""
    _check_curve()
    at = f"{where}." if where else ""
    server = load_public(server_public_key_file, f"{at}curve_server_key")
    public, secret = load_secret(client_secret_file, f"{at}curve_client_secret")
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_serverkey = server


__all__ = ["ENV_ALLOW", "ENV_SECRET", "VENUE_DOMAIN", "CurveServer", "ServerKeys",
           "load_allowlist", "load_public", "load_secret", "secure_client", "secure_server",
           "start_server"]
