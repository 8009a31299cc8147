"""The ``--curve-secret FILE --curve-allow DIR`` options every ``cmc gateway`` command takes.

A gateway serves its md/ref/oe sockets as CURVE servers (``transports.venues.curve``) when both
are given, or when ``CMC_CURVE_SECRET`` / ``CMC_CURVE_ALLOW`` are set (a service unit may use
either). The command checks the files before the gateway starts (exit 2 naming the file) and
puts them in the environment, where the gateway's socket setup finds them: one way for all five
gateways, whatever module runs their process.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def curve_options(f: F) -> F:
    """Add ``--curve-secret`` and ``--curve-allow`` to a gateway command."""
    f = click.option("--curve-allow", "curve_allow", default=None, envvar="CMC_CURVE_ALLOW",
                     metavar="DIR",
                     help="With --curve-secret: the allowlist, a directory of the engines' "
                          "public *.key files; other clients get nothing.")(f)
    return click.option("--curve-secret", "curve_secret", default=None,
                        envvar="CMC_CURVE_SECRET", metavar="FILE",
                        help="Serve CURVE (encrypted, only allowlisted engines) with this "
                             "gateway key pair (a .key_secret of `cmc admin keygen`); off by "
                             "default.")(f)


def use_curve(name: str, secret: str | None, allow: str | None) -> None:
    """Check the CURVE flags of gateway ``name`` and hand them to the gateway (environment);
    exit 2 naming the file or the flag when they do not load."""
    from transports.errors import ConfigError
    from transports.venues.curve import ServerKeys

    try:
        keys = ServerKeys.of(secret, allow)
        if keys is not None:
            keys.check()
    except ConfigError as exc:
        click.echo(f"cmc gateway {name}: config error: {exc}", err=True)
        sys.exit(2)
    if keys is not None:
        keys.export()
