"""Tests of the local fakes of real exchange APIs (transports/venues/fake)."""
