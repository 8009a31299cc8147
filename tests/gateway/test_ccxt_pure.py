"""The ccxt gateway's pure layers: units, instruments, client-id map, credentials."""

from __future__ import annotations

import os
import string
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.gateway.ccxt_markets import binance_spot, binance_usdm, markets_table, okx
from transports.errors import ConfigError, VenueError
from transports.venues.ccxt import credentials
from transports.venues.ccxt.clmap import RULES, ClMap, from_exchange, to_exchange
from transports.venues.ccxt.instruments import interval_s, pick_markets, to_instrument
from transports.venues.ccxt.units import OffStep, Scale
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import Instruments, RefReply

# --- units ------------------------------------------------------------------------------------


def test_exact_conversions_both_ways() -> None:
    sc = Scale("BTCUSDT", "0.01", 0.0001)
    assert sc.price_to_ticks("95000.01") == 9_500_001
    assert sc.price_to_ticks(95000.01) == 9_500_001  # a float's shortest repr is exact
    assert sc.ticks_to_price(9_500_001) == Decimal("95000.01")
    assert sc.amount_to_lots(0.0003) == 3
    assert sc.lots_to_amount(3) == Decimal("0.0003")
    assert float(sc.lots_to_amount(7)) == 0.0007


def test_off_step_is_refused_never_rounded() -> None:
    sc = Scale("BTCUSDT", "0.01", "0.0001")
    with pytest.raises(OffStep, match=r"not a multiple of tick 0\.01"):
        sc.price_to_ticks("95000.015")
    with pytest.raises(OffStep, match=r"step 0\.0001"):
        sc.amount_to_lots("0.00015")
    with pytest.raises(OffStep):
        sc.price_ticks_f(95000.015)
    assert sc.price_ticks_f(0.1 + 0.2) == 30  # float noise is not off-tick
    assert sc.amount_lots_f(0.0001 * 3) == 3


@given(st.integers(1, 10**9), st.integers(1, 10**7))
def test_float_path_agrees_with_exact(px: int, lots: int) -> None:
    sc = Scale("X", "0.01", "0.0001")
    assert sc.price_ticks_f(float(sc.ticks_to_price(px))) == px
    assert sc.amount_lots_f(float(sc.lots_to_amount(lots))) == lots


# --- instruments --------------------------------------------------------------------------------


def test_binance_spot_instrument_from_ccxt_market() -> None:
    ins = to_instrument(binance_spot())
    assert (ins.sym, ins.tick, ins.lot, ins.ccy, ins.unit) == ("BTCUSDT", "0.01", "0.0001",
                                                               "USDT", "BTC")
    assert (ins.kind, ins.base, ins.quote, ins.min_qty, ins.max_qty) == ("spot", "BTC", "USDT",
                                                                         1, 90_000_000)
    assert ins.taker_bps == pytest.approx(10.0) and ins.funding_interval_s == 0
    # the engine's own decoder takes the reply, version 2
    rep = Codec(RefReply).decode(encode(Instruments(list=[ins], v=2)))
    assert isinstance(rep, Instruments) and rep.v == 2 and rep.list[0] == ins


def test_perp_instruments_carry_contract_and_funding() -> None:
    ins = to_instrument(binance_usdm(), funding_interval_s=interval_s("8h"))
    assert (ins.kind, ins.tick, ins.lot, ins.funding_interval_s) == ("perp", "0.1", "0.001",
                                                                     28_800)
    assert (ins.contract_value, ins.contract_ccy, ins.fee_ccy) == ("1", "BTC", "USDT")
    # OKX swaps size in contracts of 0.01 BTC, step 0.01 contract: one lot is 0.0001 BTC
    o = to_instrument(okx("BTC-USDT-SWAP", "0.1", "0.01", "SWAP", "0.01"))
    assert (o.sym, o.lot, o.unit, o.contract_value, o.kind) == ("BTC-USDT-SWAP", "0.0001", "BTC",
                                                                "0.01", "perp")
    assert interval_s("30m") == 1800 and interval_s(None) == 0 and interval_s("x") == 0


def test_pick_markets_by_id_and_type_and_names_the_unlisted() -> None:
    table = markets_table(binance_spot(), binance_usdm())
    assert pick_markets(table, "spot", ["BTCUSDT"])["BTCUSDT"]["type"] == "spot"
    assert pick_markets(table, "swap", ["BTCUSDT"])["BTCUSDT"]["type"] == "swap"
    with pytest.raises(ConfigError, match=r"'ETHUSDT'.*spot"):
        pick_markets(table, "spot", ["BTCUSDT", "ETHUSDT"])


# --- client ids -------------------------------------------------------------------------------

ENGINE_IDS = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1,
                     max_size=32)


def test_client_ids_binance_identity_okx_escaped() -> None:
    assert to_exchange("1.17.0.0", RULES["binance"]) == "1.17.0.0"
    assert to_exchange("1.17.0.0", RULES["okx"]) == "1Zd17Zd0Zd0"
    assert from_exchange("1Zd17Zd0Zd0", RULES["okx"]) == "1.17.0.0"
    assert to_exchange("1.17.0.0", RULES["bybit"]) == "1_d17_d0_d0"
    long = "12345678.12345678.12345678.1234"  # 31 chars: escaped it would exceed 32
    xid = to_exchange(long, RULES["okx"])
    assert len(xid) == 32 and xid.startswith("Zh") and xid.isalnum()
    assert from_exchange(xid, RULES["okx"]) is None  # only the durable map knows it
    with pytest.raises(VenueError):
        to_exchange("bad id!", RULES["binance"])


@given(st.lists(ENGINE_IDS, min_size=2, max_size=30, unique=True))
def test_okx_mapping_is_injective_and_valid(cls: list[str]) -> None:
    rules = RULES["okx"]
    xids = [to_exchange(c, rules) for c in cls]
    assert len(set(xids)) == len(xids)
    for c, x in zip(cls, xids, strict=True):
        assert x.isalnum() and 1 <= len(x) <= 32
        back = from_exchange(x, rules)
        assert back is None or back == c


def test_clmap_is_durable_and_survives_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "state" / "okx-clmap.jsonl"
    m = ClMap(path, RULES["okx"])
    long = "12345678.12345678.12345678.1234"
    m.record("1.1.0.0", m.exchange_id("1.1.0.0"), "BTC-USDT")
    m.record(long, m.exchange_id(long), "BTC-USDT")
    m.close()
    assert os.stat(path).st_mode & 0o077 == 0
    with open(path, "a") as f:
        f.write('{"cl":"1.2.0.0","xi')  # a crash mid-write: that order was never sent
    m2 = ClMap(path, RULES["okx"])
    assert m2.known("1.1.0.0") and m2.known(long) and not m2.known("1.2.0.0")
    assert m2.engine_id(m2.exchange_id(long)) == long  # the digest form, from the map
    assert m2.engine_id("1Zd1Zd0Zd0") == "1.1.0.0" and m2.symbol(long) == "BTC-USDT"
    assert m2.engine_id("") is None
    # the order sent after the restart survives the next one (the torn line was cut at open;
    # appended after it, the new line was glued onto it and lost as unreadable)
    m2.record("1.3.0.0", m2.exchange_id("1.3.0.0"), "BTC-USDT")
    m2.close()
    m3 = ClMap(path, RULES["okx"])
    assert m3.known("1.3.0.0") and m3.known("1.1.0.0") and m3.log.bad_lines == 0
    m3.close()


# --- credentials --------------------------------------------------------------------------------


def test_credentials_from_env_and_never_shown() -> None:
    c = credentials.load("CMC_T", "", env={"CMC_T_KEY": "k3y-abc", "CMC_T_SECRET": "s3cr3t",
                                           "CMC_T_PASSWORD": "pw"})
    assert c.ccxt() == {"apiKey": "k3y-abc", "secret": "s3cr3t", "password": "pw"}
    assert "s3cr3t" not in repr(c) and "k3y-abc" not in repr(c) and "pw" not in str(c)
    with pytest.raises(ConfigError, match="CMC_T_KEY and CMC_T_SECRET"):
        credentials.load("CMC_T", "", env={"CMC_T_KEY": "k"})


def test_credentials_file_must_be_owner_only(tmp_path: Path) -> None:
    p = tmp_path / "creds.toml"
    p.write_text('key = "abc"\nsecret = "topsecret"\npassword = "pp"\n')
    os.chmod(p, 0o640)
    with pytest.raises(ConfigError, match="mode 0640") as err:
        credentials.load("", str(p))
    assert "topsecret" not in str(err.value)
    os.chmod(p, 0o600)
    c = credentials.load("", str(p))
    assert (c.key, c.secret, c.password) == ("abc", "topsecret", "pp")
    with pytest.raises(ConfigError, match="credentials_env or credentials_file"):
        credentials.load("", "")
