"""API credentials of one exchange account: from the environment or an owner-only TOML file.

``credentials_env = "CMC_BINANCE_SPOT"`` reads ``CMC_BINANCE_SPOT_KEY``, ``_SECRET`` and (OKX)
``_PASSWORD``. ``credentials_file`` is a TOML file with ``key``, ``secret`` and ``password``
that only its owner may read: a file with any group or world permission bit is refused, naming
its mode. The values are never logged: ``Credentials`` prints as ``Credentials(key=ab…)``.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from transports.errors import ConfigError


@dataclass(frozen=True)
class Credentials:
    """An API key, secret and (OKX) passphrase; ``repr`` shows two characters of the key."""

    key: str = field(repr=False)
    secret: str = field(repr=False)
    password: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return f"Credentials(key={self.key[:2]}…)" if self.key else "Credentials(none)"

    def ccxt(self) -> dict[str, str]:
        """The ccxt constructor keys (``apiKey``, ``secret``, ``password``)."""
        out = {"apiKey": self.key, "secret": self.secret}
        if self.password:
            out["password"] = self.password
        return out

    def secrets(self) -> list[str]:
        """The secret values (for scrubbing text that may echo a request)."""
        return [s for s in (self.secret, self.password) if s]


def from_env(prefix: str, env: Mapping[str, str] | None = None) -> Credentials:
    """``<prefix>_KEY``, ``<prefix>_SECRET``, ``<prefix>_PASSWORD`` from the environment."""
    env = os.environ if env is None else env
    key, secret = env.get(f"{prefix}_KEY", ""), env.get(f"{prefix}_SECRET", "")
    if not key or not secret:
        raise ConfigError(f"credentials: {prefix}_KEY and {prefix}_SECRET must both be set")
    return Credentials(key, secret, env.get(f"{prefix}_PASSWORD", ""))


def from_file(path: str | Path) -> Credentials:
    """Read an owner-only TOML file; refuse one that its group or others can access."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise ConfigError(f"credentials_file {str(p)!r}: {exc.strerror}") from None
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise ConfigError(f"credentials_file {str(p)!r} has mode {mode:04o}: it must be readable "
                          f"by its owner only (chmod 600)")
    try:
        data = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        # the parser's message quotes no value, only a position
        raise ConfigError(f"credentials_file {str(p)!r}: not readable TOML ({exc})") from None
    key, secret = data.get("key"), data.get("secret")
    if not isinstance(key, str) or not isinstance(secret, str) or not key or not secret:
        raise ConfigError(f"credentials_file {str(p)!r}: needs string keys 'key' and 'secret'")
    password = data.get("password", "")
    return Credentials(key, secret, password if isinstance(password, str) else "")


def load(credentials_env: str, credentials_file: str,
         env: Mapping[str, str] | None = None) -> Credentials:
    """The account's credentials: the file if configured, else the environment prefix."""
    if credentials_file:
        return from_file(credentials_file)
    if credentials_env:
        return from_env(credentials_env, env)
    raise ConfigError("credentials: set credentials_env or credentials_file in [venues.ccxt]")


__all__ = ["Credentials", "from_env", "from_file", "load"]
