"""actors.leg: the LegExecutor (one per venue account) and the objects its core owns.

``executor`` (the core, ``LegExecutorCore``) owns one object per concern and delegates to them:
``book`` (``OrderBook``: order records, their indexes, positions, counters; closed orders
retired after ``RETIRE_AFTER_NS``, revived by a late report), ``reports`` (venue reports,
queries, alarms; a query's answer and the inferred rejects are ``status``'s), ``pretrade``
(limits, market view, rate buckets, denial counts), ``link`` (``OeLink``), ``reconciler``,
``throttle`` (the ``throttled`` back-off), ``faults`` (``frames``: bad frames; ``wal``: the
intent WAL failed; a lost link), ``entry`` (new orders and cancels) and ``session``
(``VenueSession``, protocol v2: the gateway's own session, funding, balances, its version and
kinds) and ``offsets`` (futures offsets: the two-sided positions of the contracts with
``offsets``), each from the module of that name; ``views`` names the helpers' state the
executor shows as its own (``core.orders``, ...).
Money rules, kept between them:

- the client order id is ``f"{epoch}.{combo_id}.{leg}.{attempt}"`` and an id is used at most once,
  ever (a repeated ``LegOrder`` is denied ``duplicate_cl``, denied ids stay reserved);
- no ack, fill or done within ``request_timeout_ms`` makes the outcome *unknown* (a flag): the
  order is queried with backoff, never resent; ``unknown`` answers keep the flag, they are not a
  rejection; while any order is unknown only position-reducing orders pass (``venue_uncertain``);
  "not found" answers past ``unknown_bound_ms`` that agree make an inferred reject; an outcome
  still unknown after ``unknown_halt_ms`` sends ``Halt("unresolved_unknown:<cl>")`` to risk (both
  0 = off in the constructor; the node passes ``VenueConfig``'s, 3000 and 15000 by default);
- fills are deduped by trade id (one ExecReport ``fill`` per trade, ever), applied even when late,
  beyond the order quantity or after an illegal transition (alarmed), and drive the positions;
- with ``oe_link=True`` (the node sets it) the leg pings its venue on ``@oe`` every
  ``ping_interval_ms`` (from ``on_start``); no pong for ``oe_timeout_ms`` is a disconnect (open
  orders flagged unknown, new orders denied ``disconnected``);
- an order-entry frame that does not decode (``BadFrame``) makes the venue *uncertain* and
  every open order unknown; repeats ask risk to reduce (``actors.leg.faults.BadFrames``);
- when the node's intent WAL fails (``IntentFailed``) the orders are rejected locally and only
  reducing orders pass from then on, without a durable intent (``actors.leg.faults.WalFailure``);
- it reconciles with the venue at start -- with ``oe_link`` or when a node supervises it
  (``reconcile_at_start``) --, after a rebuild (``restarted``) and when pongs resume after a
  disconnect; new orders are denied ``reconciling`` until it is done. A core built with neither
  (tests driving it directly) does not. A rebuilt executor refuses a ``LegOrder`` for an order
  it holds from an earlier epoch (``prior``) as a duplicate.
- a ``reject`` or ``cancel_reject`` with code ``throttled`` starts a back-off: no new order
  goes (denied ``throttled``) and cancels are held until it ends (``actors.leg.throttle``);
- the gateway's ``session`` ``down`` (or ``auth_failed``) is a lost link: open orders flagged
  unknown, new orders denied ``session_down``; ``up`` reconciles before trading again; a
  version 1 gateway is never sent a version 2 request or key (``actors.leg.session``);
- a contract with ``offsets`` (CTP futures) gets each order's offset from the two-sided
  positions net of what the working closes hold; no order closes more than a bucket holds (the
  excess is denied ``close_exceeds_position``); other contracts' orders carry no offset
  (``actors.leg.offsets``).
"""
