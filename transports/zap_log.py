"""The ZAP authenticators' log (admin socket, node links, venue links): pyzmq's
``ThreadAuthenticator`` logs every handshake at DEBUG through stdlib logging; keep its warnings
and errors, in loguru, named by the link they guard."""

from __future__ import annotations

from typing import Any

from loguru import logger


class ZapLog:
    """A logging-like object for ``ThreadAuthenticator(log=...)``: ``what`` names the link."""

    def __init__(self, what: str) -> None:
        self.what = what

    def debug(self, *a: Any, **k: Any) -> None:
        pass

    def info(self, *a: Any, **k: Any) -> None:
        pass

    def warning(self, msg: str, *a: Any, **k: Any) -> None:
        logger.warning("{}: {}", self.what, msg % a if a else msg)

    def error(self, msg: str, *a: Any, **k: Any) -> None:
        logger.error("{}: {}", self.what, msg % a if a else msg)

    def exception(self, msg: str, *a: Any, **k: Any) -> None:
        logger.error("{}: {}", self.what, msg % a if a else msg)


__all__ = ["ZapLog"]
