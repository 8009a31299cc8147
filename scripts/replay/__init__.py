"""scripts.replay."""
