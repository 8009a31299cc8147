"""scripts.config_new: ``cmc config new``, a starting config from the venues' instrument lists."""
