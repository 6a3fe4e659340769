"""What an extra is: a class with any of the hooks of a run (see ``loadtests.run.extras``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from loadtests.plan import ScenarioPlan
from loadtests.recording.wire import WindowMeta
from loadtests.results.models import VariantRun
from loadtests.run.generator import WindowListener

if TYPE_CHECKING:
    from loadtests.run.state import Run


class Extra:
    """A measurement beside the run; override only the hooks it needs."""

    def announce(self) -> str | None:
        return None

    def estimated_seconds(self) -> float:
        return 0.0

    def before_scenario(self, run: Run, plan: ScenarioPlan) -> None:
        return None

    def schedule_changes(self) -> dict[str, Any]:
        """Keyword arguments for the scenario's schedule (``recording.schedule.build``):
        a fault's block of its own, the cross-check's wrk turns."""
        return {}

    def locust_args(self, run: Run, plan: ScenarioPlan) -> list[str]:
        return []

    @contextlib.contextmanager
    def around_scenario(
        self, run: Run, plan: ScenarioPlan, outcomes: dict[str, VariantRun]
    ) -> Iterator[WindowListener | None]:
        yield None

    def after_scenario(self, run: Run, plan: ScenarioPlan, outcomes: dict[str, VariantRun]) -> None:
        return None

    def after_run(self, run: Run) -> None:
        return None


@contextlib.contextmanager
def around_scenario(
    extras: list[Extra], run: Run, plan: ScenarioPlan, outcomes: dict[str, VariantRun]
) -> Iterator[WindowListener]:
    """Every extra's context around a scenario's Locust run, entered in order; every
    window Locust announces (at its switch) goes to every listener."""
    with contextlib.ExitStack() as stack:
        listeners = [
            found
            for extra in extras
            if (found := stack.enter_context(extra.around_scenario(run, plan, outcomes)))
        ]

        def announce(window: WindowMeta) -> None:
            for listener in listeners:
                listener(window)

        yield announce
