"""The shells around the pure cores: what a core cannot touch itself — sockets, files, the
intent WAL. The base ``Shell`` (``shell``), the feed's (``feed_shell``), a leg executor's with its
venue link and intent WAL (``venue_shell``), the journal's (``journal_shell``), and the node's
Supervisor thread that carries out the supervision core's actions (``supervisor_shell``)."""
