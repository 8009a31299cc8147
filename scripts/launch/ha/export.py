"""Off-host audit: a run rebuilt from the JetStream stream a primary replicates to.

``export_stream("nats://host:4222/CMC_JOURNAL[#RUN]", out_dir)`` follows one run's records from
its run marker (the latest run, or the one named after ``#``) until the stream has no more of
them, and writes the run directory a primary would have: ``config.json`` (carried by the run's
first record), ``journal.cmcj`` (the same record bodies) and the intent WAL -- so ``cmc audit
verify``, ``cmc replay --verify`` and the rest read it like a local run, with nothing of the
primary's disk. ``resolve_journal`` lets those commands take the URL directly (exported to a
temporary directory first). ``cmc ha export URL --out DIR`` keeps the file.
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from transports.clock import LiveClock
from transports.errors import CmcError

#: a run is complete once the stream has nothing more for this long after catching up
QUIET_S = 0.3


def is_stream_url(source: str) -> bool:
    """True for ``nats://``/``tls://`` sources (a stream), False for a path."""
    return source.startswith(("nats://", "tls://"))


def parse_stream_url(url: str) -> tuple[str, str, str]:
    """``(server URL, stream, run id or '')`` from ``nats://host:port/STREAM[#RUN]``."""
    u = urlparse(url)
    stream = u.path.strip("/")
    if not u.hostname or not stream or "/" in stream:
        raise CmcError(f"stream URL: nats://HOST:PORT/STREAM[#RUN], got {url!r}")
    return f"{u.scheme}://{u.hostname}:{u.port or 4222}", stream, u.fragment


def _markers(node: Any, stream: str, timeout_s: float) -> list[dict[str, Any]]:
    """Every run marker in the stream, oldest first."""
    import nats

    from scripts.launch.ha.runtime import run_subject

    async def _all() -> list[dict[str, Any]]:
        js = node.js()
        out: list[dict[str, Any]] = []
        seq = 1
        while True:
            try:
                msg = await js.get_msg(stream, seq=seq, subject=run_subject(stream), next=True)
            except nats.js.errors.NotFoundError:
                return out
            out.append(dict(json.loads(msg.data)))
            seq = int(msg.seq) + 1

    return node.call(_all(), timeout_s)  # type: ignore[no-any-return]


def export_stream(url: str, out_dir: str | Path, timeout_s: float = 60.0) -> Path:
    """Write the run of ``url`` into ``out_dir/<run id>``; return that directory."""
    from scripts.launch.ha.standby import RunFiles
    from transports.config.ha import HaConfig
    from transports.ha.replication_service import ReplicationService
    from transports.ha.service import HaNode

    server, stream, want = parse_stream_url(url)
    cfg = HaConfig(servers=[server], stream=stream)
    node = HaNode(cfg, name="cmc-export").start()
    clock = LiveClock()
    try:
        markers = _markers(node, stream, cfg.op_timeout_ms / 1000 + 5)
        if want:
            markers = [m for m in markers if m.get("run") == want]
        if not markers:
            raise CmcError(f"stream {stream} at {server}: no run"
                           + (f" {want!r}" if want else ""))
        marker = markers[-1]
        run_id = str(marker.get("run") or "run")
        run_dir = Path(out_dir) / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        rep = ReplicationService(node)
        state: dict[str, Any] = {"files": None, "error": "", "done": False, "last": clock.mono_ns()}
        lock = threading.Lock()

        def on_record(rec: Any) -> None:
            with lock:
                state["last"] = clock.mono_ns()
                if state["done"]:
                    return
                if rec.kind == "run":
                    if state["files"] is not None:  # the next run begins: this one is whole
                        state["done"] = True
                        return
                    run = json.loads(rec.data)
                    if not run.get("config"):
                        raise CmcError(f"run {run_id}: its first record carries no config")
                    cfg_json = run["config"].encode()
                    placement = json.loads(cfg_json).get("placement") or {}
                    nodes = placement.get("nodes") or [{"name": "engine"}]
                    state["files"] = RunFiles(run_dir, cfg_json, str(nodes[0]["name"]))
                    return
                if state["files"] is None:
                    raise CmcError(f"stream seq {rec.stream_seq}: a record before its run's "
                                   "first record")
                state["files"].apply(rec)

        follower = rep.follow(on_record, int(marker["stream_seq"]))
        deadline = clock.mono_ns() + int(timeout_s * 1e9)
        waiter = threading.Event()
        try:
            while True:
                behind = node.call(follower.lag_from_server(2.0), 3.0)[0]
                quiet = clock.mono_ns() - state["last"] > QUIET_S * 1e9
                if follower.error:
                    raise CmcError(f"stream {stream}: {follower.error}")
                if state["done"] or (behind == 0 and quiet):
                    break
                if clock.mono_ns() > deadline:
                    raise CmcError(f"stream {stream}: run {run_id} not read within "
                                   f"{timeout_s:g} s ({behind} records behind)")
                waiter.wait(0.05)
        finally:
            rep.unfollow(follower)
        with lock:
            files = state["files"]
            if files is None:
                raise CmcError(f"stream {stream}: run {run_id} has no records")
            files.close(clock.now_ns())
        return run_dir
    finally:
        node.stop()


def resolve_journal(source: str) -> str:
    """``source`` itself, or for a stream URL the run directory exported from it (a fresh
    temporary directory, kept for the caller's reading)."""
    if not is_stream_url(source):
        return source
    return str(export_stream(source, tempfile.mkdtemp(prefix="cmc-stream-")))


__all__ = ["export_stream", "is_stream_url", "parse_stream_url", "resolve_journal"]
