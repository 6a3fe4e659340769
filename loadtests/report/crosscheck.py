"""The second load generator in the report (measured by loadtests/run/extras/crosscheck.py).

In a run of blocks, wrk and Locust drove every variant at the headline's scenario and
step in the same blocks. Two questions, each answered block by block:

- **Do the generators measure the same thing?** Per variant and metric, wrk's figure
  over Locust's in the same block; their geometric mean with a 95% interval (Student's
  t, as for the verdicts). Throughput within ``TOLERANCE`` is the agreement the suite
  asks for (a choice); an interval that excludes 1 is a measured difference either way.
- **Do they reach the same verdicts?** Each variant against the baseline on the
  headline's primary metrics (throughput, p99), from each generator's turns in the same
  blocks (so with the same power), Holm-adjusted within each generator. Per block, the
  log of wrk's variant/baseline ratio minus Locust's is the generator's effect on the
  comparison: a t test over the blocks (Holm over the pairs). Opposite verdicts, or a
  significant effect, is a disagreement: the at-a-glance section says so first and the
  verdict is marked. One verdict beside "no significant difference" with no significant
  effect is the same answer with less evidence, not a disagreement.

Older results ran the check after the rounds (GET /users/{id} at 50 users, one window
each): they are shown as they were, against a fixed tolerance.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from typing import Any

from loadtests.plan import NETWORK_TIMEOUT_S
from loadtests.report import fmt
from loadtests.results import analysis, stats
from loadtests.results.comparisons import ALPHA, Comparison, compare
from loadtests.results.models import (
    BlockValues,
    CrossCheck,
    CrossCheckRun,
    CrossWindow,
    Failures,
    Latency,
    RunResults,
    Stability,
    Step,
    Window,
)

TOLERANCE = 0.15  # a choice: wrk's throughput may differ from Locust's by this fraction
VERDICT_METRICS = ("throughput", "p99")  # the headline's primary metrics at its step
METRICS = ("throughput", "p50", "p99")


@dataclass(frozen=True)
class Agreement:
    """wrk's figure over Locust's for one variant and metric, paired by block."""

    variant: str
    metric: str
    locust: float  # geometric mean over the blocks
    wrk: float
    paired: stats.Paired | None  # of log(wrk / locust)

    @property
    def ratio(self) -> float:
        return self.wrk / self.locust

    @property
    def outside_tolerance(self) -> bool:
        return abs(self.ratio - 1) > TOLERANCE

    def words(self) -> str:
        interval = ""
        if self.paired is not None:
            low, high = self.paired.ratio_interval
            interval = f" ({low:.2f}-{high:.2f})"
        return f"wrk {self.ratio - 1:+.0%}{interval}"


@dataclass(frozen=True)
class VerdictPair:
    """One primary comparison at the headline's step, under each generator, over the
    blocks both ran; ``gap`` is how much the generator changes the variant's ratio to
    the baseline: per block, log(wrk's ratio) - log(Locust's ratio)."""

    variant: str
    metric: str
    locust: Comparison
    wrk: Comparison
    gap: stats.Paired | None
    gap_p_adjusted: float = 1.0  # Holm over the scenario's pairs

    @property
    def opposite(self) -> bool:
        """Each generator reaches a verdict, and they point opposite ways."""
        return None not in (self.locust.better, self.wrk.better) and (
            self.locust.better != self.wrk.better
        )

    @property
    def gap_significant(self) -> bool:
        return self.gap is not None and self.gap_p_adjusted < ALPHA

    @property
    def disagree(self) -> bool:
        """Opposite verdicts, or ratios that differ by more than the blocks' spread allows.
        One verdict beside "no significant difference" with ratios that do not differ is
        agreement with less evidence, not a disagreement."""
        return self.opposite or self.gap_significant

    def gap_words(self) -> str:
        if self.gap is None:
            return "one block: not tested"
        low, high = self.gap.ratio_interval
        return f"wrk's ratio {self.gap.ratio:.2f}x Locust's ({low:.2f}-{high:.2f})"


@dataclass(frozen=True)
class CrossView:
    cross: CrossCheck
    agreements: list[Agreement]
    verdicts: list[VerdictPair]
    windows: dict[tuple[str, str], list[CrossWindow]]  # (variant, generator) -> by block

    @property
    def disputed(self) -> set[tuple[str, int, str]]:
        """(variant, users, metric) of every verdict the other generator does not share."""
        return {(v.variant, self.cross.users, v.metric) for v in self.verdicts if v.disagree}


def analyse(results: RunResults, scenario: str) -> CrossView | None:
    data = results.scenarios.get(scenario)
    cross = data.cross_check if data is not None else None
    if data is None or cross is None or not cross.windows:
        return None
    windows: dict[tuple[str, str], list[CrossWindow]] = {}
    for window in sorted(cross.windows, key=lambda w: w.block):
        windows.setdefault((window.variant, window.generator), []).append(window)
    variants = [v for v in data.variants if (v, "wrk") in windows and (v, "locust") in windows]
    agreements = [
        _agreement(v, m, windows[v, "locust"], windows[v, "wrk"]) for v in variants for m in METRICS
    ]
    return CrossView(cross, agreements, _verdicts(results, cross, variants, windows), windows)


def disputed(results: RunResults, scenario: str) -> set[tuple[str, int, str]]:
    """The scenario's verdicts the second generator does not share (marked in its table)."""
    found = analyse(results, scenario)
    return found.disputed if found else set()


def _value(window: CrossWindow, metric: str) -> float | None:
    return window.throughput_rps if metric == "throughput" else getattr(window, metric)


def _agreement(
    variant: str, metric: str, locust: list[CrossWindow], wrk: list[CrossWindow]
) -> Agreement:
    theirs = {w.block: _value(w, metric) for w in locust}
    ours = {w.block: _value(w, metric) for w in wrk}
    pairs = [(ours[b], theirs[b]) for b in sorted(set(ours) & set(theirs))]
    usable = [(a, b) for a, b in pairs if a and b]
    logs = [math.log(a / b) for a, b in usable]
    return Agreement(
        variant,
        metric,
        stats.geometric_mean([b for _, b in usable]),
        stats.geometric_mean([a for a, _ in usable]),
        stats.paired(logs) if len(logs) >= 2 else None,
    )


def _cell(variant: str, users: int, windows: list[CrossWindow]) -> analysis.Cell:
    """A generator's windows of one variant as a cell whose figure is their geometric
    mean (the cross-check compares window by window; its windows keep no histograms)."""
    blocks = [
        BlockValues(
            block=w.block, position=1, window=Window(start=0, end=w.seconds, seconds=w.seconds),
            requests=w.requests, successes=w.successes, throughput_rps=w.throughput_rps,
            p50=w.p50 or 0.0, p95=w.p95 or 0.0, p99=w.p99 or 0.0, p99_9=w.p99 or 0.0,
            error_rate=w.error_rate,
        )
        for w in windows
    ]  # fmt: skip
    rps = stats.geometric_mean([b.throughput_rps for b in blocks if b.throughput_rps > 0])
    p50 = stats.geometric_mean([b.p50 for b in blocks if b.p50 > 0])
    p99 = stats.geometric_mean([b.p99 for b in blocks if b.p99 > 0])
    latency = Latency(p50=p50, p90=p99, p95=p99, p99=p99, p99_9=p99, max=p99, min=0, mean=p50)
    rate = statistics.fmean(b.error_rate for b in blocks) if blocks else 0.0
    step = Step(
        step=0, users=users, window=Window(start=0, end=1, seconds=1), requests=0,
        successes=0, throughput_rps=rps, latency_ms=latency,
        failures=Failures(count=0, rate=rate, by_kind={}), endpoints={}, cpu=None,
        stability=Stability(seconds=0, throughput_cv=None), blocks=blocks,
    )  # fmt: skip
    return analysis.Cell(variant, users, (step,), (1,))


def _verdicts(
    results: RunResults,
    cross: CrossCheck,
    variants: list[str],
    windows: dict[tuple[str, str], list[CrossWindow]],
) -> list[VerdictPair]:
    """Each generator's verdicts over the same blocks (the same power), Holm-adjusted
    within each generator, and the gap between them, Holm-adjusted over the pairs."""
    if len(variants) < 2:
        return []
    baseline, *others = variants
    found: dict[str, list[Comparison]] = {}
    for generator in ("locust", "wrk"):
        base = _cell(baseline, cross.users, windows[baseline, generator])
        mine = [
            compare(_cell(v, cross.users, windows[v, generator]), base, metric, primary=True)
            for v in others
            for metric in VERDICT_METRICS
        ]
        adjusted = stats.holm_adjusted([c.paired.p if c.paired else 1.0 for c in mine])
        found[generator] = [replace(c, p_adjusted=p) for c, p in zip(mine, adjusted, strict=True)]
    gaps = [_gap(windows, baseline, c.variant, c.metric) for c in found["locust"]]
    adjusted = stats.holm_adjusted([g.p if g else 1.0 for g in gaps])
    return [
        VerdictPair(locust.variant, locust.metric, locust, wrk, gap, p)
        for locust, wrk, gap, p in zip(found["locust"], found["wrk"], gaps, adjusted, strict=True)
    ]


def _gap(
    windows: dict[tuple[str, str], list[CrossWindow]], baseline: str, variant: str, metric: str
) -> stats.Paired | None:
    """Per block: log(wrk's variant/baseline ratio) - log(Locust's), where all four exist."""

    def ratios(generator: str) -> dict[int, float]:
        base = {w.block: v for w in windows[baseline, generator] if (v := _value(w, metric))}
        return {
            w.block: math.log(value / base[w.block])
            for w in windows[variant, generator]
            if (value := _value(w, metric)) and w.block in base
        }

    wrk, locust = ratios("wrk"), ratios("locust")
    diffs = [wrk[b] - locust[b] for b in sorted(set(wrk) & set(locust))]
    return stats.paired(diffs) if len(diffs) >= 2 else None


def _direction(c: Comparison) -> str:
    if c.better is None:
        return "no significant difference"
    return "better" if c.better else "worse"


def disagreements(results: RunResults) -> list[tuple[str, str]]:
    """(severity, text) of every verdict the generators do not share, every variant whose
    throughput they do not agree on, and a cross-check that could not run."""
    legacy = results.cross_check
    if legacy is not None:
        return [("medium", text) for text in _legacy_disagreements(results, legacy)]
    found: list[tuple[str, str]] = []
    for scenario, data in results.scenarios.items():
        cross = data.cross_check
        if cross is not None and cross.note:
            found.append(("medium", f"Cross-check, {scenario}: {cross.note}."))
        view = analyse(results, scenario)
        if view is not None:
            found += _disagreements(results, view)
    return found


def _disagreements(results: RunResults, view: CrossView) -> list[tuple[str, str]]:
    where = f"{view.cross.scenario} at {view.cross.users} users"
    found = [
        (
            "high" if verdict.opposite else "medium",
            f"The two load generators disagree on {results.label(verdict.variant)}'s "
            f"{verdict.metric} against the baseline ({where}, the blocks both ran): Locust "
            f"{_direction(verdict.locust)}, wrk {_direction(verdict.wrk)}; "
            f"{verdict.gap_words()}. No winner is crowned on it.",
        )
        for verdict in view.verdicts
        if verdict.disagree
    ]
    found += [
        (
            "medium",
            f"wrk measured {results.label(agreement.variant)}'s throughput "
            f"{agreement.ratio - 1:+.0%} from Locust's ({where}), beyond the "
            f"{TOLERANCE:.0%} the suite accepts (a choice): {agreement.words()}.",
        )
        for agreement in view.agreements
        if agreement.metric == "throughput" and agreement.outside_tolerance
    ]
    return found


def headline(results: RunResults, scenario: str) -> str | None:
    """The at-a-glance sentence: the generators agree, or where they do not."""
    view = analyse(results, scenario)
    if view is None:
        return None
    where = f"at {view.cross.users} users"
    disagree = [v for v in view.verdicts if v.disagree]
    if disagree:
        parts = [
            f"{results.label(v.variant)}'s {v.metric} (Locust {_direction(v.locust)}, wrk "
            f"{_direction(v.wrk)}; {v.gap_words()})"
            for v in disagree
        ]
        return (
            f"The second load generator disagrees {where}: " + "; ".join(parts) + ". These "
            "are not verdicts (marked ⚑ in the table below): see the cross-check in the "
            "trust panel."
        )
    throughput = [a for a in view.agreements if a.metric == "throughput"]
    spread = ", ".join(f"{results.label(a.variant)} {a.words()}" for a in throughput)
    weaker = [
        f"{results.label(v.variant)}'s {v.metric} (Locust {_direction(v.locust)}, wrk "
        f"{_direction(v.wrk)})"
        for v in view.verdicts
        if v.locust.better != v.wrk.better
    ]
    agreed = (
        "reaches the same verdicts"
        if not weaker
        else "does not change any verdict (in the blocks both ran, one generator alone "
        "could not confirm " + "; ".join(weaker) + ", but the ratios did not differ)"
    )
    return (
        f"A second load generator, wrk, {agreed} {where} in {view.cross.blocks} blocks of "
        f"its own; its throughput beside Locust's: {spread}."
    )


def summary(results: RunResults) -> list[str]:
    """The terminal's lines after the run's table."""
    if results.cross_check is not None:
        return _legacy_summary(results, results.cross_check)
    lines = []
    for scenario, data in results.scenarios.items():
        cross = data.cross_check
        if cross is None:
            continue
        if cross.note:
            lines.append(f"\ncross-check, {scenario}: {cross.note}")
        view = analyse(results, scenario)
        if view is None:
            continue
        lines.append(
            f"\ncross-check, {scenario} at {cross.users} users, wrk beside Locust in "
            f"{cross.blocks} blocks ({cross.connections}):"
        )
        for variant in dict.fromkeys(a.variant for a in view.agreements):
            mine = [a for a in view.agreements if a.variant == variant]
            lines.append(
                f"  {results.label(variant)}: " + "; ".join(f"{a.metric} {a.words()}" for a in mine)
            )
        text = headline(results, scenario)
        if text:
            lines.append(f"  {text}")
    return lines


def view(results: RunResults) -> dict[str, Any]:
    """The trust panel's cross-check: one table per scenario (or the older design's)."""
    if results.cross_check is not None:
        return _legacy_view(results, results.cross_check)
    scenarios = []
    for scenario, data in results.scenarios.items():
        if data.cross_check is None:
            continue
        found = analyse(results, scenario)
        scenarios.append(
            {
                "name": scenario,
                "cross": data.cross_check,
                "rows": _rows(found) if found else [],
                "verdicts": found.verdicts if found else [],
            }
        )
    return {
        "design": "blocks",
        "scenarios": scenarios,
        "tolerance": TOLERANCE,
        "timeout": NETWORK_TIMEOUT_S,
        "direction": _direction,
    }


def _rows(found: CrossView) -> list[dict[str, Any]]:
    rows = []
    for variant in dict.fromkeys(a.variant for a in found.agreements):
        locust = found.windows[variant, "locust"]
        wrk = found.windows[variant, "wrk"]
        rows.append(
            {
                "variant": variant,
                "agreements": {a.metric: a for a in found.agreements if a.variant == variant},
                "cpu": {"locust": _mean(locust, "generator_cpu_percent"),
                        "wrk": _mean(wrk, "generator_cpu_percent")},
                "opens": {"locust": _mean(locust, "opens_per_s"), "wrk": _mean(wrk, "opens_per_s")},
                "queue": {"locust": _mean(locust, "queue_ms"), "wrk": _mean(wrk, "queue_ms")},
            }
        )  # fmt: skip
    return rows


def _mean(windows: list[CrossWindow], field: str) -> float | None:
    values = [v for w in windows if (v := getattr(w, field)) is not None]
    return round(statistics.fmean(values), 2) if values else None


# -- older results: GET /users/{id} at 50 users after the rounds -----------------------------


def change(locust: float | None, wrk: float | None) -> float | None:
    """wrk's figure relative to Locust's: +0.2 is 20% more."""
    if not locust or wrk is None:
        return None
    return wrk / locust - 1


def _metrics(run: CrossCheckRun) -> list[tuple[str, float | None, float | None, str]]:
    locust, wrk = run.locust, run.wrk
    return [
        (
            "throughput",
            locust.throughput_rps if locust else None,
            wrk.throughput_rps if wrk else None,
            "req/s",
        ),
        ("p50", locust.p50_ms if locust else None, wrk.p50_ms if wrk else None, "ms"),
    ]


def _legacy_disagreements(results: RunResults, cross: CrossCheck) -> list[str]:
    found = []
    for run in cross.runs:
        label = results.label(run.variant)
        if run.error:
            found.append(f"Cross-check, {label}: not measured ({run.error}).")
            continue
        gaps = [
            f"{metric} {_unit(locust, unit)} from Locust, {_unit(wrk, unit)} from wrk ({gap:+.0%})"
            for metric, locust, wrk, unit in _metrics(run)
            if (gap := change(locust, wrk)) is not None and abs(gap) > TOLERANCE
        ]
        if gaps:
            found.append(
                f"The two load generators disagree on {label} ({cross.endpoint} at "
                f"{cross.users} users): {'; '.join(gaps)}."
            )
    return found


def _legacy_summary(results: RunResults, cross: CrossCheck) -> list[str]:
    if cross.note:
        return [f"\ncross-check skipped: {cross.note}"]
    lines = [f"\ncross-check, {cross.endpoint} at {cross.users} users:"]
    for run in cross.runs:
        parts = [
            f"{name} {_unit(locust if name == 'Locust' else wrk, unit)}"
            for metric, locust, wrk, unit in _metrics(run)
            for name in ("Locust", "wrk")
        ]
        lines.append(f"  {results.label(run.variant)}: {', '.join(parts)}")
    return lines


def _legacy_view(results: RunResults, cross: CrossCheck) -> dict[str, Any]:
    rows = []
    for run in cross.runs:
        row: dict[str, Any] = {"variant": run.variant, "error": run.error}
        for metric, locust, wrk, _ in _metrics(run):
            gap = change(locust, wrk)
            row[metric] = {
                "locust": locust, "wrk": wrk, "change": gap,
                "flagged": gap is not None and abs(gap) > TOLERANCE,
            }  # fmt: skip
        rows.append(row)
    return {"cross": cross, "design": "after", "rows": rows, "tolerance": TOLERANCE,
            "timeout": NETWORK_TIMEOUT_S}  # fmt: skip


def _unit(value: float | None, unit: str) -> str:
    return fmt.ms(value) if unit == "ms" else f"{fmt.number(value)} req/s"
