"""Paper trading: another gateway's live market data, fills simulated against its book, behind
the venue protocol (``cmc gateway paper``; see ``gateway.serve_paper``)."""
