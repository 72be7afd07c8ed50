"""The reliability suite: `make soak` runs the tests marked `reliability` on PostgreSQL;
the normal suite runs only the small unmarked subset (test_fast.py)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    wanted = "reliability" in (config.getoption("-m") or "")
    for item in items:
        if item.get_closest_marker("reliability") is None:
            continue
        if not wanted:
            item.add_marker(pytest.mark.skip(reason="soak test: run `make soak`"))
        elif config.getoption("--db") != "postgresql":
            item.add_marker(pytest.mark.skip(reason="soak tests run on PostgreSQL (--db=postgresql)"))
