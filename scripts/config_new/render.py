"""The starting config ``cmc config new`` writes, from the venues' ``instruments`` replies.

Pure: venue specs and instrument lists in, TOML text out (no sockets, no files, no clock). The
text is the project's own schema (``transports.config.engine.AppConfig``) with comments that say
where each value came from and what the operator still has to decide:

- ``[[venues]]`` with the three endpoints as given; a venue listing only currency rates
  (``kind = "fx"``, or a unit that is a currency code) is a rate feed (``trading = false``);
- ``[[contracts]]`` with tick, lot (``multiplier``), currency, unit and what a version 2 venue
  adds (``base`` as the underlying, fee per lot, margin rate, expiry, offsets); ``base_per_lot``
  and a pair's ``unit_factor`` are left to the loader, which derives them from the units;
- a parity pair skeleton, commented out: leg A the first contract listed, leg B the first of
  another venue, the FX rate between their currencies when one is listed; its legs share an
  underlying (the venue's base, else a name from leg A's symbol) so that, uncommented, the
  loader derives their base units per lot and the pair's unit factor;
- ``[placement]`` (one process) and ``[supervision]`` naming every actor the config implies, the
  pair's strategy commented out with the pair.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable

import msgspec

from actors.topology import Topology
from scripts.config_new.venues import VenueSpec
from transports.config.units import physical, unit_factor
from transports.wire.venue_msgs import Instrument, Instruments

#: currencies one FX book stands for the other (offshore CNH prices onshore CNY exposure)
_SAME_CCY = {"CNH": "CNY"}
_CCY = re.compile(r"^[A-Z]{3,5}$")
#: the engine's default cap on one order, lowered to the venue's where that is smaller
_MAX_LOTS = 100


def _q(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _num(x: float) -> str:
    return repr(float(x))


def _ccy(c: str) -> str:
    return _SAME_CCY.get(c, c)


def is_rate(ins: Instrument) -> bool:
    """An FX rate: the venue says so, or its unit is a currency code (USDCNH: 1 USD in CNH)."""
    if ins.kind:
        return ins.kind == "fx"
    return bool(_CCY.match(ins.unit)) and physical(ins.unit) is None and ins.unit != ins.ccy


class Leg(msgspec.Struct, frozen=True):
    """One contract as the config will list it."""

    venue: str
    ins: Instrument

    @property
    def key(self) -> str:
        """``venue:sym``, as pairs name their legs."""
        return f"{self.venue}:{self.ins.sym}"


class PairPlan(msgspec.Struct, frozen=True):
    """The pair skeleton: its name, legs, and the FX rate between their currencies."""

    name: str
    leg_a: Leg
    leg_b: Leg
    fx: str = ""  #: "venue:sym", or "" when no rate is needed or none was listed
    fx_invert: bool = False
    fx_missing: bool = False  #: the currencies differ and no listed rate converts them


def _pair_name(a: Leg, b: Leg) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{a.ins.sym}-{b.ins.sym}").strip("-").lower()
    return name or "pair"


def plan_pair(legs: list[Leg]) -> PairPlan | None:
    """Leg A the first contract listed, leg B the first of another venue (rates are used only
    when nothing else is listed); None when every contract is on one venue."""
    traded = [c for c in legs if not is_rate(c.ins)] or legs
    if not traded:
        return None
    a = traded[0]
    b = next((c for c in traded if c.venue != a.venue), None)
    if b is None:
        return None
    plan = PairPlan(_pair_name(a, b), a, b)
    ca, cb = _ccy(a.ins.ccy), _ccy(b.ins.ccy)
    if ca == cb:
        return plan
    for c in legs:
        if not is_rate(c.ins):
            continue
        base, quote = _ccy(c.ins.unit), _ccy(c.ins.ccy)
        if (base, quote) == (cb, ca):  # 1 B-currency in A-currency: parity = P_b x rate
            return msgspec.structs.replace(plan, fx=c.key)
        if (base, quote) == (ca, cb):
            return msgspec.structs.replace(plan, fx=c.key, fx_invert=True)
    return msgspec.structs.replace(plan, fx_missing=True)


def _underlying(c: Leg) -> str:
    """The venue's base asset as the contract's underlying ("" for rates or when not listed)."""
    return "" if is_rate(c.ins) else c.ins.base.lower()


def _expiry(ns: int) -> str:
    """A version 2 ``expiry`` (ns) as the config's ISO date."""
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).date().isoformat()


def pair_underlying(p: PairPlan) -> str:
    """The underlying the pair's legs share: the venue's base when both list the same one,
    else (neither lists one) a name from leg A's symbol (``au2606`` -> ``au``); "" when the
    venues list different bases (the operator decides)."""
    ua, ub = _underlying(p.leg_a), _underlying(p.leg_b)
    if ua or ub:
        return ua if ua == ub else ""
    m = re.match(r"[A-Za-z]+", p.leg_a.ins.sym)
    return m.group(0).lower() if m else p.name


def base_per_lot(c: Leg, underlying: str, other: Leg | None = None) -> float:
    """The ``base_per_lot`` to write for ``c`` (0: leave it to the loader, which derives it from
    a physical unit, or to the operator). A unit pint does not know is the base unit itself when
    it names the underlying (BTC of ``btc``) or both pair legs share it."""
    if not underlying or physical(c.ins.unit) is not None:
        return 0.0
    same = other is not None and other.ins.unit == c.ins.unit
    if c.ins.unit.lower() == underlying or same:
        return float(c.ins.lot)
    return 0.0


def pair_sizes_known(p: PairPlan) -> bool:
    """Whether the loader will know both legs' ``base_per_lot`` (the strategy aligns its lots by
    them): one underlying, and units of one physical kind or base units written out."""
    shared = pair_underlying(p)
    if not shared:
        return False
    qa, qb = physical(p.leg_a.ins.unit), physical(p.leg_b.ins.unit)
    if qa is not None and qb is not None:
        return bool(qa.dimensionality == qb.dimensionality)
    return (base_per_lot(p.leg_a, shared, p.leg_b) > 0
            and base_per_lot(p.leg_b, shared, p.leg_a) > 0)


def _contract_lines(c: Leg, underlying: str = "", other: Leg | None = None) -> list[str]:
    """``underlying`` and ``other`` (the pair's other leg) for the legs of the pair skeleton."""
    ins = c.ins
    rate = is_rate(ins)
    out = ["[[contracts]]",
           f"venue = {_q(c.venue)}",
           f"sym = {_q(ins.sym)}",
           f"tick = {_q(ins.tick)}   # {ins.ccy} per {ins.unit}",
           f"multiplier = {_num(float(ins.lot))}   # {ins.lot} {ins.unit} per lot",
           f"unit = {_q(ins.unit)}",
           f"ccy = {_q(ins.ccy)}"]
    underlying = underlying or _underlying(c)
    if underlying:
        why = ("the venue's base asset" if underlying == _underlying(c)
               else "shared by the pair skeleton's legs: name the asset")
        out.append(f"underlying = {_q(underlying)}   # {why}")
        bpl = base_per_lot(c, underlying, other)
        if bpl > 0:
            out.append(f"base_per_lot = {_num(bpl)}")
        elif physical(ins.unit) is None:
            out.append(f"# base_per_lot = ...   # {underlying} per lot: {ins.unit!r} does not say")
    elif not rate:
        out.append('# underlying = "..."   # the exposure bucket: contracts of one asset share it')
    if ins.fee_per_lot > 0 and (not ins.fee_ccy or ins.fee_ccy == ins.ccy):
        out.append(f"fee_per_lot = {_num(ins.fee_per_lot)}   # {ins.ccy}, as the venue lists it")
    else:
        why = "the venue lists no fee per lot"
        if ins.fee_per_lot > 0:
            why = f"the venue says {ins.fee_per_lot:g} {ins.fee_ccy} per lot"
        elif ins.taker_bps or ins.maker_bps:
            why = f"the venue says taker {ins.taker_bps:g} bps, maker {ins.maker_bps:g} bps"
        out.append(f"fee_per_lot = 0.0   # {ins.ccy} per lot: {why}; set your rate")
    max_lots = min(_MAX_LOTS, ins.max_qty) if ins.max_qty > 0 else _MAX_LOTS
    out.append(f"max_lots_per_order = {max_lots}   # venue allows {ins.min_qty}..{ins.max_qty}")
    if ins.margin_rate > 0:
        out.append(f"margin_rate = {_num(ins.margin_rate)}")
    if ins.expiry > 0:
        out.append(f"expiry = {_q(_expiry(ins.expiry))}")
    if ins.offsets:
        out.append("offsets = true   # the venue wants open/close on every order")
        if ins.close_today:
            out.append("close_today = true")
    return out


def _pair_lines(p: PairPlan) -> list[str]:
    a, b = p.leg_a.ins, p.leg_b.ins
    out = ["[[pairs]]",
           f"name = {_q(p.name)}",
           f"leg_a = {_q(p.leg_a.key)}",
           f"leg_b = {_q(p.leg_b.key)}"]
    if p.fx:
        out.append(f"fx = {_q(p.fx)}   # {b.ccy} into {a.ccy}")
        if p.fx_invert:
            out.append("fx_invert = true")
    elif p.fx_missing:
        out.append(f'# fx = "venue:sym"   # no listed rate converts {b.ccy} into {a.ccy}: '
                   "add its venue and contract")
    # the loader derives unit_factor from the units when both legs name the same underlying
    # (none counts as the same); a factor written here would only be checked against it
    factor = unit_factor(a.unit, b.unit)
    if factor is not None and _underlying(p.leg_a) != _underlying(p.leg_b):
        out.append(f"unit_factor = {factor!r}   # 1 {a.unit} in {b.unit}")
    elif factor is None and a.unit != b.unit:
        out.append(f"# unit_factor = ...   # {b.unit} into {a.unit}: the units do not say")
    out += ["trigger = \"edge\"   # open when the executable edge beats costs x safety_factor",
            f"min_edge = 0.0   # {a.ccy} per {a.unit} beyond costs",
            "max_clip_lots_a = 1",
            "max_clip_lots_b = 1"]
    return out


def _array(names: Iterable[str], commented: set[str], indent: str = "    ") -> list[str]:
    """A multi-line TOML array, one name a line; ``commented`` names as comments (TOML allows
    comments between array elements)."""
    return [f"{indent}# {_q(n)},   # with the pair" if n in commented else f"{indent}{_q(n)},"
            for n in names]


def render(specs: list[VenueSpec], replies: dict[str, Instruments], *, sock_dir: str = "",
           with_pair: bool = False) -> str:
    """The config TOML for ``specs`` and their ``replies``. The pair and its strategy are
    commented out unless ``with_pair`` (the text an operator gets after uncommenting them)."""
    legs = [Leg(s.name, ins) for s in specs for ins in replies[s.name].list]
    rate_only = {s.name for s in specs
                 if all(is_rate(ins) for ins in replies[s.name].list)}
    pair = plan_pair(legs)
    topo = Topology()
    strategy = topo.strategy(pair.name) if pair else ""
    off = set() if with_pair or not pair else {strategy}
    home = next((c.ins.ccy for c in legs if not is_rate(c.ins)), legs[0].ins.ccy)

    lines = ["# Written by `cmc config new` from each venue's `instruments` reply:"]
    for s in specs:
        r = replies[s.name]
        lines.append(f"#   {s.name}: {len(r.list)} instrument(s), protocol v{r.v}, ref {s.ref}")
    lines += [
        "# Review before trading: fees, order and exposure limits, and the pair (commented out",
        "# below, with its strategy in [placement] and [supervision]).",
        "# This config starts no gateway ([launch] gateways = []): every venue's gateway must be",
        "# running and bound to the addresses below before `cmc launch` (the simulator, say:",
        "# `cmc gateway sim --conf conf/demo.toml --sock DIR`, with DIR its socket directory).",
        "",
        "[run]",
        "epoch = 1   # client order ids embed it: raise it if an earlier run used this account",
        'out_dir = "runs"',
        'log_level = "INFO"',
    ]
    for s in specs:
        lines += ["", "[[venues]]",
                  f"name = {_q(s.name)}",
                  f"md = {_q(s.md)}",
                  f"ref = {_q(s.ref)}",
                  f"oe = {_q(s.oe)}",
                  f"account = {_q(s.name + '-acct')}   # the account the gateway trades for "
                  "this engine"]
        if s.name in rate_only:
            lines.append("trading = false   # it lists currency rates only: a rate feed")
    shared = pair_underlying(pair) if pair else ""
    for c in legs:
        if pair is not None and c.key in (pair.leg_a.key, pair.leg_b.key):
            other = pair.leg_b if c.key == pair.leg_a.key else pair.leg_a
            lines += ["", *_contract_lines(c, shared, other)]
        else:
            lines += ["", *_contract_lines(c)]
    if pair is not None:
        block = _pair_lines(pair)
        lines += ["",
                  "# A parity pair skeleton: leg A the first contract listed, leg B the first of",
                  "# another venue. To trade it, uncomment it and its strategy in [placement]",
                  "# and [supervision], check the legs' underlying, and set its thresholds",
                  "# (docs/strategies.md)."]
        if not pair_sizes_known(pair):
            lines.append("# First give both legs one underlying and base_per_lot (the units do "
                         "not say): the strategy sizes its lots from them.")
        lines += block if with_pair else [f"# {ln}" for ln in block]
    lines += ["", "[risk]", f'home_ccy = {_q(_ccy(home))}   # PnL and notional limits in this',
              "max_net_exposure_base = 50000.0   # per underlying, in its base units"]

    feeds = [topo.feed(s.name) for s in specs]
    books = [topo.book(c.venue, c.ins.sym) for c in legs]
    legs_exec = [topo.leg(s.name) for s in specs if s.name not in rate_only]
    execs = ([strategy] if pair else []) + [topo.combo, *legs_exec]
    lines += ["",
              "[placement]",
              "# One process, the launcher's own. The hot path (feeds, books, strategy, combo and",
              "# leg executors) shares one dispatcher thread; risk and the journal have their own.",
              "[[placement.nodes]]",
              'name = "engine"',
              'address = "ipc://{sock}/node-engine"',
              "",
              "[[placement.groups]]",
              'name = "hot"',
              'node = "engine"',
              "actors = [", *_array([*feeds, *books, *execs], off), "]",
              "",
              "[[placement.groups]]", 'name = "risk"', 'node = "engine"',
              f"actors = [{_q(topo.risk)}]",
              "",
              "[[placement.groups]]", 'name = "journal"', 'node = "engine"',
              f"actors = [{_q(topo.journal)}]",
              "",
              "[launch]",
              "gateways = []   # the venues' gateways run on their own (see the top)",
              'shutdown = "flatten"   # on SIGTERM/SIGINT: close every pair, then halt, then stop']
    if sock_dir:
        lines.append(f"sock_dir = {_q(sock_dir)}   # fills {{sock}} in the addresses above")
    lines += ["",
              "[supervision]",
              "# Market data: a feed or book restarts alone and resyncs from a snapshot.",
              "[[supervision.groups]]", 'name = "md"',
              "actors = [", *_array([*feeds, *books], off), "]",
              'strategy = "one_for_one"', "max_restarts = 5", "period_s = 30.0",
              "",
              "# Decisions and orders share state: they restart together.",
              "[[supervision.groups]]", 'name = "exec"',
              "actors = [", *_array(execs, off), "]",
              'strategy = "one_for_all"', "max_restarts = 3", "period_s = 60.0",
              "",
              "[[supervision.groups]]", 'name = "risk"', f"actors = [{_q(topo.risk)}]",
              "max_restarts = 2", "period_s = 60.0",
              "",
              "# A journal that fails cannot be trusted: no restart, trading halts.",
              "[[supervision.groups]]", 'name = "journal"', f"actors = [{_q(topo.journal)}]",
              "max_restarts = 0",
              ""]
    return "\n".join(lines)


__all__ = ["Leg", "PairPlan", "is_rate", "plan_pair", "render"]
