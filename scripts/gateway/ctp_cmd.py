"""``cmc gateway ctp``: one CTP futures account (SHFE, INE, DCE, CZCE, GFEX) behind the venue
protocol. openctp-ctp is imported only when the command runs, after the locale check."""

from __future__ import annotations

import sys

import click

from scripts.gateway.curve_opts import curve_options, use_curve


@click.command("ctp")
@click.option("--conf", required=True, help="Config TOML with the venue's [venues.ctp].")
@click.option("--venue", default=None, help="The [[venues]] name (default: the one CTP venue).")
@click.option("--sock", "sock_dir", default="/tmp/cmc", show_default=True,
              help="Directory for ipc sockets ({sock}).")
@curve_options
def ctp(conf: str, venue: str | None, sock_dir: str, curve_secret: str | None,
        curve_allow: str | None) -> None:
    """Serve one CTP account (openctp-ctp) on the venue's md/ref/oe sockets, protocol v2.

    Needs the zh_CN.GB18030 locale (`localedef -i zh_CN -f GB18030 zh_CN.GB18030`). Password
    and AuthCode come from <credentials_env>_PASSWORD / _AUTH_CODE. Prints READY <venue> once
    logged in; stops on SIGTERM/SIGINT. Exit 2: configuration error or missing locale; exit 1:
    no login within login_timeout_s."""
    use_curve("ctp", curve_secret, curve_allow)
    try:
        from transports.venues.ctp.process import main as ctp_main
    except ModuleNotFoundError as exc:  # the vendor library comes with an optional extra
        from scripts.gateway.cmd import missing_extra

        missing_extra("ctp", exc)

    sys.exit(ctp_main(conf, venue, sock_dir))


COMMANDS = [ctp]
