"""The ``cmc`` command and bare-metal helpers."""
