"""scripts.bench.tick_to_trade."""
