"""What the numbers say, in words: each variant against the baseline, headline sentences,
the power of the run, and trust warnings. All of it is derived from results.json (the
statistics in loadtests/results/comparisons.py); nothing here is written by hand about a
run."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import Any

from loadtests.plan import SETTLE_LIMIT_S
from loadtests.report import crosscheck, fmt
from loadtests.results import analysis
from loadtests.results.analysis import METRICS, Grid, common_users
from loadtests.results.comparisons import (
    ALPHA,
    FAILING_RATE,
    POWER,
    Comparison,
    family_size,
    power,
    scenario_comparisons,
)
from loadtests.results.models import (
    FOREIGN_PERCENT,
    LAG_WARN_MS,
    SATURATED_SECONDS,
    AuditResult,
    GeneratorHost,
    RunResults,
)
from loadtests.variants import EXTERNAL_NOTE

Disputed = Set[tuple[str, int, str]]  # (variant, users, metric)
NOISY_CV = 0.25  # a choice: per-second throughput varied more than this inside a window
STEAL_WARN = 5.0  # a choice: % CPU stolen by the hypervisor
RED_RATE = 0.05  # a choice: 5% failed requests at any step make the numbers suspect


def words(c: Comparison) -> str:
    """``"2.1x higher (1.8-2.4)"`` for a verdict, ``"no significant difference
    (0.9-1.2)"``, the estimate with its interval for an exploratory cell, or why it
    cannot be compared."""
    if not c.comparable:
        return c.note
    interval = _interval_text(c)
    if c.paired is None:
        return f"{_change(c)}, one block: not tested"
    if c.primary and not c.significant:
        return "no significant difference" + interval
    return _change(c) + interval


def css(c: Comparison) -> str:
    """better / worse (a verdict), tie (a primary comparison without one), or
    exploratory (never coloured)."""
    if not c.primary:
        return "exploratory"
    return "tie" if c.better is None else ("better" if c.better else "worse")


def _change(c: Comparison) -> str:
    if not c.multiplicative:
        change = c.value - c.baseline
        return "the same" if change == 0 else f"{fmt.points(change)}"
    ratio = c.value / c.baseline
    if ratio == 1:
        return "the same"
    factor = ratio if ratio >= 1 else 1 / ratio
    return f"{fmt.ratio(factor)} {'higher' if ratio > 1 else 'lower'}"


def _interval_text(c: Comparison) -> str:
    interval = c.interval
    if interval is None:
        return ""
    low, high = interval
    if not c.multiplicative:
        return f" ({fmt.points(low)} to {fmt.points(high)})"
    ratio = c.value / c.baseline
    outside = not low <= ratio <= high
    if ratio < 1:
        low, high = 1 / high, 1 / low
    # The pooled figure follows its worst blocks; the interval, every block. When they
    # part, say which is which rather than print a factor outside its own interval.
    return f" ({'blocks ' if outside else ''}{fmt.ratio_interval(low, high)})"


def table(cells: Grid, metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per common step and non-baseline variant: each metric against the baseline."""
    found = scenario_comparisons(cells)
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for c in found:
        if c.metric in metrics:
            row = rows.setdefault(
                (c.users, c.variant), {"users": c.users, "variant": c.variant, "versus": {}}
            )
            row["versus"][c.metric] = c
    return list(rows.values())


def _metric_text(metric: str, value: float) -> str:
    unit = METRICS[metric].unit
    if unit == "ms":
        return fmt.ms(value)
    if unit == "req/s":
        return f"{fmt.number(value)} req/s"
    return fmt.percent(value)


def _sentence(
    found: list[Comparison],
    labels: dict[str, str],
    users: int,
    metric: str,
    disputed: Disputed = frozenset(),
) -> str:
    mine = [c for c in found if c.users == users and c.metric == metric]
    said = {
        c.variant: _disputed(c) if (c.variant, users, metric) in disputed else words(c)
        for c in mine
    }
    parts = [
        f"{labels[c.variant]} {said[c.variant]}: {_metric_text(metric, c.value)}" for c in mine
    ]
    name = "throughput" if metric == "throughput" else METRICS[metric].label
    baseline = mine[0].baseline
    return f"At {users} users, {name} against the baseline's {_metric_text(metric, baseline)}: " + (
        "; ".join(parts) + "."
    )


def _disputed(c: Comparison) -> str:
    """A verdict the second load generator does not share: the estimate, never a winner."""
    return f"{_change(c)}{_interval_text(c)}, ⚑ not a verdict: wrk disagrees"


def headlines(cells: Grid, labels: dict[str, str], disputed: Disputed = frozenset()) -> list[str]:
    """A few sentences a newcomer can read in ten seconds, each against the baseline, on
    the primary comparisons at the highest step; ``disputed``: (variant, users, metric)
    the second load generator does not agree on, stated without a verdict."""
    common = common_users(cells)
    if len(cells) < 2 or not common:
        return _single_headlines(cells, labels)
    found = scenario_comparisons(cells)
    top = common[-1]
    baseline = next(iter(cells))
    sentences = [
        _sentence(found, labels, top, "p99", disputed).replace(
            "the baseline's", f"{labels[baseline]}'s"
        ),
        _sentence(found, labels, top, "throughput", disputed).replace(
            "the baseline's", f"{labels[baseline]}'s"
        ),
    ]
    flipped = [
        c.variant
        for c in found
        if c.users == top and c.metric == "p99" and c.significant
        and (p50 := _find(found, c.variant, top, "p50")) is not None
        and p50.excludes_neutral
        and (p50.paired is not None and c.paired is not None)
        and (p50.paired.center < 0) != (c.paired.center < 0)
    ]  # fmt: skip
    if flipped:
        named = ", ".join(labels[v] for v in flipped)
        sentences.append(
            f"For {named} the median and the tail point different ways at {top} users: the "
            "slowest requests are far slower than the typical ones (p50 is exploratory)."
        )
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


def _find(found: list[Comparison], variant: str, users: int, metric: str) -> Comparison | None:
    return next(
        (c for c in found if c.variant == variant and c.users == users and c.metric == metric),
        None,
    )


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


def power_statement(cells: Grid) -> dict[str, Any] | None:
    """How big a difference this run could see, per metric, and in words; None without
    intervals (fewer than two blocks)."""
    found = scenario_comparisons(cells)
    detectable = power(found)
    if not detectable:
        return None
    blocks = max((c.pairs for c in found), default=0)
    parts = []
    for item in detectable:
        size = (
            f"{(item.detectable - 1) * 100:.0f}%"
            if METRICS[item.metric].multiplicative
            else f"{item.detectable * 100:.1f} percentage points"
        )
        parts.append(f"{METRICS[item.metric].label} {size}")
    family = family_size(found)
    exploratory_hits = sum(1 for c in found if not c.primary and c.excludes_neutral)
    text = (
        f"With {blocks} blocks and this run's block-to-block spread, a difference of "
        + ", ".join(parts)
        + f" would be detected {POWER:.0%} of the time (the median over the cells of each "
        f"metric, two-sided {ALPHA:.0%} per comparison; throughput and p99 over the "
        f"{family} primary comparisons, which Holm's correction then holds to {ALPHA:.0%} "
        "together, so the first of them needs a little more)."
    )
    return {
        "text": text,
        "items": detectable,
        "family": family,
        "exploratory_hits": exploratory_hits,
        "exploratory": sum(1 for c in found if not c.primary and c.comparable),
        "dropped": sum(c.dropped for c in found),
    }


@dataclass(frozen=True)
class Caveat:
    severity: str  # "high": the numbers are suspect; "medium": read with care
    text: str


def _generator_warnings(scenario: str, hosts: list[GeneratorHost]) -> list[Caveat]:
    """A Locust worker that saturated its core, or was lost, as a local one would be."""
    found = []
    for host in hosts:
        if host.saturated_seconds >= SATURATED_SECONDS:
            found.append(
                Caveat(
                    "high",
                    f"{scenario}: Locust worker {host.name} ({host.hostname}) was CPU-saturated "
                    f"for {host.saturated_seconds} s (at most {fmt.number(host.cpu_max_percent)}% "
                    "of a core): the load it generated, and its latencies, are suspect.",
                )
            )
        if host.lost_at is not None:
            found.append(
                Caveat("high", f"{scenario}: Locust worker {host.name} was lost during the run.")
            )
    return found


def warnings(results: RunResults) -> list[Caveat]:
    found: list[Caveat] = []
    run = results.run
    if run.status != "complete":
        reason = run.error or "not every variant finished every step"
        found.append(Caveat("high", f"The run is {run.status}: {reason}."))
    found += _budget_warnings(results)
    found += _dropped_warnings(results)
    found += _bound_warnings(results)
    found += _fault_warnings(results)
    found += [Caveat(severity, text) for severity, text in crosscheck.disagreements(results)]
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
                where = f"{scenario}, {label}, {step.users} {data.plan.unit}"
                found += _step_warnings(where, step) + _open_warnings(where, step)
            found += _audit_warnings(f"{scenario}, {label}", outcome.audit)
        found += _audit_warnings(scenario, data.audit)
        found += _generator_warnings(scenario, data.generators)
    for info in results.variants.values():
        if info.external_url is not None:
            found.append(
                Caveat(
                    "medium",
                    f"{info.label} is an external target at {info.external_url}, "
                    f"{EXTERNAL_NOTE}; the suite reset its own database before each scenario, "
                    "which is the target's only if the target uses it.",
                )
            )
    unreset = [name for name, scenario in results.scenarios.items() if scenario.reset_refused]
    if unreset:
        why = results.scenarios[unreset[0]].reset_refused
        found.append(
            Caveat(
                "medium",
                f"The database was not reset ({why}): {', '.join(unreset)} ran on the data as "
                "earlier scenarios and runs left it. Within each, the variants shared it alike "
                "(they take turns in blocks); its comparisons with another run (compare, check "
                "--baseline) are not like for like, and each such scenario is marked.",
            )
        )
    if not results.cpu_layout.pinned:
        found.append(
            Caveat("medium", f"Processes were not pinned to CPUs: {results.cpu_layout.note}.")
        )
    connections = results.database.connections
    if connections is not None and connections.raised_from is not None:
        found.append(
            Caveat(
                "medium",
                f"Every variant's pool was open at once ({connections.needed} connections): the "
                f"embedded PostgreSQL's max_connections was raised from "
                f"{connections.raised_from} to {connections.max_connections} for this run.",
            )
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


def _dropped_warnings(results: RunResults) -> list[Caveat]:
    """Blocks left out of a comparison (a window without a value on one side): said, never
    silent."""
    found = []
    for scenario in results.scenarios:
        cells = analysis.grid(results, scenario)
        for c in scenario_comparisons(cells):
            if c.dropped and c.comparable:
                found.append(
                    Caveat(
                        "medium",
                        f"{scenario}, {results.label(c.variant)} at {c.users} users: "
                        f"{c.dropped} of {c.dropped + c.pairs} blocks left out of the "
                        f"{METRICS[c.metric].label} comparison (no value in one of the two "
                        "windows, e.g. no successful response).",
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
    """Where the injected fault was: in older results (rounds) inside a measured step, so
    that step's figures describe the fault; in blocks, in windows of its own."""
    fault = results.run.fault
    if fault is None:
        return []
    found = []
    for scenario, data in results.scenarios.items():
        if fault.step > len(data.plan.steps):
            continue
        users = data.plan.steps[fault.step - 1]
        if data.design == "blocks":
            text = (
                f"{scenario}, {users} users: the injected fault ({fault.kind}, "
                f"{fault.seconds:g} s) ran in a block of its own before the step's blocks; "
                "if a variant had not recovered by its next window, that window carries it."
            )
        else:
            text = (
                f"{scenario}, {users} users: the step includes the injected fault "
                f"({fault.kind}, {fault.seconds:g} s); its figures and verdicts describe "
                "behaviour under the fault."
            )
        found.append(Caveat("medium", text))
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


def _open_warnings(where: str, step: Any) -> list[Caveat]:
    """The open model: arrivals dropped at the cap, and a generator behind its schedule."""
    found: list[Caveat] = []
    figures = step.open
    if figures is None:
        return found
    if figures.dropped_rate >= FAILING_RATE:
        found.append(
            Caveat(
                "high",
                f"{where}: {fmt.percent(figures.dropped_rate)} of the arrivals were dropped "
                f"({figures.dropped:,} of {figures.arrivals:,}: every user was busy, the "
                "--max-in-flight cap); the step cannot win and its latency leaves them out.",
            )
        )
    if figures.lag_p99_ms is not None and figures.lag_p99_ms > LAG_WARN_MS:
        found.append(
            Caveat(
                "medium",
                f"{where}: the load generator sent late (lag p99 {fmt.ms(figures.lag_p99_ms)}, "
                f"above the {LAG_WARN_MS:g} ms chosen): it did not keep the schedule, so the "
                "figures understate the latency.",
            )
        )
    if figures.unanswered:
        found.append(
            Caveat(
                "high",
                f"{where}: {figures.unanswered:,} requests were still unanswered "
                f"{SETTLE_LIMIT_S:g} s after its turns ended: the next variant's turn began "
                "with them queued, so its figures may be worse than its own.",
            )
        )
    return found


def _step_warnings(where: str, step: Any) -> list[Caveat]:
    found = []
    if step.lost_workers:
        found.append(
            Caveat(
                "high",
                f"{where}: partial, Locust worker {', '.join(step.lost_workers)} was lost "
                "during this step: "
                "its share of the load and its last responses are missing from these figures.",
            )
        )
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
