"""One injectable clock shared by the app and the engine.

SpiffWorkflow reads ``datetime.now(timezone.utc)`` inside its timer module. We replace that
module's ``datetime`` name with a subclass whose ``now()`` asks our clock, so a test that moves
the clock moves the engine too, and production uses the system time for both.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to: tests move time instead of sleeping."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware moment")
        with self._lock:
            self._now = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


_current: Clock = SystemClock()


def set_clock(clock: Clock) -> Clock:
    """Install ``clock`` for the app and the engine; return the previous one."""
    global _current
    previous, _current = _current, clock
    return previous


def get_clock() -> Clock:
    return _current


def now() -> datetime:
    return _current.now()


class _EngineDatetime(datetime):
    """``datetime`` as the engine's timer module sees it: ``now()`` reads our clock."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        moment = _current.now()
        return moment.astimezone(tz) if tz is not None else moment.replace(tzinfo=None)


def _patch_engine() -> None:
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    timer.datetime = _EngineDatetime  # type: ignore[misc]


_patch_engine()
