"""OKX fake: the OKX v5 REST and websocket API subset ccxt 4.5.90 (``ccxt.async_support.okx``
and ``ccxt.pro.okx``) calls, spot (``instType`` SPOT) and USDT-margined perpetual swaps (SWAP),
on top of a ``FakeCore``.

Paths (``ccxt_urls`` installs them):

- REST ``/api/v5/...`` (``rest.py``): public ``public/time``, ``public/instruments``,
  ``market/books`` (and ``books-full``), ``market/ticker(s)``, ``public/funding-rate``,
  ``public/mark-price``, ``system/status``; signed ``asset/currencies``, ``account/balance``,
  ``trade/order`` and ``trade/batch-orders`` (ccxt's default for ``create_order``),
  ``trade/cancel-order`` and ``cancel-batch-orders``, ``GET trade/order``,
  ``trade/orders-pending``, ``trade/orders-history``, ``trade/fills`` and ``fills-history``,
  ``account/positions``, ``account/bills`` and ``bills-archive`` (funding: ``type`` 8).
- Websockets ``/ws/v5/public``, ``/ws/v5/private``, ``/ws/v5/business`` (``ws.py``): text
  ``ping`` -> ``pong``; ``{"op": "subscribe"|"unsubscribe", "args": [...]}``; public channels
  ``books`` (snapshot, then one ``update`` per book change with ``seqId`` / ``prevSeqId`` and
  OKX's CRC32 ``checksum`` of the top 25 levels), ``books5``, ``bbo-tbt``, ``mark-price``,
  ``funding-rate``, ``trades``; ``{"op": "login"}`` then private channels ``orders``, ``account``,
  ``positions``; order ops ``order`` / ``batch-orders`` / ``cancel-order``.

Signatures: REST headers ``OK-ACCESS-KEY`` / ``-SIGN`` / ``-TIMESTAMP`` (ISO 8601, within 30 s
of the fake's clock, else 50102) / ``-PASSPHRASE``; the sign is base64 HMAC-SHA256 of
``timestamp + method + path?query + body``; a wrong one is 50113 (HTTP 401). The websocket
login signs ``timestamp(s) + "GET" + "/users/self/verify"`` (60009 when wrong). The key is the
simulator account; secret ``[[fakes]] secrets[key]`` or ``<key>-secret``, passphrase
``<key>-pass`` (``codec.py``).

Quirks kept: errors inside HTTP 200 with ``code`` != "0" (a single order's ``sCode`` /
``sMsg``, ``code`` "1" when every order of the request failed, "2" when some did); integer
looking string ids; a ``clOrdId`` of an open order again: 51016 (a closed one is reused as the
simulator's ``oe_reuse_cl`` says); HTTP 429 ``{"code": "50011"}`` with
``Retry-After``; 50004 ("endpoint request timeout", outcome unknown) for an order whose answer
did not come; swap sizes in contracts (``ctVal``); funding every ``[[fakes]]
funding_interval_s`` on swaps, as ``account/bills`` type 8 entries and an ``account`` push.
One unified trading account: balances of the spot and swap wallets are shown merged. An
instrument whose simulator session is not open is listed ``state`` ``suspend``. Not kept: fees
are charged in the quote currency on both sides (OKX charges a spot buy in the base).

Fault switches: the core's (``POST /__fake__/fault``, see ``faults.py``); a ``timeout_order``
in mode ``error`` answers 50004, in mode ``hang`` holds the answer ``hang_ms``.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from aiohttp import web

from transports.config.gateways import FakeConfig
from transports.venues.fake.core import FakeCore
from transports.venues.fake.okx.codec import (
    OkxError,
    OkxMarket,
    OrderMeta,
    dec_str,
    ms_str,
    position_json,
    secret_for,
)


def ccxt_urls(base_http: str, base_ws: str) -> dict[str, Any]:
    """ccxt's okx ``urls['api']`` pointing at a fake on ``base_http`` / ``base_ws`` (e.g.
    ``http://127.0.0.1:8002`` and ``ws://127.0.0.1:8002``): REST ``<http>/api/v5/...``, ws
    ``<ws>/ws/v5/public|private|business``."""
    return {"rest": base_http.rstrip("/"), "ws": base_ws.rstrip("/") + "/ws/v5"}


def ccxt_options() -> dict[str, Any]:
    """Options ccxt's okx needs against the fake: only spot and swap markets are listed (the
    fake answers FUTURES and OPTION with an empty list), no clock adjustment."""
    return {"fetchMarkets": {"types": ["spot", "swap"]}, "adjustForTimeDifference": False}


class OkxFake:
    """Shared state of the OKX fake: the core, the markets, the order metadata OKX keeps."""

    def __init__(self, core: FakeCore) -> None:
        self.core = core
        self.markets: dict[str, OkxMarket] = {}
        for venue in core.venues:
            for c in core.contracts(venue):
                self.markets[c.sym] = OkxMarket(core.market_of(venue), venue, c)
        self.meta: dict[tuple[str, str, str], OrderMeta] = {}  # (venue, account, cl)
        #: instId -> the session state the venue last published (``status`` md); an instrument
        #: not ``open`` is listed ``suspend``
        self.session: dict[str, str] = {}
        self.cl_ids = itertools.count(1)
        self.conn_ids = itertools.count(1)

    # --- markets --------------------------------------------------------------------------------

    def market(self, inst_id: Any) -> OkxMarket:
        """The market of ``instId``; 51001 if the fake lists none."""
        m = self.markets.get(str(inst_id or ""))
        if m is None:
            raise OkxError("51001", f"Instrument ID {inst_id} does not exist")
        return m

    def markets_of(self, inst_type: str | None = None, inst_id: str | None = None
                   ) -> list[OkxMarket]:
        """Markets filtered by ``instType`` (SPOT, SWAP; ANY or empty: all) and ``instId``
        (comma separated; empty: all)."""
        ids = {s for s in (inst_id or "").split(",") if s}
        t = (inst_type or "").upper()
        return [m for m in self.markets.values()
                if (not t or t == "ANY" or m.inst_type == t) and (not ids or m.inst_id in ids)]

    @property
    def served_markets(self) -> set[str]:
        """``spot`` / ``swap`` the fake serves."""
        return {m.market for m in self.markets.values()}

    # --- accounts -------------------------------------------------------------------------------

    def secret(self, key: str) -> str:
        """The secret of API key ``key``."""
        return secret_for(key, self.core.fake.secrets)

    def balances(self, account: str) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        """The unified account of ``account``: asset -> (equity, available, cash: equity
        without unrealised PnL). The core keeps a wallet per served venue, each starting at
        ``[[fakes]] balances``; OKX has one trading account, so the wallets' changes are
        summed onto one starting balance."""
        start = {a: Decimal(repr(v)) for a, v in self.core.fake.balances.items()}
        out: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
        for venue in self.core.venues:
            cash = self.core.ledger.wallet(venue, account)
            for asset, (total, free) in self.core.balances(venue, account).items():
                s = start.get(asset, Decimal(0))
                t0, f0, c0 = out.get(asset, (s, s, s))
                out[asset] = (t0 + total - s, f0 + free - s, c0 + cash.get(asset, s) - s)
        return out

    def balance_json(self, account: str, ccys: str = "") -> dict[str, Any]:
        """``/account/balance`` ``data[0]`` (and the ``account`` channel's push); ``ccys``: a
        comma separated filter."""
        now = ms_str(self.core.server_ns())
        want = {c for c in ccys.split(",") if c}
        details = []
        for asset, (total, free, cash) in sorted(self.balances(account).items()):
            if want and asset not in want:
                continue
            t, f, used = dec_str(total), dec_str(free), dec_str(total - free)
            details.append({"ccy": asset, "eq": t, "cashBal": dec_str(cash), "availBal": f,
                            "availEq": f, "frozenBal": used, "ordFrozen": used,
                            "upl": dec_str(total - cash), "disEq": t, "eqUsd": "",
                            "uTime": now})
        return {"uTime": now, "totalEq": "", "adjEq": "", "isoEq": "0", "ordFroz": "",
                "imr": "", "mmr": "", "mgnRatio": "", "notionalUsd": "", "upl": "0",
                "details": details}

    def position(self, m: OkxMarket, account: str, lots: int) -> dict[str, Any]:
        """One swap position entry: the ledger's entry price, the current mark."""
        core = self.core
        entry = core.ledger.perp(m.venue, account, m.inst_id).entry_px
        mk = core.mark(m.venue, m.inst_id)
        mark = Decimal(m.px_str(mk.mark_px)) if mk is not None else None
        return position_json(m, lots, entry, mark, core.server_ns())

    def meta_for(self, venue: str, account: str, cl: str) -> OrderMeta | None:
        """What OKX keeps about the order ``cl`` (None if the fake did not place it)."""
        return self.meta.get((venue, account, cl))


#: the app's ``OkxFake`` (tests reach the fake's state through it)
OKX_KEY: web.AppKey[OkxFake] = web.AppKey("okx", OkxFake)


def setup(app: web.Application, core: FakeCore) -> None:
    """Add the OKX fake's routes (REST and websockets) and its md subscriptions to ``app``."""
    from transports.venues.fake.okx import rest, ws

    fake = OkxFake(core)
    app[OKX_KEY] = fake
    rest.add_routes(app, fake)
    ws.add_routes(app, fake)


def make_app(core: FakeCore, fake_cfg: FakeConfig | None = None) -> web.Application:
    """A fresh application serving the OKX fake of ``core`` (``fake_cfg`` is ``core.fake``; kept
    for symmetry with callers that pass it). The control endpoint is the server's."""
    del fake_cfg
    app = web.Application()
    setup(app, core)
    return app


__all__ = ["OKX_KEY", "OkxFake", "ccxt_options", "ccxt_urls", "make_app", "setup"]
