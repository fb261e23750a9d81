"""The controllable clock for tests: frozen at a moment for the length of a block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from workflows.clock import FrozenClock, set_clock


@contextmanager
def frozen_at(moment: datetime) -> Iterator[FrozenClock]:
    """The app's and the engine's clock stand at ``moment`` (tests move it on) until the
    block ends; then the clock before is back."""
    clock = FrozenClock(moment)
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)
