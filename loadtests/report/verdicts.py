"""What the numbers say, in words: each variant against the baseline, headline sentences,
and trust warnings. All of it is derived from results.json; nothing here is written by
hand about a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadtests.report import crosscheck, fmt
from loadtests.results import noise, stats
from loadtests.results.analysis import METRICS, Cell, Grid, common_users
from loadtests.results.models import (
    FOREIGN_PERCENT,
    SATURATED_SECONDS,
    AuditResult,
    NoiseBand,
    RunResults,
)

NOISY_CV = 0.25  # per-second throughput varied more than this inside a window
STEAL_WARN = 5.0  # % CPU stolen by the hypervisor
FAILING_RATE = 0.01  # from 1% failed requests a step cannot win on latency or throughput
RED_RATE = 0.05  # 5% failed requests at any step: the numbers are suspect


def band_of(results: RunResults) -> NoiseBand:
    """The band the run recorded; older results did not, so today's."""
    return results.run.noise_band or noise.current()


@dataclass(frozen=True)
class Versus:
    """One variant against the baseline, on one metric at one step: the ratio of their
    medians, and of their values paired round by round with its 95% interval."""

    variant: str
    metric: str
    value: float
    baseline: float
    ratio: float | None  # value / baseline (medians); None when not comparable
    better: bool | None  # None: no significant difference, or not comparable
    note: str = ""  # why there is no verdict
    low: float | None = None  # the paired interval: ratio, or difference for error rates
    high: float | None = None

    @property
    def comparable(self) -> bool:
        return self.ratio is not None

    def interval_text(self) -> str:
        if self.low is None or self.high is None:
            return ""
        if not METRICS[self.metric].multiplicative:
            return f" ({fmt.points(self.low)} to {fmt.points(self.high)})"
        low, high = self.low, self.high
        if self.ratio is not None and self.ratio < 1:
            low, high = 1 / high, 1 / low
        return f" ({fmt.ratio_interval(low, high)})"

    def words(self) -> str:
        """``"2.1x higher (1.8-2.4)"``, ``"no significant difference"``, or why it
        cannot be compared."""
        if self.ratio is None:
            return self.note or "not comparable"
        if self.better is None:
            return (self.note or "no significant difference") + self.interval_text()
        if self.ratio == float("inf"):
            return "some, the baseline none" + self.interval_text()
        if self.ratio == 0:
            return "none, the baseline some" + self.interval_text()
        factor = self.ratio if self.ratio >= 1 else 1 / self.ratio
        direction = "higher" if self.ratio > 1 else "lower"
        return f"{fmt.ratio(factor)} {direction}{self.interval_text()}"

    @property
    def css(self) -> str:
        return "tie" if self.better is None else ("better" if self.better else "worse")


def _paired(cell: Cell, base: Cell, metric: str) -> tuple[list[float], list[float]]:
    common = sorted(set(cell.rounds) & set(base.rounds))
    ours, theirs = cell.by_round(metric), base.by_round(metric)
    return [ours[r] for r in common], [theirs[r] for r in common]


def versus(cell: Cell, base: Cell, metric: str, band: NoiseBand | None = None) -> Versus:
    """A difference only when the paired 95% interval lies wholly outside the noise band;
    with one round there is no interval and so no verdict."""
    band = band or noise.current()
    spec = METRICS[metric]
    value, baseline = cell.value(metric), base.value(metric)
    values, baselines = _paired(cell, base, metric)
    if not spec.multiplicative:
        return _error_versus(cell, metric, value, baseline, values, baselines, band)
    failing = [c for c in (cell, base) if c.value("error_rate") >= FAILING_RATE]
    if failing:
        return Versus(
            cell.variant, metric, value, baseline, None, None,
            f"not compared: {fmt.percent(failing[0].value('error_rate'))} errors",
        )  # fmt: skip
    if value <= 0 or baseline <= 0:
        return Versus(cell.variant, metric, value, baseline, None, None, "nothing completed")
    ratio = value / baseline
    interval = stats.log_ratio_interval(values, baselines)
    if interval is None:
        return Versus(cell.variant, metric, value, baseline, ratio, None, _one_round(ratio))
    _, low, high = interval
    if 1 / band.ratio <= high and low <= band.ratio:
        return Versus(cell.variant, metric, value, baseline, ratio, None, "", low, high)
    better = (high < 1) if spec.lower_is_better else (low > 1)
    return Versus(cell.variant, metric, value, baseline, ratio, better, "", low, high)


def _one_round(ratio: float) -> str:
    factor = ratio if ratio >= 1 else 1 / ratio
    return f"{fmt.ratio(factor)} {'higher' if ratio >= 1 else 'lower'}, one round: not tested"


def _error_versus(
    cell: Cell, metric: str, value: float, baseline: float,
    values: list[float], baselines: list[float], band: NoiseBand,
) -> Versus:  # fmt: skip
    ratio = value / baseline if baseline else (float("inf") if value else 1.0)
    if value == baseline == 0 and not any(values) and not any(baselines):
        return Versus(cell.variant, metric, value, baseline, 1.0, None, "none on either")
    found = stats.t_interval([v - b for v, b in zip(values, baselines, strict=True)])
    if found is None:
        return Versus(cell.variant, metric, value, baseline, ratio, None, "one round: not tested")
    _, low, high = found
    if -band.error_points <= high and low <= band.error_points:
        return Versus(cell.variant, metric, value, baseline, ratio, None, "", low, high)
    return Versus(cell.variant, metric, value, baseline, ratio, high < 0, "", low, high)


def against_baseline(
    cells: Grid, metrics: tuple[str, ...], band: NoiseBand | None = None
) -> list[dict[str, Any]]:
    """Per common step and non-baseline variant: each metric against the baseline."""
    if len(cells) < 2:
        return []
    baseline, *others = cells
    rows = []
    for users in common_users(cells):
        base = cells[baseline][users]
        for variant in others:
            cell = cells[variant][users]
            rows.append(
                {
                    "users": users,
                    "variant": variant,
                    "versus": {m: versus(cell, base, m, band) for m in metrics},
                }
            )
    return rows


def _metric_text(metric: str, value: float) -> str:
    unit = METRICS[metric].unit
    if unit == "ms":
        return fmt.ms(value)
    if unit == "req/s":
        return f"{fmt.number(value)} req/s"
    return fmt.percent(value)


def _sentence(
    cells: Grid, labels: dict[str, str], users: int, metric: str, band: NoiseBand | None
) -> str:
    baseline, *others = cells
    base = cells[baseline][users]
    spec = METRICS[metric]
    parts = []
    for variant in others:
        compared = versus(cells[variant][users], base, metric, band)
        parts.append(
            f"{labels[variant]} {compared.words()}: {_metric_text(metric, compared.value)}"
        )
    name = "throughput" if metric == "throughput" else spec.label
    return (
        f"At {users} users, {name} against {labels[baseline]}'s "
        f"{_metric_text(metric, base.value(metric))}: " + "; ".join(parts) + "."
    )


def headlines(cells: Grid, labels: dict[str, str], band: NoiseBand | None = None) -> list[str]:
    """A few sentences a newcomer can read in ten seconds, each against the baseline."""
    common = common_users(cells)
    if len(cells) < 2 or not common:
        return _single_headlines(cells, labels)
    top, bottom = common[-1], common[0]
    baseline, *others = cells
    sentences = [_sentence(cells, labels, top, "p99", band)]
    flipped = [
        v
        for v in others
        if (p99 := versus(cells[v][top], cells[baseline][top], "p99", band)).better is not None
        and (p50 := versus(cells[v][top], cells[baseline][top], "p50", band)).better is not None
        and p99.better != p50.better
    ]
    if flipped:
        sentences.append(
            _sentence(
                {baseline: cells[baseline], **{v: cells[v] for v in flipped}},
                labels,
                top,
                "p50",
                band,
            )
            + " The median and the tail disagree: the slowest requests are far slower than "
            "the typical ones."
        )
    sentences.append(_sentence(cells, labels, bottom, "throughput", band))
    peaks = []
    for variant, steps in cells.items():
        best = max(steps.values(), key=lambda c: c.value("throughput"))
        peaks.append(
            f"{labels[variant]} {fmt.number(best.value('throughput'))} req/s at {best.users} users"
        )
    sentences.append("Peak throughput: " + "; ".join(peaks) + ".")
    failing = []
    for variant, steps in cells.items():
        worst = max(steps.values(), key=lambda c: c.value("error_rate"))
        if worst.errors:
            failing.append(
                f"{labels[variant]} {fmt.percent(worst.value('error_rate'))} at {worst.users} users"
            )
    if failing:
        sentences.append("Errors: highest error rate " + "; ".join(failing) + ".")
    return sentences


def _single_headlines(cells: Grid, labels: dict[str, str]) -> list[str]:
    sentences = []
    for variant, steps in cells.items():
        if not steps:
            sentences.append(f"{labels[variant]}: no completed step.")
            continue
        best = max(steps.values(), key=lambda c: c.value("throughput"))
        top = steps[max(steps)]
        sentences.append(
            f"{labels[variant]}: peak {fmt.number(best.value('throughput'))} req/s at "
            f"{best.users} users; p99 {fmt.ms(top.value('p99'))} at {top.users} users."
        )
    if len(cells) >= 2:
        sentences.append("The variants have no step in common, so they are not compared.")
    return sentences


@dataclass(frozen=True)
class Caveat:
    severity: str  # "high": the numbers are suspect; "medium": read with care
    text: str


def warnings(results: RunResults) -> list[Caveat]:
    found: list[Caveat] = []
    run = results.run
    if run.status != "complete":
        reason = run.error or "not every variant finished every step"
        found.append(Caveat("high", f"The run is {run.status}: {reason}."))
    found += _budget_warnings(results)
    found += _bound_warnings(results)
    found += _fault_warnings(results)
    found += [Caveat("medium", text) for text in crosscheck.disagreements(results)]
    for scenario, data in results.scenarios.items():
        for outcome in data.runs:
            label = results.label(outcome.variant)
            if results.run.rounds > 1:
                label += f" (round {outcome.round})"
            if outcome.status in ("failed", "partial"):
                found.append(
                    Caveat("high", f"{scenario}, {label}: {outcome.status} ({outcome.error}).")
                )
            for step in outcome.steps:
                found += _step_warnings(f"{scenario}, {label}, {step.users} users", step)
            found += _audit_warnings(f"{scenario}, {label}", outcome.audit)
    if not results.cpu_layout.pinned:
        found.append(
            Caveat("medium", f"Processes were not pinned to CPUs: {results.cpu_layout.note}.")
        )
    if results.database.kind == "external":
        found.append(
            Caveat(
                "medium",
                "The database is an external server: its CPU was not measured and it was "
                "not pinned.",
            )
        )
    return found


def _audit_warnings(where: str, found: AuditResult | None) -> list[Caveat]:
    if found is None:
        return []
    caveats = []
    if not found.ok:
        example = next(
            (f.examples[0] for f in (found.lost, found.duplicated, found.unexpected) if f.examples),
            "",
        )
        caveats.append(
            Caveat(
                "high",
                f"{where}: the audit found {found.lost.count} lost, {found.duplicated.count} "
                f"duplicated and {found.unexpected.count} unexpected writes"
                + (f" (e.g. {example})." if example else "."),
            )
        )
    if not found.complete:
        note = f"{where}: the audit's ledger is incomplete: {found.note}."
        caveats.append(Caveat("medium", note))
    return caveats


def _fault_warnings(results: RunResults) -> list[Caveat]:
    """The step with an injected fault is compared like any other: say so."""
    fault = results.run.fault
    if fault is None:
        return []
    found = []
    for scenario, data in results.scenarios.items():
        if fault.step <= len(data.plan.steps):
            users = data.plan.steps[fault.step - 1]
            found.append(
                Caveat(
                    "medium",
                    f"{scenario}, {users} users: the step includes the injected fault "
                    f"({fault.kind}, {fault.seconds:g} s); its figures and verdicts describe "
                    "behaviour under the fault.",
                )
            )
    return found


def _bound_warnings(results: RunResults) -> list[Caveat]:
    """A response slower than the services promise: the request deadline plus the pool
    timeout (waiting for a connection, then holding it), plus a second of slack."""
    found = []
    for scenario, data in results.scenarios.items():
        for outcome in data.runs:
            settings = results.variants[outcome.variant].settings
            deadline, pool = settings.get("REQUEST_DEADLINE_S"), settings.get("DB_POOL_TIMEOUT")
            if not deadline or pool is None:
                continue  # no deadline (0), or older results
            bound = float(deadline) + float(pool)
            for step in outcome.steps:
                slowest = max(
                    step.latency_ms.max,
                    step.failures.latency_ms.max if step.failures.latency_ms else 0.0,
                )
                if slowest / 1000 > bound + 1:
                    found.append(
                        Caveat(
                            "high",
                            f"{scenario}, {results.label(outcome.variant)}, {step.users} users: "
                            f"a response took {slowest / 1000:.1f} s, longer than the request "
                            f"deadline plus the pool timeout ({bound:g} s).",
                        )
                    )
    return found


def _budget_warnings(results: RunResults) -> list[Caveat]:
    baseline = results.variants.get(results.fairness.baseline)
    if baseline is None or baseline.connection_budget is None:
        return []
    found = []
    for info in results.variants.values():
        if info.connection_budget and info.connection_budget > baseline.connection_budget:
            found.append(
                Caveat(
                    "high",
                    f"{info.label} could hold {info.connection_budget} database connections, "
                    f"more than the baseline {baseline.label}'s {baseline.connection_budget}.",
                )
            )
    return found


def _step_warnings(where: str, step: Any) -> list[Caveat]:
    found = []
    cpu = step.cpu
    if cpu and cpu.generator_saturated:
        seconds = (
            f" for {cpu.saturated_seconds} of {cpu.seconds_judged} seconds"
            if cpu.seconds_judged
            else ""
        )
        found.append(
            Caveat(
                "high",
                f"{where}: the load generator was CPU-saturated{seconds} "
                "(latencies include waiting for it).",
            )
        )
    elif cpu and cpu.seconds_judged is not None and cpu.seconds_judged < SATURATED_SECONDS:
        found.append(
            Caveat(
                "high",
                f"{where}: only {cpu.seconds_judged} one-second CPU samples: the generator's "
                "saturation could not be judged.",
            )
        )
    for core, share in sorted((cpu.foreign_percent or {}).items() if cpu else ()):
        if share > FOREIGN_PERCENT:
            found.append(
                Caveat(
                    "high",
                    f"{where}: {share:.0f}% of CPU {core} went to processes outside the suite "
                    "(foreign load on a pinned core).",
                )
            )
    if cpu and cpu.steal_percent >= STEAL_WARN:
        found.append(
            Caveat(
                "medium",
                f"{where}: {cpu.steal_percent:.0f}% of CPU time was stolen by the hypervisor.",
            )
        )
    if step.failures.rate >= FAILING_RATE:
        red = step.failures.rate >= RED_RATE
        found.append(
            Caveat(
                "high" if red else "medium",
                f"{where}: {fmt.percent(step.failures.rate)} of requests failed; this step "
                "cannot win on latency or throughput"
                + (" (5% or more: the run is marked suspect)." if red else "."),
            )
        )
    cv = step.stability.throughput_cv
    if cv is not None and cv > NOISY_CV:
        found.append(
            Caveat(
                "medium", f"{where}: throughput varied {cv:.0%} second to second (a noisy step)."
            )
        )
    return found


def trust(found: list[Caveat]) -> dict[str, str]:
    if any(w.severity == "high" for w in found):
        return {"level": "suspect", "text": "Numbers are suspect: see the warnings."}
    if found:
        return {"level": "care", "text": "Trustworthy, with caveats: see the warnings."}
    return {"level": "good", "text": "Trustworthy: no warning was raised."}
