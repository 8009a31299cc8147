"""The built-in simulator gateway: every configured venue in one process, behind the protocol.

Layers, pure logic first: ``process`` (seeded correlated prices and dislocations), ``matching``
(one instrument's book), ``venue`` (one venue's orders and replies), ``truth`` (the ground-truth
record), ``faults`` (the fault switches and presets), ``mdpipe`` (the md fault switches on a
venue's output), ``core`` (all venues on one timeline, latency, fault spans) and
``gateway`` (the ZeroMQ sockets; ``serve`` and the process ``main``).
Run it with ``python -m transports.venues.sim --sock-dir DIR``.
"""
