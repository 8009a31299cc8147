"""The Interactive Brokers gateway (``cmc gateway ib``): one IB account, through TWS or IB
Gateway and ``ib-async``, behind the venue protocol version 2 (docs/venues/ib.md)."""
