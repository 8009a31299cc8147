"""Hot standby on NATS JetStream: the lease (fencing token), journal replication, a real
nats-server for tests and drills, and benches.

Modules (import them directly; this package imports nothing, so single-engine use needs no NATS):
``server`` (``NatsServer``, ``NatsCluster``), ``lease`` (async ``Lease``), ``replication``
(``Replicator``, ``Follower``, ``ReplicationService``), ``service`` (``HaNode``,
``LeaseService``: thread-safe facades), ``loop`` (``LoopThread``), ``bench``.
"""
