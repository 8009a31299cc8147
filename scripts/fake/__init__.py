"""``cmc fake-exchange``: local fakes of real exchange APIs."""
