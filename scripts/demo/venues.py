"""The venue side of a demo run: every process the engine talks to, started as a user would
start them, and their records merged into one venue truth.

- venues without a gateway section: the simulator gateway (``cmc gateway sim``), one process;
- ``[[fakes]]``: a local fake of each real exchange API (``cmc fake-exchange``), all started
  with the same ``--start-ns`` so their seeded prices are one correlated market;
- venues with ``[venues.ccxt]``: one ``cmc gateway ccxt`` per account, pointed at its fake
  (``fake = NAME``) with demo credentials in the environment (the fake's account is the key);
- venues with ``[venues.paper]``: one ``cmc gateway paper`` each, on its source's data.

Each process writes its own record (orders it received, fills it made) at exit; ``truth()``
merges them so the summary judges the run from the venues' records, never the engine's view.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loguru import logger

from scripts.launch.process import GatewayProcess, SimProcess
from transports.clock import Clock
from transports.config.engine import AppConfig, VenueConfig
from transports.errors import DemoFailed


def demo_credentials(v: VenueConfig) -> dict[str, str]:
    """The environment a demo gives a ccxt gateway talking to a fake: the fake's account is the
    API key (the venue's account name), its secret and passphrase derive from it
    (docs/venues/crypto.md)."""
    assert v.ccxt is not None
    prefix = v.ccxt.credentials_env or f"CMC_{v.name.upper().replace('-', '_')}"
    return {f"{prefix}_KEY": v.account, f"{prefix}_SECRET": f"{v.account}-secret",
            f"{prefix}_PASSWORD": f"{v.account}-pass"}


class VenueSide:
    """Start, stop and read the records of every venue-side process of a config."""

    def __init__(self, cfg: AppConfig, conf: str | None, sock_dir: str, run_dir: Path,
                 clock: Clock, *, faults: str | None = None) -> None:
        self.cfg, self.conf, self.sock_dir, self.run_dir = cfg, conf, sock_dir, run_dir
        self.clock, self.faults = clock, faults
        self.sim: SimProcess | None = None
        self.fakes: dict[str, GatewayProcess] = {}
        self.fake_ports: dict[str, int] = {}
        self.gateways: dict[str, GatewayProcess] = {}
        self.exit_codes: dict[str, int] = {}

    @property
    def simulated_only(self) -> bool:
        """True when every venue is a simulator venue (the classic demo)."""
        return all(v.gateway == "sim" for v in self.cfg.venues)

    def start(self) -> None:
        """Start everything and wait until each serves; a process that fails to start stops the
        others and raises ``DemoFailed`` naming it and its log."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        cfg, rd = self.cfg, self.run_dir
        if any(v.gateway == "sim" for v in cfg.venues):
            self.sim = SimProcess(self.conf, self.sock_dir, rd / "truth.json", rd / "sim.log",
                                  cfg.sim.seed, self.faults)
            self.sim.wait_ready()
        if cfg.fakes and not self.conf:
            raise DemoFailed("fake exchanges need --conf (the fakes read the same file)")
        start_ns = self.clock.now_ns()
        for f in cfg.fakes:
            args = ["fake-exchange", f.exchange, "--port", str(f.port), "--conf",
                    str(self.conf), "--start-ns", str(start_ns),
                    "--truth-out", str(rd / f"truth-{f.exchange}.json")]
            self.fakes[f.exchange] = GatewayProcess(f"fake {f.exchange}", args,
                                                    rd / f"fake-{f.exchange}.log")
        for name, p in self.fakes.items():
            self.fake_ports[name] = int(p.wait_ready().split()[0])
            logger.info("fake {} listening on port {}", name, self.fake_ports[name])
        for v in cfg.venues:
            if v.ccxt is not None:
                args = ["gateway", "ccxt", "--exchange", v.ccxt.exchange, "--market",
                        v.ccxt.market, "--conf", str(self.conf), "--venue", v.name,
                        "--sock", self.sock_dir]
                env = None
                if v.ccxt.fake:
                    args += ["--fake-url", f"http://127.0.0.1:{self.fake_ports[v.ccxt.fake]}"]
                    env = demo_credentials(v)
                self.gateways[v.name] = GatewayProcess(f"ccxt gateway {v.name}", args,
                                                       rd / f"gateway-{v.name}.log", env)
        for v in cfg.venues:
            if v.paper is not None:
                args = ["gateway", "paper", "--conf", str(self.conf), "--venue", v.name,
                        "--sock", self.sock_dir, "--truth-out", str(rd / f"truth-{v.name}.json")]
                self.gateways[v.name] = GatewayProcess(f"paper gateway {v.name}", args,
                                                       rd / f"gateway-{v.name}.log")
        for p in self.gateways.values():
            p.wait_ready(60.0)

    def stop(self) -> dict[str, int]:
        """Stop the gateways, then the fakes and the simulator (which write their records at
        exit); return each process's exit code."""
        for name, p in self.gateways.items():
            self.exit_codes[f"gateway {name}"] = p.stop()
        for name, p in self.fakes.items():
            self.exit_codes[f"fake {name}"] = p.stop()
        if self.sim is not None:
            self.exit_codes["simulator"] = self.sim.stop()
        return self.exit_codes

    def truth(self) -> dict[str, Any]:
        """The merged record of every venue-side process (the simulator's keys: orders, fills,
        requests, counts, positions, windows, ...). Opportunity windows come from the record
        that serves the first pair's leg A."""
        files: list[tuple[str, Path]] = []
        if self.sim is not None:
            files.append(("simulator", self.run_dir / "truth.json"))
        files += [(f"fake {n}", self.run_dir / f"truth-{n}.json") for n in self.fakes]
        files += [(f"paper gateway {v.name}", self.run_dir / f"truth-{v.name}.json")
                  for v in self.cfg.venues if v.paper is not None]
        parts: list[tuple[str, dict[str, Any]]] = []
        for who, path in files:
            if not path.exists():
                raise DemoFailed(f"{who} wrote no record {path.name} "
                                 f"(exit {self.exit_codes.get(who)}); see {self.run_dir}")
            part = json.loads(path.read_text())
            if who.startswith("fake "):
                self._engine_ids(part)
            parts.append((who, part))
        return merge_truths(parts, self._leg_a_owner())

    def _engine_ids(self, truth: dict[str, Any]) -> None:
        """A fake records the exchange's client order ids; where a ccxt gateway rewrote the
        engine's id to the exchange's alphabet (OKX: no ``.``), put the engine id back by the
        gateway's documented inverse (``transports.venues.ccxt.clmap``) and keep the exchange's
        as ``xcl``, so duplicates and entries are judged on the ids the engine sent."""
        from transports.venues.ccxt.clmap import RULES, from_exchange

        rules = {v.name: RULES[v.ccxt.exchange] for v in self.cfg.venues if v.ccxt is not None}
        for key in ("orders", "fills"):
            for rec in truth.get(key, []):
                r = rules.get(rec.get("venue", ""))
                if r is None or r.identity or "cl" not in rec:
                    continue
                engine = from_exchange(str(rec["cl"]), r)
                if engine is not None:
                    rec["xcl"], rec["cl"] = rec["cl"], engine

    def _leg_a_owner(self) -> str:
        if not self.cfg.pairs:
            return ""
        venue = self.cfg.pairs[0].leg_a.split(":", 1)[0]
        v = next(x for x in self.cfg.venues if x.name == venue)
        if v.ccxt is not None and v.ccxt.fake:
            return f"fake {v.ccxt.fake}"
        if v.paper is not None:
            return f"paper gateway {v.name}"
        return "simulator"


def merge_truths(parts: list[tuple[str, dict[str, Any]]], windows_from: str) -> dict[str, Any]:
    """One record from several: lists concatenated, counts summed, positions by account,
    ``windows``/``episodes``/``meta`` from ``windows_from`` (else the first)."""
    if len(parts) == 1:
        return parts[0][1]
    out: dict[str, Any] = {"orders": [], "fills": [], "requests": [], "counts": {},
                           "positions": {}, "sources": [who for who, _ in parts]}
    for _who, t in parts:
        for key in ("orders", "fills", "requests"):
            out[key].extend(t.get(key, []))
        for k, n in t.get("counts", {}).items():
            if isinstance(n, (int, float)):
                out["counts"][k] = out["counts"].get(k, 0) + n
        for acct, pos in t.get("positions", {}).items():
            out["positions"].setdefault(acct, {}).update(pos)
    main = next((t for who, t in parts if who == windows_from), parts[0][1])
    for key in ("windows", "episodes", "meta", "faults"):
        if key in main:
            out[key] = main[key]
    for key in ("orders", "fills"):
        out[key].sort(key=lambda r: r.get("ts", 0))
    return out
