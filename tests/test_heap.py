"""The Locust process's garbage collection between turns (loadtests/locust/heap.py):
what is alive at a switch is set aside, so a window's collections do not scan it, and
nothing set aside outlives the next switch once it is garbage."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from loadtests.locust import heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def clean_heap() -> Iterator[None]:
    yield
    gc.unfreeze()  # leave the test process as it was


@pytest.mark.usefixtures("clean_heap")
def test_what_survives_a_switch_is_not_scanned_inside_the_window() -> None:
    held = [[i] for i in range(50_000)]  # a turn's long-lived objects (users, sessions)
    gc.unfreeze()
    before = gc.get_freeze_count()
    heap.between_turns()
    assert gc.get_freeze_count() - before >= len(held), "the users' objects are set aside"
    # A collection inside the window scans only what is tracked and not frozen.
    tracked = len(gc.get_objects())
    assert tracked < len(held), (tracked, len(held))


@pytest.mark.usefixtures("clean_heap")
def test_a_cycle_that_dies_after_a_switch_is_freed_at_the_next() -> None:
    """Frozen objects are never collected; unfreezing at the next switch is what keeps
    a session closed during a turn (in a reference cycle) from leaking for good."""
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    alive = weakref.ref(first)
    heap.between_turns()  # the cycle is alive: frozen with the rest
    del first, second  # the turn closes the session
    gc.collect()
    assert alive() is not None, "frozen: a collection inside the window leaves it"
    heap.between_turns()
    assert alive() is None, "freed at the next switch"
