"""Patron's benchmarks: generated data and load runs, reported against a ceiling measured in the
same run (see docs/performance.md). Not part of the test suite."""
