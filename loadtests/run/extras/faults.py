"""Faults injected into a run: the database made unavailable in the middle of a step.

``run --fault db-freeze@2`` stops every process of the suite's own PostgreSQL with
SIGSTOP for ``--fault-seconds`` (default 10), then resumes them: connections stay open
and silent, as with a hung server or a network partition. ``db-restart@2`` stops the
server (a fast shutdown: every connection is closed), keeps it down for the same time,
and starts it again on the same port: a failover or a crash. Either way the database is
unavailable for about the same time, so the two faults compare.

At the fault's step, before the step's measured blocks, each variant gets a window of
its own, ``FAULT_MARGIN_S`` longer than the fault on either side, and the fault is
centred in it: every variant meets it at the same load and the same moment of its turn.
Those windows are kept out of every comparison (the step's blocks after them measure
the variants as usual) and reported in the fault section. The runner learns of each
window at its switch, from Locust's log, and the fault runs in a thread beside the
runner's loop. Leaving the ``Injector`` block, for any reason, thaws or restarts the
database at once: it is never left frozen or down.

From the per-second series of that run the outcome is read: the second of the first
failed response after the fault began, the seconds from the database's return to the
first of ``RECOVERED_SECONDS`` seconds in a row with successes and no failure, and the
failed requests in between.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psutil

from loadtests.errors import SuiteError
from loadtests.infra import cpu
from loadtests.infra.postgres import EmbeddedPostgres, ServerState, server_processes
from loadtests.infra.processes import interrupts_deferred, interrupts_to_main_thread
from loadtests.plan import ScenarioPlan, StepPlan
from loadtests.recording.schedule import FAULT_BLOCK
from loadtests.recording.wire import WindowMeta
from loadtests.report import faults as report_faults
from loadtests.results.models import FaultOutcome, FaultPlan, TimePoint, VariantRun
from loadtests.run.extras.base import Extra
from loadtests.run.generator import WindowListener
from loadtests.run.state import Run, RunOptions

KINDS = {
    "db-freeze": "every PostgreSQL process stopped (SIGSTOP): connections open and silent",
    "db-restart": "PostgreSQL shut down (fast: connections closed), then started on its port",
}
DEFAULT_SECONDS = 10.0
MAX_SECONDS = 120.0
RECOVERED_SECONDS = 3  # seconds in a row with successes and no failure
FAULT_MARGIN_S = 2.0 * RECOVERED_SECONDS  # before and after the fault in its window
JOIN_WAIT_S = 90.0  # for the fault to end (a stop and a start) when the block is left early
# Failures this long after the database's return still count as the fault's (a service's
# pool may need that long to replace its connections); later ones belong to the run.
ATTRIBUTED_S = 30


def parse(text: str | None, seconds: float | None, plans: Sequence[StepPlan]) -> FaultPlan | None:
    """``KIND@STEP`` (step 1 = the first step) checked against every scenario's plan."""
    if text is None:
        if seconds is not None:
            raise SuiteError("--fault-seconds needs --fault")
        return None
    kind, _, step_text = text.partition("@")
    if kind not in KINDS:
        raise SuiteError(f"unknown fault '{kind}' in --fault (known: {', '.join(KINDS)})")
    try:
        step = int(step_text)
    except ValueError:
        raise SuiteError(f"--fault must be KIND@STEP, e.g. db-freeze@2, got '{text}'") from None
    fewest = min(len(plan.steps) for plan in plans)
    if not 1 <= step <= fewest:
        raise SuiteError(f"--fault names step {step}, but the run has steps 1 to {fewest}")
    seconds = DEFAULT_SECONDS if seconds is None else seconds
    if not 1 <= seconds <= MAX_SECONDS:  # also refuses nan
        raise SuiteError(f"--fault-seconds must be between 1 and {MAX_SECONDS:g}, got {seconds:g}")
    return FaultPlan(kind=kind, step=step, seconds=seconds, description=KINDS[kind])


def starts_at(fault: FaultPlan, window_start: float, window_end: float) -> float:
    """Centred on the window's middle; from its start when longer than the window."""
    middle = (window_start + window_end) / 2
    return max(window_start, middle - fault.seconds / 2)


@dataclass
class Injector:
    """Runs one fault in a thread once its step's window is announced."""

    fault: FaultPlan
    state: ServerState  # the server's state; a restart replaces it
    on_back: Callable[[ServerState], None] | None = None  # told of a restarted server
    started_at: float | None = field(default=None, init=False)
    ended_at: float | None = field(default=None, init=False)  # the database answers again
    note: str | None = field(default=None, init=False)
    _abort: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def window(self, start: float, end: float) -> None:
        """Its window was announced: the fault goes into the middle of it (once)."""
        if self._thread is not None:
            return
        at = starts_at(self.fault, start, end)
        # Not a daemon: the interpreter waits for a restart to finish before it exits.
        self._thread = threading.Thread(target=self._inject, args=(at,), name="fault")
        self._thread.start()

    def __enter__(self) -> Injector:
        return self

    def __exit__(self, *_: object) -> None:
        # An early exit cuts the wait short: thawed or restarted now, and a second Ctrl-C
        # cannot cut that short in turn.
        with interrupts_deferred():
            self._abort.set()
            if self._thread is not None:
                self._thread.join(JOIN_WAIT_S)
                if self._thread.is_alive():
                    self.note = "the fault was still under way when the run stopped"

    def _inject(self, at: float) -> None:
        interrupts_to_main_thread()
        if self._abort.wait(max(0.0, at - time.time())):
            self.note = "not injected: the run stopped first"
            return
        try:
            {"db-freeze": self._freeze, "db-restart": self._restart}[self.fault.kind]()
        except Exception as exc:  # recorded with the run: never a dead thread, nothing raised
            self.note = f"the fault failed: {exc}"

    def _freeze(self) -> None:
        postmaster = psutil.Process(self.state.pid)
        frozen = []
        try:
            # The postmaster first: it then starts no process that the list below misses.
            for process in (postmaster, *postmaster.children(recursive=True)):
                try:
                    process.suspend()
                except psutil.NoSuchProcess:
                    continue  # a backend that ended meanwhile
                frozen.append(process)
                self.started_at = self.started_at or time.time()
            self._abort.wait(self.fault.seconds)
        finally:
            for process in reversed(frozen):  # the postmaster last
                with contextlib.suppress(psutil.Error):
                    process.resume()
            if self.started_at is not None:
                self.ended_at = time.time()

    def _restart(self) -> None:
        server = EmbeddedPostgres()
        try:
            self.started_at = time.time()
            server.down()
            self._abort.wait(max(0.0, self.started_at + self.fault.seconds - time.time()))
        finally:
            self.state, _ = server.up()  # the last port, when it is still free
            self.ended_at = self.state.started_at  # pg_ctl saw it accept connections
            if self.on_back is not None:
                self.on_back(self.state)
        if self.state.moved_from is not None:
            self.note = (
                f"PostgreSQL came back on port {self.state.port}: port "
                f"{self.state.moved_from} was taken, so the services could not reconnect"
            )

    def result(self, points: Sequence[TimePoint], steps: Sequence[int]) -> FaultOutcome:
        users = steps[self.fault.step - 1] if self.fault.step <= len(steps) else None
        note = self.note
        if self.started_at is not None and self.ended_at is None:
            note = f"the database did not come back ({note or 'no reason known'})"
        return outcome(self.fault, self.started_at, self.ended_at, points, users, note)


def outcome(
    fault: FaultPlan,
    started_at: float | None,
    ended_at: float | None,
    points: Sequence[TimePoint],
    users: int | None,
    note: str | None = None,
) -> FaultOutcome:
    """What one variant's run went through: per second, to the second."""
    found = FaultOutcome(
        kind=fault.kind, step=fault.step, users=users, seconds=fault.seconds,
        started_at=started_at, ended_at=ended_at, note=note,
    )  # fmt: skip
    if started_at is None or ended_at is None:
        return found
    start, back = int(started_at), int(ended_at)
    # Failures long after the database's return belong to the run, not to the fault.
    after = [p for p in points if start <= p.epoch <= back + ATTRIBUTED_S]
    first = next((p.epoch for p in after if p.errors), None)
    found.first_error_after_s = None if first is None else first - start
    recovered = _recovered(after, back)
    found.recovered_after_s = None if recovered is None else recovered - back
    until = recovered if recovered is not None else (after[-1].epoch + 1 if after else start)
    during = [p for p in after if p.epoch < until]
    found.failed_requests = sum(p.errors for p in during)
    found.successful_requests = sum(p.requests - p.errors for p in during)
    found.unavailable_s = round(ended_at - started_at, 2)
    return found


def _recovered(points: Sequence[TimePoint], back: int) -> int | None:
    """The first second from the database's return that starts ``RECOVERED_SECONDS``
    whole seconds in a row with successes and no failure (the run's last, partial
    second is not judged)."""
    by_epoch = {p.epoch: p for p in points}
    last = max(by_epoch, default=back) - 1
    for second in range(back, last - RECOVERED_SECONDS + 2):
        run = [by_epoch.get(second + k) for k in range(RECOVERED_SECONDS)]
        if all(p is not None and p.errors == 0 and p.requests > 0 for p in run):
            return second
    return None


# -- the run's extra ------------------------------------------------------------------------


class Fault(Extra):
    """The run's fault, once in each variant's window of a block of its own at the fault's
    step (before that step's measured blocks, kept out of every comparison); the run
    follows a restarted server."""

    def __init__(self, fault: FaultPlan) -> None:
        self.fault = fault
        self.injectors: dict[str, Injector] = {}  # variant -> its fault, this scenario
        self.url = ""  # the database's URL before the scenario

    def announce(self) -> str:
        fault = self.fault
        return (
            f"fault: {fault.kind} for {fault.seconds:g} s in the middle of a window of each "
            f"variant, at step {fault.step}, in a block of its own ({fault.description})"
        )

    def schedule_changes(self) -> dict[str, Any]:
        return {"fault": (self.fault.step, window_seconds(self.fault))}

    def estimated_seconds(self) -> float:
        return window_seconds(self.fault)  # per variant and scenario, roughly

    @contextlib.contextmanager
    def around_scenario(
        self, run: Run, plan: ScenarioPlan, outcomes: dict[str, VariantRun]
    ) -> Iterator[WindowListener | None]:
        self.injectors, self.url = {}, run.target.url
        if run.target.embedded is None:  # refused with --fault before the run
            yield None
            return

        def back(state: ServerState) -> None:
            # A restarted server's new processes are pinned like the old ones.
            run.target = replace(run.target, url=state.url(run.target.name), embedded=state)
            if run.layout.pinned:
                cpu.pin(server_processes(state), run.layout.other_cpus)

        def listen(window: WindowMeta) -> None:
            embedded = run.target.embedded
            if window.block != FAULT_BLOCK or embedded is None:
                return
            injector = Injector(self.fault, embedded, on_back=back)
            self.injectors[window.variant] = injector
            injector.window(window.start, window.end)

        try:
            yield listen
        finally:
            for injector in self.injectors.values():
                injector.__exit__()  # never left frozen or down

    def after_scenario(self, run: Run, plan: ScenarioPlan, outcomes: dict[str, VariantRun]) -> None:
        for variant, injector in self.injectors.items():
            outcome = outcomes[variant]
            outcome.fault = injector.result(outcome.timeseries, plan.plan.steps)
            print(f"   {outcome.variant}: {report_faults.summary(outcome.fault)}", flush=True)
        if self.url and run.target.url != self.url:  # a restart could not have its port back
            raise SuiteError(
                "PostgreSQL came back on another port after the fault (now "
                f"{run.target.describe()}): the next scenarios could not reach it"
            )


def window_seconds(fault: FaultPlan) -> float:
    """A fault's window: the fault centred in it, with time to see the failures start
    and to judge the recovery (``RECOVERED_SECONDS`` clean seconds) on either side."""
    return fault.seconds + 2 * FAULT_MARGIN_S


def create(options: RunOptions) -> Extra | None:
    return Fault(options.fault) if options.fault is not None else None
