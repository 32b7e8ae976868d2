"""Redis toolkit: connections, key naming, locks, rate limits and streams; knows nothing about chat."""
