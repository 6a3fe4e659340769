"""``capacity.json``: each variant's highest arrival rate within a latency target, and the
rules that find it from probes (README, "Capacity at a latency target").

A **probe** is one measured window of the open model: one variant at one offered rate.
It is *within* the target when its latency percentile (timed from the intended start)
is at most the SLO **and** its errors plus dropped arrivals are under ``max_errors`` of
its arrivals. Both conditions fold into one **score**, the larger of latency / SLO and
failure rate / max_errors: within means a score of at most 1 (and failures strictly
under their limit).

The search (``loadtests/run/capacity.py``) brackets each variant's limit between a rate
within and the next rate beyond (going on past either end of the ramp, at the ramp's own
ratio, when a variant is within, or beyond, at every ramp rate: a faster or slower
machine than the one the ramp was chosen on), narrows the bracket by bisection, then measures three
rates around the bracket again in blocks. The capacity is the **halfway rate**: where a
logistic fit of within/beyond against log(rate), through every probe of the variant,
puts a window's chance of being beyond the target at one half; its 95% interval is by
profile likelihood (``logistic.halfway``), unbounded on a side the probes cannot bound.
Near a knee one window passes or fails almost by chance (and one that fails, fails by a
lot: the service falls behind for the rest of the window), so the fit reads each probe as
within or beyond, and it is the many probes across rates and blocks that place the rate.
Before 2026-12-06 the capacity was where a line through log(score) crossed 0, with
Fieller's interval (``Settings.fit``: "score line").
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from loadtests import files
from loadtests.errors import SuiteError
from loadtests.plan import MAX_RATE, percent
from loadtests.results import logistic
from loadtests.results.models import BlockValues, Model, RunResults, Step

FILENAME = "capacity.json"
SCHEMA_VERSION: Literal[1] = 1
PERCENTILES = {"p50": "p50", "p95": "p95", "p99": "p99", "p99.9": "p99_9"}  # SLO -> field
MAX_ERRORS_LIMIT = 0.5
# Two rates this close (ratio) are one rate to the search: bisecting further would cost
# another probe run to move the estimate by less than the probes' own noise. A choice.
RESOLUTION = 1.05
# The confirmation's rates, as factors of the final bracket's geometric middle: a choice,
# reaching further above than below because the bracket's upper end is often one window
# beyond by chance. In simulated searches this spread bounded 91% of intervals and covered
# the truth in 90%, against 85% and 87% for (0.9, 1.0, 1.1) (README, "Capacity at a
# latency target").
CONFIRM_SPREAD = (0.9, 1.05, 1.2)
# The spread of documents written before ``Settings.confirm_spread`` was recorded.
EARLIER_SPREAD = (0.9, 1.0, 1.1)

Phase = Literal["ramp", "bisect", "confirm"]
Fit = Literal["score line", "halfway"]
Status = Literal["estimated", "at least", "below", "unresolved"]


class Slo(Model):
    percentile: str = Field(description="p50, p95, p99 or p99.9 of latency (intended start)")
    limit_ms: float

    @property
    def field(self) -> str:
        return PERCENTILES[self.percentile]

    @property
    def label(self) -> str:
        limit = f"{self.limit_ms / 1000:g} s" if self.limit_ms >= 1000 else f"{self.limit_ms:g} ms"
        return f"{self.percentile} ≤ {limit}"


_SLO = re.compile(
    r"^\s*(p[0-9.]+)\s*=\s*([-+]?[0-9.]*(?:e[-+]?[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE
)
_UNITS = {"ms": 1.0, "s": 1000.0}


def parse_slo(text: str) -> Slo:
    """``p99=250ms`` -> Slo('p99', 250.0). One-line errors for the command line."""
    found = _SLO.match(text)
    if not found:
        raise SuiteError(f"--slo must look like p99=250ms, got '{text}'")
    percentile, number, unit = found.group(1).lower(), found.group(2), found.group(3).lower()
    if percentile not in PERCENTILES:
        raise SuiteError(
            f"--slo: unknown percentile '{percentile}' (one of {', '.join(PERCENTILES)})"
        )
    if not unit:
        raise SuiteError(f"--slo: '{text}' needs a unit, ms or s (e.g. {percentile}=250ms)")
    if unit not in _UNITS:
        raise SuiteError(f"--slo: unknown unit '{unit}' in '{text}' (ms or s)")
    try:
        value = float(number)
    except ValueError:
        raise SuiteError(f"--slo: '{number}' is not a number in '{text}'") from None
    if not math.isfinite(value) or value <= 0:
        raise SuiteError(f"--slo: the limit must be a positive number, got '{text}'")
    return Slo(percentile=percentile, limit_ms=value * _UNITS[unit])


def parse_max_errors(text: str) -> float:
    """``1%`` -> 0.01: the share of arrivals that may fail or be dropped, exclusive."""
    value = percent(text)
    if value is None:
        raise SuiteError(f"--max-errors must be a percentage such as 1%, got '{text}'")
    if not 0 < value <= MAX_ERRORS_LIMIT:
        raise SuiteError(
            f"--max-errors must be above 0% and at most {MAX_ERRORS_LIMIT:.0%}, got '{text}'"
        )
    return value


class Probe(Model):
    """One variant's measured window at one offered rate."""

    variant: str
    rate: int = Field(description="arrivals per second offered")
    phase: Phase
    run: str = Field(description="the probe run's directory, under probes/")
    block: int
    arrivals: int = Field(description="requests sent plus arrivals dropped")
    errors: int
    dropped: int
    throughput_rps: float
    latency_ms: dict[str, float] = Field(description="p50, p95, p99, p99_9 from the intended start")
    lag_p99_ms: float | None = Field(description="the step's generator lag (actual - intended)")
    settle_s: float | None = Field(
        None, description="seconds its backlog took to be answered after the window"
    )
    generator_saturated: bool | None
    score: float = Field(description="max(latency / SLO, failures / max_errors)")
    within: bool

    @property
    def failure_rate(self) -> float:
        return failure_rate(self.errors, self.dropped, self.arrivals)


def failure_rate(errors: int, dropped: int, arrivals: int) -> float:
    """Errors and dropped arrivals, a share of the arrivals (all of them when none came)."""
    return (errors + dropped) / arrivals if arrivals else 1.0


class Estimate(Model):
    variant: str
    status: Status = Field(
        description="estimated: bracketed and fitted; at least: within at every rate tried; "
        "below: beyond at every rate tried; unresolved: bracketed, but the fit cannot place it"
    )
    capacity_rps: float | None = Field(
        description="the halfway rate: a window as likely beyond the target as within it"
    )
    low_rps: float | None = Field(description="95% interval (profile likelihood); null: unbounded")
    high_rps: float | None
    within_rps: int | None = Field(description="the highest rate found within the target")
    beyond_rps: int | None = Field(description="the lowest rate above it found beyond")
    points: int = Field(0, description="probes in the fit")
    note: str = ""


class Settings(Model):
    """What the search chose; every one of them is a choice, not a measurement."""

    ramp: list[int]
    rounds: int = Field(description="bisection rounds after the ramp")
    confirm_blocks: int = Field(description="blocks of the confirmation run")
    extend: int = Field(
        0, description="runs past either end of the ramp at most (0: older documents, none)"
    )
    interleaved: bool = Field(
        False,
        description="the confirmation's blocks hold every variant at every rate, in one "
        "random order (false: older documents, rate after rate)",
    )
    step_seconds: float
    warmup_seconds: float
    arrivals: str
    max_in_flight: int
    level: float = Field(0.95, description="the interval's confidence level")
    resolution: float = Field(RESOLUTION, description="brackets this narrow are not bisected")
    confirm_spread: list[float] = Field(
        default_factory=lambda: list(EARLIER_SPREAD),
        description="the confirmation's rates, as factors of the bracket's geometric middle",
    )
    fit: Fit = Field(
        "score line",
        description="halfway: a logistic fit of within/beyond on log(rate), every probe; "
        "score line (older documents): a line through log(score) near the bracket, Fieller",
    )


class CapacityResults(Model):
    schema_version: Literal[1] = SCHEMA_VERSION
    id: str
    status: Literal["running", "complete", "partial", "failed"]
    error: str | None = None
    command: str
    started_at: float
    finished_at: float | None = None
    duration_s: float | None = None
    scenario: str
    variants: list[str] = Field(description="the first is the baseline")
    labels: dict[str, str] = Field(description="variant -> its label in reports")
    slo: Slo
    max_errors: float = Field(description="errors plus dropped, a share of arrivals (exclusive)")
    settings: Settings
    runs: list[str] = Field(description="probe runs, in order, under probes/")
    probes: list[Probe] = Field(default_factory=list)
    estimates: dict[str, Estimate] = Field(default_factory=dict)


def score(latency_ms: float, failure_rate: float, slo: Slo, max_errors: float) -> float:
    return max(latency_ms / slo.limit_ms, failure_rate / max_errors)


def within(latency_ms: float, failure_rate: float, slo: Slo, max_errors: float) -> bool:
    return latency_ms <= slo.limit_ms and failure_rate < max_errors


def rates_beyond(probes: list[Probe]) -> dict[int, bool]:
    """Each rate, ascending, and whether it is beyond the target: half or more of its
    probes were (the halfway rate's own reading; by how much does not count)."""
    found: dict[int, list[bool]] = {}
    for probe in probes:
        found.setdefault(probe.rate, []).append(not probe.within)
    return {rate: 2 * sum(over) >= len(over) for rate, over in sorted(found.items())}


def bracket(probes: list[Probe]) -> tuple[int | None, int | None]:
    """(the highest rate within, the lowest rate beyond above it), each rate read by
    ``rates_beyond``. (None, lowest) when even the lowest rate is beyond; (highest,
    None) when every rate is within."""
    rates = rates_beyond(probes)
    beyond = next((rate for rate, over in rates.items() if over), None)
    below = [rate for rate in rates if beyond is None or rate < beyond]
    return (max(below) if below else None), beyond


def ramp_ratio(ramp: tuple[int, ...] | list[int]) -> float:
    """The ramp's mean ratio from one rate to the next (geometric)."""
    return float((ramp[-1] / ramp[0]) ** (1 / (len(ramp) - 1)))


def past_the_ramp(probes: list[Probe], ratio: float) -> int | None:
    """The next rate to try when the variant is not bracketed: one ``ratio`` above the
    highest rate when every rate was within, one below the lowest when the lowest was
    beyond; None once it is bracketed, or at the plan's highest (or lowest) rate."""
    low, high = bracket(probes)
    if low is not None and high is None:
        top = max(p.rate for p in probes)
        return min(MAX_RATE, math.ceil(top * ratio)) if top < MAX_RATE else None
    if low is None and high is not None and high > 1:
        return max(1, math.floor(min(p.rate for p in probes) / ratio))
    return None


def midpoint(low: int, high: int) -> int | None:
    """The next rate to try between two: their geometric mean; None when they are within
    the search's resolution of each other."""
    if high / low <= RESOLUTION or high - low < 2:
        return None
    return round(math.sqrt(low * high))


def confirm_rates(low: int, high: int) -> tuple[int, ...]:
    """The rates measured again in blocks: around the bracket's geometric middle, wide
    enough to span the bracket's ends and a little beyond, so that the fit sees windows
    fail more often as the rate rises even when one near the knee passes or fails by
    chance."""
    middle = math.sqrt(low * high)
    return tuple(sorted({max(1, round(middle * factor)) for factor in CONFIRM_SPREAD}))


def estimate(variant: str, probes: list[Probe], level: float = 0.95) -> Estimate:
    """The variant's capacity from all its probes (see the module docstring)."""
    mine = [p for p in probes if p.variant == variant]
    low, high = bracket(mine)
    if low is None or high is None:
        rate = high if low is None else low
        status: Status = "below" if low is None else "at least"
        beyond = "beyond the target" if low is None else "within the target"
        return Estimate(
            variant=variant, status=status, capacity_rps=None, low_rps=None, high_rps=None,
            within_rps=low, beyond_rps=high,
            note=f"{beyond} at every rate tried" + (f" (up to {rate} req/s)" if low else ""),
        )  # fmt: skip
    found = Estimate(
        variant=variant, status="unresolved", capacity_rps=None, low_rps=None, high_rps=None,
        within_rps=low, beyond_rps=high, points=len(mine),
    )  # fmt: skip
    if len(mine) < 3:
        return found.model_copy(update={"note": "too few probes to fit"})
    rates = [p.rate for p in mine]
    fit = logistic.halfway(rates, [not p.within for p in mine], level)
    if fit.rate is None:
        note = (
            "its probes were not beyond the target more often at higher rates"
            if fit.slope == 0
            else "the fit places it past the rates measured"
        )
        return found.model_copy(update={"note": note})
    if not min(rates) <= fit.rate <= max(rates):
        # Past every rate measured: the fit's shape, not a probe, would place it.
        probed = f"{min(rates):,}-{max(rates):,}"
        note = f"the fit puts it at {fit.rate:,.0f} req/s, outside the probed {probed}"
        return found.model_copy(update={"note": note})
    return found.model_copy(
        update={
            "status": "estimated",
            "capacity_rps": round(fit.rate, 1),
            "low_rps": round(fit.low, 1) if fit.low is not None else None,
            "high_rps": round(fit.high, 1) if fit.high is not None else None,
            "note": _unbounded(fit.low is None, fit.high is None),
        }
    )


def estimates(doc: CapacityResults) -> dict[str, Estimate]:
    """Every variant's estimate from the document's probes, at its own level."""
    return {v: estimate(v, doc.probes, doc.settings.level) for v in doc.variants}


def _unbounded(below: bool, above: bool) -> str:
    """Why an interval has an open end, in words."""
    if below and above:
        return "its probes do not bound it on either side"
    if below:
        return "too few probes within the target below it"
    if above:
        return "too few probes beyond the target above it"
    return ""


def write(directory: Path, results: CapacityResults) -> Path:
    return files.write_atomically(directory / FILENAME, results.model_dump_json(indent=1))


def load(directory: Path) -> CapacityResults:
    path = directory / FILENAME if directory.is_dir() else directory
    try:
        return CapacityResults.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise SuiteError(f"no {FILENAME} in {directory}") from None
    except (OSError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise SuiteError(f"{path} is not a capacity document of this version: {first}") from None


def probes_of(data: RunResults, phase: Phase, slo: Slo, max_errors: float) -> list[Probe]:
    """Every measured window of a probe run, as probes."""
    return [
        _probe(outcome.variant, step, block, phase, data.run.id, slo, max_errors)
        for scenario in data.scenarios.values()
        for outcome in scenario.runs
        for step in outcome.steps
        for block in step.blocks
    ]


def _probe(
    variant: str, step: Step, block: BlockValues, phase: Phase, run: str, slo: Slo, limit: float
) -> Probe:
    arrivals = block.requests + block.dropped
    errors = block.requests - block.successes
    failures = failure_rate(errors, block.dropped, arrivals)
    latency = getattr(block, slo.field)
    return Probe(
        variant=variant, rate=step.users, phase=phase, run=run, block=block.block,
        arrivals=arrivals, errors=errors, dropped=block.dropped,
        throughput_rps=block.throughput_rps,
        latency_ms={name: getattr(block, name) for name in PERCENTILES.values()},
        lag_p99_ms=step.open.lag_p99_ms if step.open else None, settle_s=block.settle_s,
        generator_saturated=block.generator_saturated,
        score=round(score(latency, failures, slo, limit), 6),
        within=within(latency, failures, slo, limit),
    )  # fmt: skip
