"""How many examples the hypothesis tests draw: a fixed set in the suite, so that CI sees the same
examples every run; with PATRON_EXPLORE=K, K times as many, drawn afresh each run (an exploratory
run, README). A failure prints the example and how to reproduce it."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXPLORE = int(os.environ.get("PATRON_EXPLORE") or 0)


def examples(n: int, *allowed: HealthCheck) -> settings:
    return settings(max_examples=n * max(EXPLORE, 1), derandomize=not EXPLORE, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, *allowed])
