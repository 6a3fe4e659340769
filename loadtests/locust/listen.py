"""``@listener(events.init)``: Locust's ``EventHook.add_listener`` as a typed decorator.

Locust's own ``add_listener`` has no annotations, so used as a decorator it would make
every hook of the suite untyped for the type checker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from locust.event import EventHook

Hook = TypeVar("Hook", bound=Callable[..., Any])


def listener(event: EventHook) -> Callable[[Hook], Hook]:
    def register(function: Hook) -> Hook:
        cast(Callable[[Hook], object], event.add_listener)(function)
        return function

    return register
