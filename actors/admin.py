"""Admin: the commands of the admin socket, request validation and request-id deduplication.

The socket itself (ZeroMQ ROUTER, CURVE, ZAP allowlist) is ``transports.admin_server``; this
module turns one authenticated request frame into one reply frame:

- a frame larger than ``max_request_bytes``, not MessagePack, not a map, or without a string
  ``id`` and ``cmd`` gets an error reply and runs nothing;
- a request id already answered for the same client key is answered from the cache (the reply
  carries ``"duplicate": true``) and runs nothing;
- every command and its result is journaled (``Decision("admin", cmd, json)`` with the client's
  key id), refusals included.

Commands run against a ``Backend`` (the launcher): ``backend.cluster`` reaches any actor on any
node with deadlines. Every command that changes the engine does so with a typed message delivered
through the dispatcher (``Halt``, ``Reduce``, ``Resume``, ``Flatten``, ``SetParams``), so it is
journaled as an input like any other: a replay and a rebuilt actor see it. ``set`` also updates
the config copy of every node and of the launcher, so an actor restarted fresh, or a node
process started again, keeps the value. See ``docs/admin-protocol.md`` for every command.
"""

from __future__ import annotations

import collections
import json
import math
from collections.abc import Callable
from typing import Annotated, Any, Protocol

import msgspec

from actors.topology import DEFAULT as TOPO
from actors.topology import Topology
from transports.config.engine import (
    LIVE_RISK_FIELDS,
    AppConfig,
    PairConfig,
    live_pair_fields,
    pair_value,
    with_params,
)
from transports.errors import AdminError, ConfigError
from transports.wire.codec import encode
from transports.wire.messages import Flatten, Halt, Reduce, Resume

#: Commands that change nothing; their results are journaled by size only.
READ_ONLY = frozenset({"status", "actors", "get", "orders", "positions", "combos", "latency",
                       "pairs"})


class AdminRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One request: a client-chosen id (unique per client key), a command, its arguments."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    cmd: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    args: dict[str, Any] = {}


class Backend(Protocol):
    """What the commands need from the launcher."""

    cluster: Any
    cfg: AppConfig

    def status(self) -> dict[str, Any]: ...

    def request_shutdown(self, reason: str) -> None: ...

    def journal(self, what: str, detail: dict[str, Any]) -> None: ...


_DECODER = msgspec.msgpack.Decoder(AdminRequest)


class AdminCore:
    """Validates, deduplicates, runs and journals admin requests (no sockets, no threads)."""

    def __init__(self, backend: Backend, max_request_bytes: int = 65536,
                 dedup_entries: int = 4096) -> None:
        self.backend = backend
        self.max_request_bytes = max_request_bytes
        self.dedup_entries = dedup_entries
        self._cache: collections.OrderedDict[tuple[str, str], dict[str, Any]] = \
            collections.OrderedDict()
        self.counters: collections.Counter[str] = collections.Counter()
        self.commands: dict[str, Callable[[dict[str, Any], str], Any]] = {
            "status": lambda a, k: backend.status(),
            "actors": self._actors,
            "halt": lambda a, k: self._risk(Halt(self._reason(a, k))),
            "reduce": lambda a, k: self._risk(Reduce(self._reason(a, k))),
            "resume": self._resume,
            "flatten": self._flatten,
            "get": self._get,
            "set": self._set,
            "orders": self._orders,
            "positions": self._positions,
            "combos": self._combos,
            "latency": self._latency,
            "restart": self._restart,
            "rotate-journal": self._rotate,
            "shutdown": self._shutdown,
            "pairs": self._pairs,
        }

    # --- one frame in, one frame out -------------------------------------------------------------

    def handle(self, payload: bytes, key_id: str) -> bytes:
        """Answer one request frame from the client with key ``key_id``."""
        self.counters["requests"] += 1
        if key_id.partition(":")[0] in ("", "?"):
            # a frame no allowlisted key vouches for (the server's ``?`` key id): never run it,
            # whatever let it through
            self.counters["unknown_key"] += 1
            return self._refuse("", key_id, "refused: the client key is not on the allowlist")
        if len(payload) > self.max_request_bytes:
            return self._refuse("", key_id, f"request of {len(payload)} bytes exceeds "
                                            f"{self.max_request_bytes}")
        try:
            req = _DECODER.decode(payload)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
            # RecursionError: nesting deeper than the decoder's stack (a hostile frame)
            return self._refuse(_salvage_id(payload), key_id, f"malformed request: {exc}")
        cached = self._cache.get((key_id, req.id))
        if cached is not None:
            self.counters["duplicates"] += 1
            self._cache.move_to_end((key_id, req.id))
            return encode({**cached, "duplicate": True})
        fn = self.commands.get(req.cmd)
        if fn is None:
            reply: dict[str, Any] = {"id": req.id, "ok": False,
                                     "error": f"unknown command {req.cmd!r}"}
        else:
            try:
                reply = {"id": req.id, "ok": True, "result": fn(dict(req.args), key_id)}
                self.counters["executed"] += 1
            except AdminError as exc:
                reply = {"id": req.id, "ok": False, "error": str(exc)}
            except Exception as exc:  # noqa: BLE001 - a reply, never a dead admin thread
                reply = {"id": req.id, "ok": False, "error": f"internal error: {exc!r}"}
        if not reply["ok"]:
            self.counters["refused"] += 1
        self._remember(key_id, req.id, reply)
        self._journal(req.cmd, key_id, req.id, req.args, reply)
        return encode(reply)

    def alarm(self, reason: str) -> None:
        """Record that the admin socket stopped serving by itself (its ZAP handler died)."""
        self.counters["alarms"] += 1
        try:
            self.backend.journal("alarm", {"key": "", "id": "", "args": {}, "ok": False,
                                           "error": reason})
        except Exception:  # noqa: BLE001 - the journal is reported by its own supervisor
            self.counters["journal_errors"] += 1

    def _refuse(self, rid: str, key_id: str, why: str) -> bytes:
        self.counters["malformed"] += 1
        reply = {"id": rid, "ok": False, "error": why}
        self._journal("refused", key_id, rid, {}, reply)
        return encode(reply)

    def _remember(self, key_id: str, rid: str, reply: dict[str, Any]) -> None:
        self._cache[(key_id, rid)] = reply
        while len(self._cache) > self.dedup_entries:
            self._cache.popitem(last=False)

    def _journal(self, cmd: str, key_id: str, rid: str, args: dict[str, Any],
                 reply: dict[str, Any]) -> None:
        detail = {"key": key_id, "id": rid, "args": args, "ok": reply["ok"]}
        if reply["ok"] and cmd in READ_ONLY:
            # views (cmc top polls every second) are journaled by size, not copied in full
            detail["result_bytes"] = len(encode(reply.get("result")))
        elif reply["ok"]:
            detail["result"] = reply.get("result")
        else:
            detail["error"] = reply.get("error")
        try:
            self.backend.journal(cmd, detail)
        except Exception:  # noqa: BLE001 - the journal is reported by its own supervisor
            self.counters["journal_errors"] += 1

    # --- commands --------------------------------------------------------------------------------

    @property
    def _cluster(self) -> Any:
        return self.backend.cluster

    def _strategies(self) -> list[str]:
        return [Topology.strategy(p.name) for p in self.backend.cfg.pairs]

    def _legs(self) -> list[str]:
        return [a for a in self._cluster.actors() if a.startswith("leg.")]

    def _actors(self, args: dict[str, Any], key: str) -> Any:
        out: dict[str, Any] = {}
        for node in self._cluster.nodes:
            try:
                out.update(self._cluster.on_node(node, "actors", {}))
            except Exception as exc:  # noqa: BLE001 - a dead node is reported, not fatal
                out.update({a: {"node": node, "state": "unreachable", "error": str(exc)}
                            for a, n in self._cluster.node_of.items() if n == node})
        return out

    @staticmethod
    def _reason(args: dict[str, Any], key: str) -> str:
        return f"admin {key[:12]}: {args.get('reason', '')}".rstrip(": ")

    def _risk(self, msg: Halt | Reduce | Resume | Flatten) -> Any:
        self._cluster.tell(TOPO.risk, msg)
        return {"sent": type(msg).__name__.lower(), "reason": msg.reason}

    def _resume(self, args: dict[str, Any], key: str) -> Any:
        msg = Resume(self._reason(args, key))
        for s in self._strategies():
            self._cluster.tell(s, msg)
        return self._risk(msg)

    def _flatten(self, args: dict[str, Any], key: str) -> Any:
        msg = Flatten(self._reason(args, key))
        for s in self._strategies():
            self._cluster.tell(s, msg)
        self._risk(msg)
        return {"sent": "flatten", "strategies": self._strategies()}

    def _param(self, key: str) -> tuple[str, msgspec.Struct, str]:
        """Resolve ``pairs.<name>.<field>`` or ``risk.<field>``: section, its struct, field."""
        parts = key.split(".")
        cfg = self.backend.cfg
        if len(parts) in (3, 4) and parts[0] == "pairs":
            for p in cfg.pairs:
                if p.name == parts[1]:
                    fld = ".".join(parts[2:])  # a kind's sub-section field: basis.rate
                    if fld not in live_pair_fields(p):
                        raise AdminError(f"{key}: not a live parameter (settable: "
                                         f"{live_pair_fields(p)})")
                    return f"pairs.{p.name}", p, fld
            raise AdminError(f"{key}: unknown pair {parts[1]!r}")
        if len(parts) == 2 and parts[0] == "risk":
            if parts[1] not in LIVE_RISK_FIELDS:
                raise AdminError(f"{key}: not a live parameter (settable: "
                                 f"{sorted(LIVE_RISK_FIELDS)})")
            return "risk", cfg.risk, parts[1]
        raise AdminError(f"unknown parameter {key!r} (pairs.<pair>.<field> or risk.<field>)")

    def _get(self, args: dict[str, Any], key: str) -> Any:
        name = args.get("key")
        if not isinstance(name, str):
            cfg = self.backend.cfg
            out = {f"pairs.{p.name}.{f}": pair_value(p, f) for p in cfg.pairs
                   for f in live_pair_fields(p)}
            out.update({f"risk.{f}": getattr(cfg.risk, f) for f in sorted(LIVE_RISK_FIELDS)})
            return out
        _, struct, fld = self._param(name)
        return {name: _value(struct, fld)}

    def _set(self, args: dict[str, Any], key: str) -> Any:
        """Validate against the config types, then ``SetParams`` to every holder on every node
        (each node updates its config copy first); the launcher's copy too."""
        name, value = args.get("key"), args.get("value")
        if not isinstance(name, str) or "value" not in args:
            raise AdminError("set needs args {key, value}")
        if isinstance(value, float) and not math.isfinite(value):
            raise AdminError(f"{name}: must be a finite number, got {value!r}")
        section, struct, fld = self._param(name)
        try:
            new_cfg = with_params(self.backend.cfg, section, {fld: value})
        except ConfigError as exc:
            raise AdminError(str(exc)) from None
        # the launcher's copy first: a node process started from now on gets the new value
        self.backend.cfg = new_cfg
        told = self._cluster.set_params(section, {fld: value})
        new = new_cfg.risk if section == "risk" else next(
            p for p in new_cfg.pairs if f"pairs.{p.name}" == section)
        return {name: _value(new, fld), "previous": _value(struct, fld),
                "applied_to": sorted(a for actors in told.values() for a in actors["told"])}

    def _orders(self, args: dict[str, Any], key: str) -> Any:
        limit = int(args.get("limit", 50))
        out = {}
        for leg in self._legs():
            snap = self._cluster.query(leg)
            orders = snap.get("orders", {})
            open_ = snap.get("open", [])
            recent = list(orders)[-limit:] if limit > 0 else []
            out[leg] = {"trading_state": snap.get("trading_state"),
                        "open": {cl: orders.get(cl) for cl in open_},
                        "recent": {cl: orders[cl] for cl in recent},
                        "total": len(orders), "reconcile": snap.get("reconcile")}
        return out

    def _positions(self, args: dict[str, Any], key: str) -> Any:
        risk = self._cluster.query(TOPO.risk)
        legs = {leg: self._cluster.query(leg).get("positions", {}) for leg in self._legs()}
        return {"risk": {k: risk.get(k) for k in ("positions", "positions_sides", "exposure",
                                                   "pnl", "state")},
                "legs": legs}

    def _combos(self, args: dict[str, Any], key: str) -> Any:
        limit = int(args.get("limit", 20))
        snap = self._cluster.query("combo")
        combos = snap.get("combos", {})
        keep = list(combos)[-limit:] if limit > 0 else []
        return {"counters": snap.get("counters", {}), "combos": {k: combos[k] for k in keep}}

    def _latency(self, args: dict[str, Any], key: str) -> Any:
        out = {}
        for node in self._cluster.nodes:
            try:
                out[node] = self._cluster.on_node(node, "latency", {})
            except Exception as exc:  # noqa: BLE001
                out[node] = {"error": str(exc)}
        return out

    def _restart(self, args: dict[str, Any], key: str) -> Any:
        actor = args.get("actor")
        if not isinstance(actor, str) or actor not in self._cluster.node_of:
            raise AdminError(f"restart needs args {{actor}} naming a known actor, got {actor!r}")
        return self._cluster.op(actor, "restart", {}, timeout_s=5.0)

    def _rotate(self, args: dict[str, Any], key: str) -> Any:
        """Seal the journal's segment and start the next; the reply names the new file."""
        return self._cluster.op(TOPO.journal, "rotate_journal", {}, timeout_s=5.0)

    def _shutdown(self, args: dict[str, Any], key: str) -> Any:
        self.backend.request_shutdown(f"admin {key[:12]}")
        return {"shutting_down": True}

    def _pairs(self, args: dict[str, Any], key: str) -> Any:
        """Everything ``cmc top`` shows, in one request."""
        cl = self._cluster
        risk = safe(lambda: cl.query(TOPO.risk), {}) or {}
        pairs = {}
        for p in self.backend.cfg.pairs:
            s = safe(lambda n=p.name: cl.query(Topology.strategy(n)), {}) or {}
            pairs[p.name] = {
                "legs": [p.leg_a, p.leg_b] + ([p.fx] if p.fx else []),
                "z_entry": p.z_entry, "z_exit": p.z_exit, "min_edge": p.min_edge,
                "last": s.get("last", {}), "pos_dir": s.get("pos_dir"),
                "pos_lots": [s.get("pos_a_lots"), s.get("pos_b_lots")],
                "pending": s.get("pending"), "intents": s.get("intents"),
                "halted": s.get("halted"), "flattening": s.get("flattening"),
                "refusals": s.get("refusals", {}), "reachable": bool(s)}
        lat = self._latency({}, key)
        legs = {}
        for v in self.backend.cfg.venues:
            if v.trading:  # each venue's order entry: its gate, the frames it could not read
                leg = Topology.leg(v.name)
                s = safe(lambda n=leg: cl.query(n), {}) or {}
                c = s.get("counters") or {}
                legs[v.name] = {"gate": s.get("gate"), "bad_frames": c.get("bad_frames", 0),
                                "unresolved": c.get("unresolved", 0), "reachable": bool(s)}
                if s.get("offsets"):  # futures offsets: both sides, today's part too
                    legs[v.name]["sides"] = s["offsets"].get("positions", {})
        return {"risk": {k: risk.get(k) for k in ("state", "reasons", "positions",
                                                   "positions_sides", "exposure", "pnl",
                                                   "feeds", "fills")},
                "pairs": pairs, "legs": legs, "latency": lat,
                "status": safe(self.backend.status, {})}


def safe(fn: Callable[[], Any], default: Any = None) -> Any:
    """Return ``fn()``, or ``default`` if it fails (a view degrades when one node is away)."""
    try:
        return fn()
    except Exception:  # noqa: BLE001
        return default


def _salvage_id(payload: bytes) -> str:
    """The ``id`` of a request that failed validation, if it is a map with a short string id."""
    try:
        obj = msgspec.msgpack.decode(payload)
    except Exception:  # noqa: BLE001 - not MessagePack at all
        return ""
    rid = obj.get("id") if isinstance(obj, dict) else None
    return rid if isinstance(rid, str) and len(rid) <= 128 else ""


def journal_detail(detail: dict[str, Any]) -> str:
    """Encode a journal detail as JSON (snapshots may hold non-JSON keys)."""
    return json.dumps(msgspec.to_builtins(detail, str_keys=True), sort_keys=True, default=str)


__all__ = ["AdminCore", "AdminError", "AdminRequest", "Backend",
           "journal_detail"]


def _value(struct: msgspec.Struct, fld: str) -> Any:
    """A live field's value: ``pair_value`` for a pair (``basis.rate``), else the attribute."""
    return pair_value(struct, fld) if isinstance(struct, PairConfig) else getattr(struct, fld)
