"""What an extra is: a class with any of the hooks of a run (see ``loadtests.run.extras``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from loadtests.plan import ScenarioPlan
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

    def locust_args(self, run: Run, plan: ScenarioPlan, tag: str) -> list[str]:
        return []

    @contextlib.contextmanager
    def around_variant(
        self, run: Run, plan: ScenarioPlan, outcome: VariantRun
    ) -> Iterator[WindowListener | None]:
        yield None

    def after_variant(self, run: Run, plan: ScenarioPlan, outcome: VariantRun) -> None:
        return None

    def after_run(self, run: Run) -> None:
        return None


@contextlib.contextmanager
def around_variant(
    extras: list[Extra], run: Run, plan: ScenarioPlan, outcome: VariantRun
) -> Iterator[WindowListener]:
    """Every extra's context around one variant's Locust run, entered in order; the
    windows Locust announces go to every listener."""
    with contextlib.ExitStack() as stack:
        listeners = [
            found
            for extra in extras
            if (found := stack.enter_context(extra.around_variant(run, plan, outcome)))
        ]

        def announce(step: int, start: float, end: float) -> None:
            for listener in listeners:
                listener(step, start, end)

        yield announce
