"""What every gateway shares: its engine-facing sockets, its process, its durable order map."""
