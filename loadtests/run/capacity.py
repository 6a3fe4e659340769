"""``capacity``: the search for each variant's highest arrival rate within a latency
target (the rules are in ``loadtests/results/capacity.py``; README, "Capacity at a
latency target").

Every phase is one open-model run of the suite (``runner.run``), kept whole under
``probes/`` with its own results.json and report:

1. **ramp**: every variant at every ramp rate, taking turns in one block per rate (an
   ordinary open run, so its report compares the variants rate by rate); then, up to
   ``extend`` times, each variant still on one side of the target at every rate tried
   at one more rate past that end (``capacity.past_the_ramp``), so that a machine
   faster or slower than the ramp was chosen for still gets a bracket;
2. **bisect**, ``rounds`` times: every variant whose bracket is still wider than the
   resolution, at its bracket's geometric middle, each at its own rate in one run;
3. **confirm**: every bracketed variant at three rates around its bracket
   (``capacity.CONFIRM_SPREAD``), in ``confirm_blocks`` blocks, each of which holds every
   variant at every rate in one random order (``StepPlan.interleaved``): run rate after
   rate, the machine's drift during the run would move with the rate and bend the fit.
   The fit through these probes and every earlier one of the variant gives the estimate
   and its interval (``capacity.estimate``).

The database is started once for all phases. ``capacity.json`` is rewritten after every
phase, so an interrupted search keeps its probes and its estimates so far.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests import files
from loadtests.errors import SuiteError
from loadtests.infra import database
from loadtests.paths import REPORTS_DIR
from loadtests.plan import DEFAULT_MAX_IN_FLIGHT, ArrivalKind, ScenarioPlan, StepPlan
from loadtests.results import capacity, store
from loadtests.results.capacity import CapacityResults, Phase, Settings, Slo
from loadtests.run import runner
from loadtests.run.state import RunOptions
from loadtests.variants import Variant

PROBES_DIR = "probes"
# Blocks of the confirmation run: a choice. Two left 5 of 18 intervals of six default
# searches unbounded (README, "Capacity at a latency target"); each more block costs
# about 70 s of the default search.
CONFIRM_BLOCKS = 3
# Runs past the ramp's ends at most: a choice. At the default ramp's ratio (1.5) four
# reach about 5,600 req/s above it (past what one Locust process keeps on schedule here,
# which its lag then flags) and 45 below it.
EXTEND = 4
# The phase whose blocks hold every variant at every rate, in one random order (why: the
# module's docstring, "confirm").
INTERLEAVED: Phase = "confirm"


@dataclass(frozen=True)
class CapacityOptions:
    scenario: str
    variants: tuple[str, ...]  # the first is the baseline
    catalogue: dict[str, Variant]
    slo: Slo
    max_errors: float
    ramp: tuple[int, ...]
    rounds: int = 2
    confirm_blocks: int = CONFIRM_BLOCKS
    extend: int = EXTEND
    measure_s: float = 4.0
    warmup_s: float = 4.0
    arrivals: ArrivalKind = "poisson"
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    workers: int = 1
    out_root: Path = REPORTS_DIR
    pin: bool = True
    port: int | None = None
    shared: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    command: str = ""

    def settings(self) -> Settings:
        return Settings(
            ramp=list(self.ramp), rounds=self.rounds, confirm_blocks=self.confirm_blocks,
            extend=self.extend, interleaved=True,  # the confirmation is (INTERLEAVED)
            step_seconds=self.measure_s, warmup_seconds=self.warmup_s, arrivals=self.arrivals,
            max_in_flight=self.max_in_flight, fit="halfway",
            confirm_spread=list(capacity.CONFIRM_SPREAD),
        )  # fmt: skip

    def plan(self, phase: Phase, levels: dict[str, tuple[int, ...]], blocks: int) -> ScenarioPlan:
        """One probe run of ``phase``: each variant at its own levels, step by step (the
        confirmation: every level in every block, ``INTERLEAVED``)."""
        count = len(next(iter(levels.values())))
        steps = tuple(max(mine[i] for mine in levels.values()) for i in range(count))
        alike = all(mine == steps for mine in levels.values())
        plan = StepPlan(
            steps, self.warmup_s, self.measure_s, blocks=blocks, model="open",
            arrivals=self.arrivals, max_in_flight=self.max_in_flight,
            variant_steps=() if alike else tuple(levels.items()),
            interleaved=phase == INTERLEAVED,
        )  # fmt: skip
        return ScenarioPlan(self.scenario, tuple(levels), plan)

    def estimated_seconds(self) -> float:
        """The ramp and bisection runs as planned, and a confirmation of three rates (runs
        past the ramp, needed only when it brackets nothing, are not foreseen)."""
        ramp = self.plan("ramp", dict.fromkeys(self.variants, self.ramp), 1)
        top = (self.ramp[-1],)
        bisect = self.plan("bisect", dict.fromkeys(self.variants, top), 1)
        confirm = self.plan("confirm", dict.fromkeys(self.variants, top * 3), self.confirm_blocks)
        loads = ramp.total_s + self.rounds * bisect.total_s + confirm.total_s
        return loads + (2 + self.rounds) * runner.SCENARIO_OVERHEAD_S


def search(
    options: CapacityOptions,
    finished: Callable[[Path], None],
    progress: Callable[[CapacityResults, Phase], None],
    started: Callable[[Path], None] = lambda _: None,
) -> Path:
    """Run every phase; returns the capacity directory. ``started`` gets the directory as
    soon as it exists, ``finished`` each probe run's directory (the command builds its
    report), ``progress`` the document after each phase."""
    name = f"{files.stamp()}-capacity-{options.scenario}"
    directory = files.new_output_dir(options.out_root, name, PROBES_DIR)
    started(directory)
    doc = CapacityResults(
        id=directory.name, status="running", command=options.command, started_at=time.time(),
        scenario=options.scenario, variants=list(options.variants),
        labels={v: options.catalogue[v].display for v in options.variants},
        slo=options.slo, max_errors=options.max_errors, settings=options.settings(), runs=[],
    )  # fmt: skip
    capacity.write(directory, doc)
    try:
        with database.command_target():  # up once for every phase
            for phase, levels, blocks in phases(options, doc):
                _probe(options, directory, doc, phase, levels, blocks, finished)
                doc.estimates = capacity.estimates(doc)
                capacity.write(directory, doc)
                progress(doc, phase)
        doc.status = "complete"
    except KeyboardInterrupt:
        doc.status, doc.error = "partial", "interrupted"
        raise
    except SuiteError as exc:
        doc.status, doc.error = "failed", str(exc)
        raise
    finally:
        doc.estimates = capacity.estimates(doc)
        doc.finished_at = time.time()
        doc.duration_s = round(doc.finished_at - doc.started_at, 1)
        capacity.write(directory, doc)
    return directory


def phases(
    options: CapacityOptions, doc: CapacityResults
) -> Iterator[tuple[Phase, dict[str, tuple[int, ...]], int]]:
    """The phases, each planned from the probes before it (a generator: the next phase
    is decided only once the previous one is measured)."""
    yield "ramp", dict.fromkeys(options.variants, options.ramp), 1
    ratio = capacity.ramp_ratio(options.ramp)
    for _ in range(options.extend):
        past = {v: capacity.past_the_ramp(_of(doc, v), ratio) for v in options.variants}
        levels: dict[str, tuple[int, ...]] = {v: (r,) for v, r in past.items() if r is not None}
        if not levels:
            break
        yield "ramp", levels, 1
    for _ in range(options.rounds):
        middles: dict[str, tuple[int, ...]] = {}
        for variant in options.variants:
            low, high = capacity.bracket(_of(doc, variant))
            middle = capacity.midpoint(low, high) if low and high else None
            if middle is not None:
                middles[variant] = (middle,)
        if not middles:
            break
        yield "bisect", middles, 1
    confirm = {}
    for variant in options.variants:
        low, high = capacity.bracket(_of(doc, variant))
        if low and high:
            confirm[variant] = capacity.confirm_rates(low, high)
    if confirm:
        yield "confirm", _same_length(confirm), options.confirm_blocks


def _of(doc: CapacityResults, variant: str) -> list[capacity.Probe]:
    return [p for p in doc.probes if p.variant == variant]


def _same_length(levels: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Rates too low for three distinct ones repeat their highest: every variant needs
    one level per step."""
    count = max(len(mine) for mine in levels.values())
    return {v: mine + (mine[-1],) * (count - len(mine)) for v, mine in levels.items()}


def _probe(
    options: CapacityOptions,
    directory: Path,
    doc: CapacityResults,
    phase: Phase,
    levels: dict[str, tuple[int, ...]],
    blocks: int,
    finished: Callable[[Path], None],
) -> None:
    number = len(doc.runs) + 1
    scenario = options.plan(phase, levels, blocks)
    print(
        f"\n=== capacity, {phase} ({number}): "
        + "; ".join(f"{doc.labels[v]} at {', '.join(map(str, r))} req/s" for v, r in levels.items())
        + (f", {blocks} blocks" if blocks > 1 else "")
        + (", every rate in every block, in a random order" if scenario.plan.interleaved else ""),
        flush=True,
    )
    run_options = RunOptions(
        scenarios=(scenario,), variants=options.catalogue,
        locust_processes=options.workers, out_root=directory / PROBES_DIR, pin=options.pin,
        port=options.port, shared=options.shared, command=options.command,
        seed=None if options.seed is None else options.seed + number, ceiling=False,
        name=f"{number}-{phase}",
    )  # fmt: skip

    def record(run_dir: Path) -> None:
        """However the probe run ended: listed, its report built, its windows kept."""
        doc.runs.append(f"{PROBES_DIR}/{run_dir.name}")
        finished(run_dir)
        with contextlib.suppress(SuiteError):  # a run that wrote nothing has no probes
            data = store.load(run_dir)
            doc.probes.extend(capacity.probes_of(data, phase, options.slo, options.max_errors))

    run_dir = runner.run(run_options, finished=record)
    data = store.load(run_dir)
    if data.run.status != "complete":
        raise SuiteError(
            f"the {phase} run ended {data.run.status} ({data.run.error or 'see its report'}): "
            f"{run_dir}"
        )
