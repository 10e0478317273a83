"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import time


def wait_for(check, timeout: float = 20.0, interval: float = 0.05):
    """Poll `check()` until it returns something truthy, and return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
