"""``cmc replay --verify --jobs N``: the run's dispatcher groups verified in parallel processes.

A group's replay needs only its own journaled history: every item that came from outside the
group (another group's messages included, as ``@group``) is in the group's own batches, so two
groups replay independently (``Verifier(groups=...)`` already replays some groups and skips the
others' batches undecoded). The groups are dealt into ``jobs`` shares; each share's ``Verifier``
is built (cores, kernels) before the clock starts, then ``jobs - 1`` forked children run theirs
while this process runs the first share (with the progress bar: it reads the whole journal, as
every share does). Each share reads and checks the whole journal (CRCs, hash chain), so a
damaged journal fails in every process and raises here as it does in one.

The shares' results merge into the one-process result (``merge``): the same keys, the first
divergence (the earliest item divergence by record; else the earliest decision divergence, as
one process checks decisions only after a clean pass), ``external``,
``compared``, ``send_failures``, ``cross_group`` and ``checkpoints`` summed over the shares;
``items``, ``batches`` and ``decisions`` are journal-wide (each share counts them all), so they
are taken from the share that diverged, or the first one. It adds ``jobs``: the processes used.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from scripts.replay.core import Verifier, group_actors, load_run_config
from transports.errors import CmcError

#: how often the parent, done with its own share, checks that a child it waits for still lives
CHILD_POLL_S = 1.0
#: without ``--jobs``, a journal smaller than this is verified in one process: each share reads
#: the whole journal and a fork costs milliseconds, more than a short journal's second share
#: saves (a 30 s demo journal is ~2 MB, a 120 s one ~7.5 MB)
AUTO_JOBS_MIN_BYTES = 4 << 20


def default_jobs() -> int:
    """The CPUs this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def auto_jobs(journal: str) -> int:
    """``--jobs`` when not given: the CPUs (``default_jobs``) for a journal of at least
    ``AUTO_JOBS_MIN_BYTES`` (every segment), else 1."""
    from transports.journal.writer import find_segments

    size = sum(p.stat().st_size for p in find_segments(journal))
    return default_jobs() if size >= AUTO_JOBS_MIN_BYTES else 1


def shares(journal: str, jobs: int) -> list[list[str]]:
    """Deal the run's groups (those with actors) into at most ``jobs`` non-empty shares.

    The group with the most actors (the hot one: feeds, books, strategy, combo, legs) gets a
    share to itself where it can; the others are dealt round robin, largest first, onto the
    lightest shares by actor count."""
    placement = {g: a for g, a in group_actors(load_run_config(journal)).items() if a}
    order = sorted(placement, key=lambda g: (-len(placement[g]), g))
    n = max(1, min(jobs, len(order)))
    out: list[list[str]] = [[] for _ in range(n)]
    load = [0] * n
    for g in order:
        k = load.index(min(load))
        out[k].append(g)
        load[k] += len(placement[g])
    return out


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (an exception whose ``__init__`` takes other arguments
    than its ``args``, ``JournalCorrupt``, does not), else a ``CmcError`` with its text."""
    try:
        return pickle.loads(pickle.dumps(exc))  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - any pickling failure: send the text instead
        if isinstance(exc, CmcError):
            return CmcError(str(exc))
        return CmcError("".join(traceback.format_exception(exc)).strip())


def _child(conn: Connection, verifier: Verifier) -> None:
    """A forked child: run its share, send the result (or the error) back, exit."""
    try:
        payload: tuple[str, Any] = ("ok", verifier.run())
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        payload = ("error", _portable(exc))
    try:
        conn.send(payload)
    finally:
        conn.close()


class ParallelVerify:
    """The shares' ``Verifier``\\s, built now; ``run`` forks, runs and merges.

    ``jobs <= 1`` (or a run with one group) is one ``Verifier`` in this process."""

    def __init__(self, journal: str, jobs: int) -> None:
        self.parts = shares(journal, jobs)
        self.verifiers = [Verifier(journal, groups=p) for p in self.parts]

    @property
    def jobs(self) -> int:
        """The processes ``run`` uses."""
        return len(self.verifiers)

    def run(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Verify every share; return the merged result (``merge``)."""
        if len(self.verifiers) == 1:
            return {**self.verifiers[0].run(progress), "jobs": 1}
        ctx = multiprocessing.get_context("fork")  # the children inherit the built cores
        children = []
        for v in self.verifiers[1:]:
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_child, args=(send, v), daemon=True)
            p.start()
            send.close()
            children.append((p, recv))
        done = False
        try:
            results = [self.verifiers[0].run(progress)]
            for p, recv in children:
                # a long share may take long: wait while its process lives, not a fixed time
                while not recv.poll(CHILD_POLL_S):
                    if not p.is_alive() and not recv.poll(0):
                        raise CmcError(f"replay worker {p.pid} died (exit code {p.exitcode})")
                try:
                    kind, value = recv.recv()
                except EOFError:
                    raise CmcError(f"replay worker {p.pid} died (exit code {p.exitcode})") from None
                if kind == "error":
                    raise value
                results.append(value)
            done = True
        finally:
            for p, recv in children:
                recv.close()
                if not done:
                    p.kill()  # this share failed: the others' results are not wanted
                p.join(timeout=5)
                if p.is_alive():
                    p.kill()
                    p.join(timeout=5)
        return merge(results)


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge the shares' results into one, as one process over every group reports it."""
    item_divs = [
        (r["divergence"]["record"], k)
        for k, r in enumerate(results)
        if r["divergence"] is not None and not _decision_div(r["divergence"])
    ]
    any_divs = [
        (r["divergence"]["record"], k) for k, r in enumerate(results) if r["divergence"] is not None
    ]
    first = min(item_divs or any_divs)[1] if any_divs else None
    base = results[0] if first is None else results[first]
    cps = [r["checkpoints"] for r in results]
    return {
        **base,
        "status": "identical" if first is None else "diverged",
        "external": sum(r["external"] for r in results),
        "compared": sum(r["compared"] for r in results),
        "groups": sorted(g for r in results for g in r["groups"]),
        "send_failures": sum(r["send_failures"] for r in results),
        "cross_group": {
            k: sum(r["cross_group"][k] for r in results) for k in results[0]["cross_group"]
        },
        "checkpoints": {
            "seen": sum(c["seen"] for c in cps),
            "matched": sum(c["matched"] for c in cps),
            "differs": sorted(
                (d for c in cps for d in c["differs"]), key=lambda d: d.get("record", 0)
            ),
        },
        "divergence": base["divergence"],
        "jobs": len(results),
    }


def _decision_div(div: dict[str, Any]) -> bool:
    """Whether a divergence came from the end-of-run decision check, not an item."""
    return str(div["reason"]).startswith(("decision ", "the journal holds a decision"))


__all__ = ["AUTO_JOBS_MIN_BYTES", "ParallelVerify", "auto_jobs", "default_jobs", "merge", "shares"]
