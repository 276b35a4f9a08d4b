"""The code Lambda runs: a pure core (decode, transform, batching) and a thin AWS shell."""
