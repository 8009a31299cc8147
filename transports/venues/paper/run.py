"""The paper gateway as a process: load the config, serve until SIGTERM/SIGINT, write the truth."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from transports.config.engine import load_config
from transports.errors import CmcError, ConfigError
from transports.venues.paper.gateway import serve_paper


def main(conf_path: str | None, sock_dir: str, *, venue: str | None = None,
         md_from: str | None = None, truth_out: str | None = None,
         duration_s: float | None = None) -> int:
    """Run one paper venue; print ``READY <sock_dir>`` once its sockets are bound.

    Stops on SIGTERM/SIGINT or after ``duration_s``; then writes the truth JSON to ``truth_out``
    (if given). Returns 0; 2 when the config does not load or names no paper venue to serve; 1
    when the source does not answer or the gateway fails.
    """
    try:
        cfg = load_config(conf_path)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, lambda *_: stop.set())

    def _ready() -> None:
        print(f"READY {sock_dir}", flush=True)

    try:
        truth = serve_paper(cfg, venue, sock_dir, stop=stop, ready=_ready, md_from=md_from,
                            duration_s=duration_s)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except CmcError as exc:
        print(f"paper gateway: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if truth_out:
        out = Path(truth_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(truth, indent=1))
    return 0
