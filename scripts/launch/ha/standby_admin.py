"""The admin socket of a hot standby: ``status`` answers (role, lease holder, replication lag),
every other command is refused with why -- a standby trades nothing; the primary's admin socket
is the one to halt, reduce or flatten. The same CURVE keys, allowlist and request journal (the
standby's log) as a primary's (``actors.admin.AdminCore``, ``transports.admin_server``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loguru import logger

from transports.config.engine import AppConfig
from transports.errors import AdminError


class _Backend:
    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self.status = status

    def journal(self, what: str, detail: dict[str, Any]) -> None:
        logger.info("standby admin: {} {}", what, detail)


def start_standby_admin(cfg: AppConfig, endpoint: str, status: Callable[[], dict[str, Any]]
                        ) -> Any:
    """Serve the standby's admin socket on ``endpoint``; return the server (``stop()`` it
    before the node that takes over binds the same endpoint)."""
    from actors.admin import AdminCore
    from transports.admin_server import AdminServer

    core = AdminCore(_Backend(status), cfg.admin.max_request_bytes, cfg.admin.dedup_entries)

    def refuse(cmd: str) -> Callable[[dict[str, Any], str], Any]:
        def fn(_args: dict[str, Any], _key: str) -> Any:
            holder = (status().get("ha") or {}).get("holder", "?")
            raise AdminError(f"{cmd}: this engine is a hot standby and trades nothing; send it "
                             f"to the primary (lease holder {holder})")
        return fn

    core.commands = {name: (lambda a, k: status()) if name == "status" else refuse(name)
                     for name in core.commands}
    server = AdminServer(cfg.admin, core.handle, endpoint, on_alarm=core.alarm)
    server.start()
    return server


__all__ = ["start_standby_admin"]
