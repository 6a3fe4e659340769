"""Measurements beside a run, as plug-ins: the loop calls them, and knows none of them.

An extra is a class with any of the hooks below; each hook has a do-nothing default, so
an extra implements only the moments it needs. ``enabled(options)`` asks every module
in ``CREATORS`` for its extra (``create(options)``, None when the run did not ask for it),
in that order, which is also the order their hooks run in. A new extra is a new module
here and a line in ``CREATORS``; the loop does not change.

The moments of a run, in order:

- ``announce``: one line printed before the run starts (what it will do, or why not);
- ``estimated_seconds``: what it adds to the run's time, for the progress lines;
- ``schedule_changes``: what it needs in the schedule (a fault's block, wrk's turns);
- ``before_scenario``: once per scenario, before its services start;
- ``locust_args``: extra arguments for the scenario's Locust run;
- ``around_scenario``: a context around that Locust run, yielding a listener for the
  windows Locust announces at each switch (or None);
- ``after_scenario``: once the services have stopped and every variant's steps are
  recorded;
- ``after_run``: once every scenario has run.
"""

from __future__ import annotations

from collections.abc import Callable

from loadtests.run.extras import audit, ceiling, crosscheck, faults
from loadtests.run.extras.base import Extra, around_scenario
from loadtests.run.state import RunOptions

__all__ = ["Extra", "around_scenario", "enabled"]

# In the order their hooks run: the ceiling before the services start, the fault around
# the Locust run, the audit after the services stopped, the cross-check at the end.
CREATORS: tuple[Callable[[RunOptions], Extra | None], ...] = (
    ceiling.create,
    faults.create,
    audit.create,
    crosscheck.create,
)


def enabled(options: RunOptions) -> list[Extra]:
    """The extras this run asked for, in ``CREATORS`` order."""
    return [extra for create in CREATORS if (extra := create(options)) is not None]
