"""Log-based replay (``cmc replay --verify``): the journal's external events through fresh cores.

For each dispatcher group of the run, fresh cores are built from the run's ``config.json`` with
``build_shells`` (no sockets are opened, no journal sink). Every item the journal recorded as
coming from outside the group (source ``@md``, ``@ref``, ``@oe``, ``@timer``, ``@group``,
``@start``, ``@stop``, ``@supervisor``) is fed to its destination core at the batch's ``ts_ns``,
and the cores' outputs are routed inside the group by the host's own dispatcher
(``actors.runtime.dispatch``): FIFO, run to completion, derived book data delivered but not
compared, ``@timer`` requests only tracked (the journal holds the timers that fired), frames for
``@`` sockets and messages for other groups collected instead of sent. Every delivery and
socket frame the replay produces must equal the journal's next item, byte for byte; the
``Decision``\\s a group sent to the journal must equal those the journal wrote. CHECKPOINT
records change nothing in the replay: each one's cores are compared with the replayed cores by
their snapshots (``checkpoints`` in the result). Restarts (``actors.runtime.rebuild.group_router.
GroupRouter``, which the supervisor's rebuild of restarted actors uses too) are read as the live
rebuild acted (``actors.runtime.rebuild.rebuild``).

Speed: each batch is decoded whole, typed, by one msgspec call (``scripts.replay.items``); the
items the cores caused stay raw bytes and are compared as bytes, never decoded; a replay of
some groups only skips the other groups' batches undecoded (``peek_batch``), which is how
``scripts.replay.parallel`` verifies groups in parallel processes (``--jobs``). The journal is
read and checked (CRCs, hash chain) a chunk of records at a time (``JournalReader.chunks``), and a
cycle whose only journaled item is its input (most are: a venue frame, a timer, another group's
message whose effects stay inside the group unjournaled) skips the item-by-item match. What is
left is the cores' own work and the dispatcher's routing of it.
"""

from __future__ import annotations

import collections
import functools
import operator
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

from actors.runtime.checkpoint import load_cores
from actors.runtime.dispatch import NOT_JOURNALED
from actors.runtime.host.supervised_host import snapshot_diff
from actors.runtime.node import build_shells
from actors.runtime.rebuild.group_router import GroupRouter, Observer
from actors.runtime.rebuild.rebuild import adopt
from actors.runtime.supervisor import with_epoch, wrap_leg
from scripts.replay.items import batch_decoder, lazy_items, peek_batch
from transports.clock import TestClock
from transports.config.engine import AppConfig
from transports.errors import CmcError
from transports.journal.format import (
    REC_HDR,
    T_BATCH,
    T_CHECKPOINT,
    decode_batch_raw,
    decode_checkpoint,
    decode_item,
)
from transports.journal.reader import JournalReader
from transports.journal.writer import CORES_FILE, base_path
from transports.latency import LatencyRecorder
from transports.wire.codec import encode
from transports.wire.messages import Decision

JOURNAL = "journal"
_second = operator.itemgetter(1)


def load_run_config(journal: str | Path) -> AppConfig:
    """Return the AppConfig saved beside the journal (``config.json``)."""
    path = base_path(journal).parent / "config.json"
    if not path.exists():
        raise CmcError(f"{path}: missing; replay needs the run's config.json beside the journal")
    try:
        return msgspec.json.decode(path.read_bytes(), type=AppConfig)
    except msgspec.DecodeError as exc:
        raise CmcError(f"{path}: not a valid AppConfig: {exc}") from None


def recorded_wrap(journal: str | Path, cfg: AppConfig) -> Callable[[str, Any], Any] | None:
    """Return the core wrapping ``cores.json`` beside the journal records, or None (none).

    ``{"leg": "LegReconciler"}``: the node wrapped its LegExecutors in ``LegReconciler``
    (``cmc launch``; ``cmc demo`` does not), so a replay must wrap them too."""
    path = base_path(journal).parent / CORES_FILE
    if not path.exists():
        return None
    try:
        spec = msgspec.json.decode(path.read_bytes(), type=dict[str, str])
    except msgspec.DecodeError as exc:
        raise CmcError(f"{path}: not valid JSON: {exc}") from None
    if spec == {"leg": "LegReconciler"}:
        return lambda actor, core: wrap_leg(actor, core, cfg)
    raise CmcError(f"{path}: unknown core wrapping {spec} (known: {{'leg': 'LegReconciler'}})")


def group_actors(cfg: AppConfig) -> dict[str, list[str]]:
    """Return group name -> the actors placed in it (the journal excluded)."""
    if cfg.placement is None:
        raise CmcError("config.json has no [placement]; replay needs the run's groups")
    return {g.name: [a for a in g.actors if a != JOURNAL] for g in cfg.placement.groups}


def build_cores(cfg: AppConfig, actors: Iterable[str]) -> dict[str, Any]:
    """Return fresh cores for ``actors`` (shells built without sockets or journal)."""
    shells = build_shells(
        cfg, "/replay", TestClock(0), LatencyRecorder(capacity=16), None, set(actors)
    )
    return {name: s.core for name, s in shells.items()}


def plain(msg: Any) -> Any:
    """Return a JSON-able view of a typed message or raw MessagePack bytes."""
    if isinstance(msg, msgspec.Raw | bytes | memoryview):
        msg = msgspec.msgpack.decode(bytes(msg))
    elif isinstance(msg, msgspec.Struct):
        return {"type": type(msg).__name__, **msgspec.structs.asdict(msg)}
    return msgspec.to_builtins(msg)


def _item_view(index: int, src: str, dest: str, msg: Any) -> dict[str, Any]:
    return {"record": index, "src": src, "dest": dest, "msg": plain(msg)}


class Verifier:
    """Replays a journal group by group and compares, stopping at the first divergence."""

    def __init__(
        self,
        journal: str | Path,
        cfg: AppConfig | None = None,
        observer: Observer | None = None,
        groups: Iterable[str] | None = None,
        wrap: Callable[[str, Any], Any] | None = None,
    ) -> None:
        self.journal = journal
        self.cfg = cfg or load_run_config(journal)
        #: ``wrap(actor, core)``: the wrapping the recording node applied to its cores (by
        #: default what ``cores.json`` beside the journal says, as ``cmc launch`` writes it)
        self.wrap = wrap or recorded_wrap(journal, self.cfg) or (lambda _a, core: core)
        placement = group_actors(self.cfg)
        wanted = set(groups) if groups is not None else set(placement)
        base = self.cfg.run.epoch
        self.routers = {
            g: GroupRouter({n: self.wrap(n, c) for n, c in build_cores(self.cfg, a).items()},
                           observer, build=self._build,
                           adopt=functools.partial(adopt, self._build), base_epoch=base)
            for g, a in placement.items()
            if g in wanted and a
        }
        self.actor_group = {a: g for g, acts in placement.items() for a in acts}
        self.items = self.batches = self.external = self.compared = 0
        self.send_failures = 0
        #: CHECKPOINT records: each one's cores against the replayed ones (snapshots)
        self.checkpoints: dict[str, Any] = {"seen": 0, "matched": 0, "differs": []}
        self.divergence: dict[str, Any] | None = None
        self.reader = JournalReader(journal)
        #: typed decoding of whole batches (``scripts.replay.items``); its senders: every actor
        self._decode = batch_decoder([*self.actor_group, JOURNAL])
        self._every_group = set(self.routers) >= {g for g, a in placement.items() if a}
        self._decisions_seen: dict[str, list[tuple[int, bytes]]] = collections.defaultdict(list)
        #: what the routers collected, taken as the replay goes (``_drain``): the decisions
        #: each group sent to the journal, encoded; messages sent to other groups and how
        #: many of them were derived book data
        self._decisions_sent: dict[str, list[bytes]] = {g: [] for g in self.routers}
        self._cross_sent = self._cross_derived = 0

    def _build(self, actor: str, epoch: int) -> Any:
        return self.wrap(actor, build_cores(with_epoch(self.cfg, epoch), [actor])[actor])

    def _diverge(
        self,
        index: int,
        group: str,
        ts: int,
        expected: dict[str, Any] | None,
        got: dict[str, Any] | None,
        reason: str,
    ) -> None:
        self.divergence = {
            "record": index,
            "group": group,
            "ts_ns": ts,
            "reason": reason,
            "expected": expected,
            "got": got,
        }

    def _check_batch(self, group: str, ts: int, items: list[Any], body: Any) -> bool:
        """Feed a batch's external items to ``group``'s cores and match what they cause,
        item by item, against the batch (``items`` as ``scripts.replay.items`` decodes them;
        ``body`` the record, read again only to show a divergence)."""
        external = self.routers[group].external
        pending: list[tuple[str, str, Any]] = []  # what the last external item caused
        head = 0  # pending[head] is the next one the journal must hold
        last_send = ""
        base = self.items
        for k, it in enumerate(items):
            if it.ext:
                if head < len(pending):
                    self._diverge_item(body, base, k, group, ts, pending[head],
                                       "replay produced an item the journal does not have here")
                    return False
                self.external += 1
                pending = external(it.src, it.dest, it.msg, ts)
                head = 0
                continue
            src, dest = it.src, it.dest
            if head == len(pending):
                if dest == JOURNAL and last_send and src == last_send:
                    self.send_failures += 1  # the live shell failed to send; replay does not send
                    continue
                self._diverge_item(body, base, k, group, ts, None,
                                   "the journal has an item replay did not produce")
                return False
            s, d, m = pending[head]
            # the bytes the live host journaled against the replayed message's encoding
            if s != src or d != dest or memoryview(it.msg) != encode(m):
                if dest == JOURNAL and last_send and src == last_send:
                    self.send_failures += 1
                    continue
                self._diverge_item(body, base, k, group, ts, pending[head], "items differ")
                return False
            head += 1
            self.compared += 1
            last_send = src if "@" in dest else ""
        if head < len(pending):
            self._diverge_extra(group, ts, base + len(items), pending[head])
            return False
        return True

    def _diverge_item(self, body: Any, base: int, k: int, group: str, ts: int,
                      got: tuple[str, str, Any] | None, reason: str) -> None:
        """Record a divergence at item ``k`` of a batch: the journal's item as recorded (its
        raw bytes, read again from ``body``) against what the replay produced (``got``)."""
        idx = base + k
        src, dest, raw = decode_batch_raw(body)[2][k]
        self._diverge(idx, group, ts, _item_view(idx, src, dest, raw),
                      None if got is None else _item_view(idx, *got), reason)

    def run(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Replay the whole journal; return the result (``status`` identical or diverged).

        ``progress(n, records)`` is told the body bytes of the records read since its last
        call and how many records they were, once a chunk of records (``JournalReader.chunks``:
        ``SCAN_CHUNK`` records, ~150 KiB of a demo journal; ``cmd.progress_bar``)."""
        decode, routers, every_group = self._decode, self.routers, self._every_group
        externals = {g: r.external for g, r in routers.items()}
        check, hdr = self._check_batch, REC_HDR.size
        for _seg, first, chunk in self.reader.chunks():
            self._drain()
            if progress is not None:
                # the chunk's records lie end to end: its bytes less their frame headers
                end = chunk[-1][0] + hdr + len(chunk[-1][2])
                progress(end - chunk[0][0] - hdr * len(chunk), len(chunk))
            for k, (_off, rtype, body, _h) in enumerate(chunk):
                if rtype != T_BATCH:
                    if rtype == T_CHECKPOINT:
                        self._check_checkpoint(first + k, body)
                    continue
                self.batches += 1
                if not every_group:  # a rebuild of some groups: skip the others' undecoded
                    ts, group, n = peek_batch(body)
                    if group != "" and group not in routers:
                        self.items += n
                        continue
                ts, group, items = decode(body) or lazy_items(body)
                external = externals.get(group)
                if external is not None:
                    if len(items) == 1 and items[0].ext:
                        # the common cycle (a venue frame, a timer, another group's message)
                        # journaled only its input: what it causes must all be unjournaled
                        it = items[0]
                        self.external += 1
                        got = external(it.src, it.dest, it.msg, ts)
                        if got:
                            self._diverge_extra(group, ts, self.items + 1, got[0])
                            return self._finish()
                    elif not check(group, ts, items, body):
                        return self._finish()
                elif group == "":
                    self._journal_batch(ts, body)
                self.items += len(items)
        return self._finish()

    def _finish(self) -> dict[str, Any]:
        self._drain()
        if self.divergence is None:
            self._check_decisions()
        return self.result()

    def _diverge_extra(self, group: str, ts: int, idx: int, got: tuple[str, str, Any]) -> None:
        self._diverge(idx, group, ts, None, _item_view(idx, *got),
                      "replay produced more items than the journal holds for this cycle")

    def _journal_batch(self, ts: int, body: Any) -> None:
        """The journal's own batch: the Decisions it wrote (compared at the end) and the
        ``host_cores`` markers of rebuilt hosts."""
        for src, dest, raw in decode_batch_raw(body)[2]:
            msg = decode_item(src, dest, raw)
            if isinstance(msg, Decision):
                g = self.actor_group.get(msg.actor, "")
                self._decisions_seen[g].append((self.items, bytes(raw)))
                for name, router in self.routers.items():
                    router.host_marker(msg, name, ts)  # a rebuilt host's cores

    def _check_checkpoint(self, index: int, body: Any) -> None:
        """A checkpoint changes nothing in the replay (the replayed cores already hold its
        state); its cores' snapshots are compared with the replayed cores' (reported in
        ``checkpoints``, not a divergence: the items are what ``--verify`` compares)."""
        _ts, group, meta, blob = decode_checkpoint(body)
        router = self.routers.get(group)
        if router is None:
            return
        self.checkpoints["seen"] += 1
        try:
            cores = load_cores(blob, meta.get("externals", {}), meta.get("epochs", {}),
                               self._build)
        except Exception as exc:  # noqa: BLE001 - reported, the replay goes on
            self.checkpoints["differs"].append({"record": index, "group": group,
                                                "error": repr(exc)})
            return
        diff = {a: d for a, c in router.cores.items()
                if (d := snapshot_diff(c, cores[a]) if a in cores else ["<missing>"])}
        if diff:
            self.checkpoints["differs"].append({"record": index, "group": group,
                                                "actors": diff})
        else:
            self.checkpoints["matched"] += 1

    def _check_decisions(self) -> None:
        for g, sent in self._decisions_sent.items():
            seen = self._decisions_seen.get(g, [])
            for k, enc in enumerate(sent):
                if k >= len(seen) or seen[k][1] != enc:
                    idx = seen[k][0] if k < len(seen) else self.items
                    exp = _item_view(idx, "", JOURNAL, seen[k][1]) if k < len(seen) else None
                    self._diverge(
                        idx,
                        g,
                        0,
                        exp,
                        _item_view(idx, "", JOURNAL, enc),
                        f"decision {k} the group sent to the journal differs",
                    )
                    return
            if len(seen) > len(sent):
                idx, raw = seen[len(sent)]
                self._diverge(
                    idx,
                    g,
                    0,
                    _item_view(idx, "", JOURNAL, raw),
                    None,
                    "the journal holds a decision replay did not make",
                )
                return

    def _drain(self) -> None:
        """Take what the routers collected (decisions for the journal, messages for other
        groups) as it comes: a long journal's cross-group messages, kept, would grow the heap
        by hundreds of bytes a market data event (each group's book data for the risk group)."""
        for g, router in self.routers.items():
            got = router.collected
            if got:
                mine = [m for d, m in got if d == JOURNAL]
                self._decisions_sent[g] += map(encode, mine)
                # derived book data is not journaled: a group fed it by another cannot be
                # replayed alone (counted in C: the hot group sends thousands a minute)
                derived = sum(map(NOT_JOURNALED.__contains__, map(type, map(_second, got))))
                self._cross_sent += len(got) - len(mine)
                self._cross_derived += derived - sum(type(m) in NOT_JOURNALED for m in mine)
                got.clear()

    def cross_group(self) -> dict[str, int]:
        """Messages sent to other groups against what the journal shows them receiving."""
        self._drain()
        return {"sent": self._cross_sent, "unjournaled": self._cross_derived}

    def result(self) -> dict[str, Any]:
        """Return the replay's outcome as a JSON-able dict."""
        torn = self.reader.torn_tail
        return {
            "status": "identical" if self.divergence is None else "diverged",
            "items": self.items,
            "batches": self.batches,
            "external": self.external,
            "compared": self.compared,
            "groups": sorted(self.routers),
            "decisions": sum(len(v) for v in self._decisions_seen.values()),
            "send_failures": self.send_failures,
            "cross_group": self.cross_group(),
            "checkpoints": self.checkpoints,
            "torn_tail": None if torn is None else {"file": torn[0], "bytes": torn[2]},
            "divergence": self.divergence,
        }


__all__ = ["GroupRouter", "Verifier", "build_cores", "group_actors", "load_run_config", "plain"]
