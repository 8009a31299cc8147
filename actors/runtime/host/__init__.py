"""The dispatcher host: one group's thread (``host``, a pykka actor), its polling inbox
(``host_inbox``), its ZeroMQ sockets (``host_sockets``), the group commit of a wake's order
intents (``host_commit``), the batching of what leaves a dispatch cycle (``host_output``), and
what the Supervisor asks of it — checkpoints, restarts, abandoning a hung host
(``supervised_host``)."""
