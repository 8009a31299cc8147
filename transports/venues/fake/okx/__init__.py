"""The OKX fake (v5 REST and websockets, spot and USDT swaps): the exchange module ``server``
loads as ``transports.venues.fake.okx``.

Modules: ``fake`` (conventions, shared state ``OkxFake``, ``ccxt_urls``, ``ccxt_options``,
``setup``), ``codec`` (units, ids, signatures, JSON shapes; pure), ``book`` (the ``books``
channel with ``seqId`` / ``checksum``; pure), ``trade`` (place, cancel, find orders), ``rest``
(the REST endpoints), ``ws`` (the public, private and business websockets).
"""

from transports.venues.fake.okx.fake import (
    OKX_KEY,
    OkxFake,
    ccxt_options,
    ccxt_urls,
    make_app,
    setup,
)

__all__ = ["OKX_KEY", "OkxFake", "ccxt_options", "ccxt_urls", "make_app", "setup"]
