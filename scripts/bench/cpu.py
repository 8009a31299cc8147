"""CPU time of processes and of this process's host threads, for the benches' load-independent
figures (CPU per order, CPU per tick): on a shared machine the wall-clock rows measure the
scheduler, the CPU a thread spent on the work does not."""

from __future__ import annotations

import threading

import psutil


def procs_cpu_s(procs: list[psutil.Process]) -> float:
    """User + system CPU seconds of these processes so far (0 for one that is gone)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds so far of this process's named threads (the node's hosts: ``host-hot``...)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for t in psutil.Process().threads():
        name = names.get(t.id)
        if name is not None and name.startswith("host-"):
            out[name] = out.get(name, 0.0) + t.user_time + t.system_time
    return out


__all__ = ["procs_cpu_s", "thread_cpu_s"]
