"""The ccxt gateway tests' config: three ccxt venues (Binance spot, Binance USDⓈ-M, OKX spot)
on the two local fakes, fast funding, and the fakes' credentials of each account."""

from __future__ import annotations

from pathlib import Path

from transports.venues.ccxt.credentials import Credentials

SECRETS = {"binance-spot": "bS3cr3t-9f1c-spot", "binance-usdm": "bS3cr3t-77aa-usdm",
           "okx-spot": "oS3cr3t-5e2d-spot", "binance-other": "bS3cr3t-other",
           "okx-other": "oS3cr3t-other"}
PASSWORDS = {"okx-spot": "okx-spot-pass", "okx-other": "okx-other-pass"}  # the fake: <key>-pass

CONF = """
[run]
epoch = 1
duration_s = 30.0

[[venues]]
name = "binance"
md = "ipc://{{sock}}/binance-md"
ref = "ipc://{{sock}}/binance-ref"
oe = "ipc://{{sock}}/binance-oe"
account = "binance-spot"
[venues.ccxt]
exchange = "binance"
market = "spot"
fake = "binance"
credentials_env = "CMCT_BINANCE_SPOT"
state_dir = "{state}"
reconnect_backoff_ms = {backoff_ms}
hb_interval_ms = 100

[[venues]]
name = "binance-usdm"
md = "ipc://{{sock}}/binance-usdm-md"
ref = "ipc://{{sock}}/binance-usdm-ref"
oe = "ipc://{{sock}}/binance-usdm-oe"
account = "binance-usdm"
[venues.ccxt]
exchange = "binance"
market = "swap"
fake = "binance"
credentials_env = "CMCT_BINANCE_USDM"
state_dir = "{state}"
reconnect_backoff_ms = {backoff_ms}
hb_interval_ms = 100
mark_interval_ms = 200
funding_poll_ms = 300

[[venues]]
name = "okx"
md = "ipc://{{sock}}/okx-md"
ref = "ipc://{{sock}}/okx-ref"
oe = "ipc://{{sock}}/okx-oe"
account = "okx-spot"
[venues.ccxt]
exchange = "okx"
market = "spot"
fake = "okx"
credentials_env = "CMCT_OKX_SPOT"
state_dir = "{state}"
reconnect_backoff_ms = {backoff_ms}
hb_interval_ms = 100

[[contracts]]
venue = "binance"
sym = "{binance_sym}"
tick = "0.01"
multiplier = 0.0001
unit = "BTC"
ccy = "USDT"
underlying = "btc"
base_per_lot = 0.0001
max_lots_per_order = 1000

[[contracts]]
venue = "binance-usdm"
sym = "BTCUSDT"
tick = "0.1"
multiplier = 0.001
unit = "BTC"
ccy = "USDT"
underlying = "btc"
base_per_lot = 0.001
max_lots_per_order = 1000

[[contracts]]
venue = "okx"
sym = "BTC-USDT"
tick = "0.1"
multiplier = 0.0001
unit = "BTC"
ccy = "USDT"
underlying = "btc"
base_per_lot = 0.0001
max_lots_per_order = 1000

# the simulator quotes the contracts of its pairs (and same-asset contracts beside them)
[[pairs]]
name = "btc-okx-binance"
leg_a = "okx:BTC-USDT"
leg_b = "binance:{binance_sym}"
unit_factor = 1.0
max_clip_lots_a = 10
max_clip_lots_b = 10
max_spread_position = 1
min_edge = 10.0

[sim]
seed = 11
gold_usd_oz = 95000.0
usdcnh = 1.0
basis_cny_g = 0.0
vol_gold_bps_s = 3.0
vol_fx_bps_s = 0.0
dislocation_every_s = 3.0
dislocation_cny_g = 60.0
dislocation_hold_s = 1.5
threshold_cny_g = 10.0
warmup_s = 1.0

[[sim.venues]]
name = "binance"
latency_us = 200
md_interval_ms = 50
level_qty_lots = 20

[[sim.venues]]
name = "binance-usdm"
latency_us = 200
md_interval_ms = 100
level_qty_lots = 20

[[sim.venues]]
name = "okx"
latency_us = 200
md_interval_ms = 50
level_qty_lots = 20

[[fakes]]
exchange = "binance"
markets = [{{ market = "spot", venue = "binance" }}, {{ market = "swap", venue = "binance-usdm" }}]
funding_interval_s = {funding_s}
rate_limit_per_s = 200
secrets = {{ "binance-spot" = "{s1}", "binance-usdm" = "{s2}", "binance-other" = "{s4}" }}

[[fakes]]
exchange = "okx"
markets = [{{ market = "spot", venue = "okx" }}]
funding_interval_s = {funding_s}
rate_limit_per_s = 200
secrets = {{ "okx-spot" = "{s3}", "okx-other" = "{s5}" }}
"""

ENV = {"CMCT_BINANCE_SPOT": "binance-spot", "CMCT_BINANCE_USDM": "binance-usdm",
       "CMCT_OKX_SPOT": "okx-spot"}


def write_conf(path: Path, state_dir: Path, *, funding_s: float = 1.0, backoff_ms: int = 250,
               binance_sym: str = "BTCUSDT") -> Path:
    """The test config: three ccxt venues on two fakes, fast funding."""
    path.write_text(CONF.format(
        state=state_dir, backoff_ms=backoff_ms, funding_s=funding_s, binance_sym=binance_sym,
        s1=SECRETS["binance-spot"], s2=SECRETS["binance-usdm"], s3=SECRETS["okx-spot"],
        s4=SECRETS["binance-other"], s5=SECRETS["okx-other"]))
    return path


def creds_of(account: str) -> Credentials:
    """The fake's credentials of ``account`` (the API key is the account)."""
    return Credentials(account, SECRETS[account], PASSWORDS.get(account, ""))


def cred_env(account_env: str, account: str) -> dict[str, str]:
    """``<prefix>_KEY/_SECRET/_PASSWORD`` for a gateway subprocess."""
    out = {f"{account_env}_KEY": account, f"{account_env}_SECRET": SECRETS[account]}
    if account in PASSWORDS:
        out[f"{account_env}_PASSWORD"] = PASSWORDS[account]
    return out


__all__ = ["CONF", "ENV", "PASSWORDS", "SECRETS", "cred_env", "creds_of", "write_conf"]
