"""Helpers shared by the test suites and the benchmark scripts (no fixtures: those live in the conftests)."""
