"""Local stand-ins for the services we call, for tests, replay and benchmarks (loopback only)."""
