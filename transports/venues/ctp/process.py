"""The ``cmc gateway ctp`` process: locale check, config, signals, ``READY``, exit codes.

Nothing here imports openctp-ctp at module level: the locale is checked first, because the
vendor import aborts the process from C++ without it.
"""

from __future__ import annotations

import asyncio

from transports.config.engine import AppConfig, VenueConfig, load_config
from transports.errors import CmcError, ConfigError
from transports.venues.ctp.localecheck import require_ctp_locale
from transports.venues.gateway_process import run_gateway_process


def find_ctp_venue(cfg: AppConfig, venue: str | None) -> VenueConfig:
    """The ``[[venues]]`` entry with ``[venues.ctp]`` to serve (by name, else the only one)."""
    cands = [v for v in cfg.venues if v.ctp is not None and (venue is None or v.name == venue)]
    if len(cands) != 1:
        what = f"venue {venue!r}" if venue else "a CTP venue"
        raise ConfigError(f"{what}: {len(cands)} [[venues]] entries with [venues.ctp] match"
                          + (" (name one with --venue)" if cands else ""))
    return cands[0]


async def serve(cfg: AppConfig, v: VenueConfig, sock_dir: str, stop: asyncio.Event) -> None:
    """Run the gateway on the real CTP API until ``stop`` is set."""
    from transports.venues.ctp.gateway import CtpGateway, credentials

    assert v.ctp is not None
    gw = CtpGateway(cfg, v, sock_dir, credentials(v.ctp))
    gw.start()
    try:
        await asyncio.wait_for(gw.ready.wait(), v.ctp.login_timeout_s)
        print(f"READY {v.name}", flush=True)
        await stop.wait()
    except TimeoutError:
        raise CmcError(f"no login and instrument list within {v.ctp.login_timeout_s} s "
                       f"(fronts {v.ctp.td_front}, {v.ctp.md_front})") from None
    finally:
        await gw.stop()


def main(conf_path: str, venue: str | None, sock_dir: str) -> int:
    """Exit 0 on SIGTERM/SIGINT, 2 on a configuration error or a missing locale, 1 when the
    fronts do not log in within ``login_timeout_s`` (``transports.venues.gateway_process``)."""

    def load() -> tuple[AppConfig, VenueConfig]:
        require_ctp_locale()
        cfg = load_config(conf_path)
        return cfg, find_ctp_venue(cfg, venue)

    async def run(loaded: tuple[AppConfig, VenueConfig], stop: asyncio.Event) -> None:
        await serve(loaded[0], loaded[1], sock_dir, stop)

    return run_gateway_process(load, run)


__all__ = ["find_ctp_venue", "main", "serve"]
