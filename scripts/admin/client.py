"""The admin socket's client: one CURVE-authenticated DEALER request with a deadline.

Keys come from a directory written by ``cmc admin keygen``: the client's ``<name>.key_secret``
and the server's public ``server.key``. The endpoint is given, or read from a launch's status
file (``"admin"``), or ``$CMC_ADMIN_ENDPOINT``, or ``tcp://127.0.0.1:7301``.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import msgspec
import zmq
import zmq.auth

from transports.errors import CmcError

DEFAULT_ENDPOINT = "tcp://127.0.0.1:7301"


class AdminUnreachable(CmcError):
    """No reply before the deadline (wrong endpoint, key refused, or the launcher is down)."""


def resolve_endpoint(endpoint: str | None, status_file: str | None) -> str:
    """Pick the endpoint: explicit, else the status file's, else the environment or default."""
    if endpoint:
        return endpoint
    if status_file:
        try:
            ep = json.loads(Path(status_file).read_text()).get("admin", "")
        except (OSError, ValueError) as exc:
            raise CmcError(f"cannot read the status file {status_file}: {exc}") from None
        if not ep:
            raise CmcError(f"{status_file}: the launch has no admin socket")
        return str(ep)
    return os.environ.get("CMC_ADMIN_ENDPOINT", DEFAULT_ENDPOINT)


class KeysExist(CmcError):
    """``keygen`` would overwrite keys that exist (a running launch or client may use them)."""


def keygen(out_dir: str, client_names: list[str], force: bool = False) -> dict[str, str]:
    """Write the server key pair, client key pairs and an allowlist directory; return paths.

    Refuses (``KeysExist``, naming the files) to overwrite a key file that exists, unless
    ``force``: replacing the server's keys locks out every client that has its public key, and
    replacing a client's locks out whoever holds the old one. Nothing is written when refused."""
    d = Path(out_dir)
    names = ["server", *client_names]
    existing = [p for n in names for p in (d / f"{n}.key", d / f"{n}.key_secret",
                                           d / "allowlist" / f"{n}.key")
                if p.exists() and not (n == "server" and p.parent.name == "allowlist")]
    if existing and not force:
        raise KeysExist(
            "refusing to overwrite existing keys: " + ", ".join(str(p) for p in existing)
            + " (pass --force to replace them; clients holding the old keys are locked out)")
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    allow = d / "allowlist"
    allow.mkdir(exist_ok=True)
    _, server_secret = zmq.auth.create_certificates(d, "server")
    os.chmod(server_secret, 0o600)
    for name in client_names:
        public, secret = zmq.auth.create_certificates(d, name)
        os.chmod(secret, 0o600)
        (allow / Path(public).name).write_bytes(Path(public).read_bytes())
    return {"server_secret": str(server_secret), "allowlist": str(allow), "keys": str(d)}


def request(endpoint: str, keys_dir: str | None, cmd: str, args: dict[str, Any] | None = None,
            timeout_s: float = 5.0, rid: str | None = None, client: str = "client",
            ctx: zmq.Context[Any] | None = None) -> dict[str, Any]:
    """Send one request and return the reply map; raise ``AdminUnreachable`` at the deadline."""
    own = ctx is None
    c: zmq.Context[Any] = zmq.Context() if ctx is None else ctx
    sock = c.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        if keys_dir is not None:
            kd = Path(keys_dir)
            try:
                pub, sec = zmq.auth.load_certificate(kd / f"{client}.key_secret")
                server_pub, _ = zmq.auth.load_certificate(kd / "server.key")
            except (OSError, ValueError) as exc:
                raise CmcError(f"admin keys in {kd}: {exc}") from None
            sock.curve_secretkey = sec
            sock.curve_publickey = pub
            sock.curve_serverkey = server_pub
        sock.connect(endpoint)
        rid = rid or uuid.uuid4().hex
        sock.send(msgspec.msgpack.encode({"id": rid, "cmd": cmd, "args": args or {}}))
        if not sock.poll(int(timeout_s * 1000)):
            raise AdminUnreachable(f"no reply from {endpoint} in {timeout_s:g}s (is it running, "
                                   "and is this client's key on its allowlist?)")
        return msgspec.msgpack.decode(sock.recv())  # type: ignore[no-any-return]
    finally:
        sock.close(linger=0)
        if own:
            c.term()


__all__ = ["DEFAULT_ENDPOINT", "AdminUnreachable", "KeysExist", "keygen", "request",
           "resolve_endpoint"]
