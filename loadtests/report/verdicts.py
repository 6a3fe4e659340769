"""What the numbers say, in words: per-step winners, headline sentences, trust warnings.

All of it is derived from results.json; nothing here is written by hand about a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadtests.report import fmt

SAME = 1.05  # within 5%: "about the same"
NOISY_CV = 0.25  # per-second throughput varied more than this inside a window
STEAL_WARN = 5.0  # % CPU stolen by the hypervisor
FAILING_RATE = 0.01  # from 1% failed requests, a step's latencies are not just the service's


def steps_by_users(outcome: dict[str, Any] | None) -> dict[int, dict[str, Any]]:
    return {step["users"]: step for step in (outcome or {}).get("steps", [])}


def steps_per_service(data: dict[str, Any], scenario: str) -> dict[str, dict[int, dict[str, Any]]]:
    """Each service's steps by user count, in the run's service order (not the order the
    services ran in, which alternates between scenarios)."""
    outcomes = data["scenarios"][scenario]["results"]
    return {s: steps_by_users(outcomes[s]) for s in data["run"]["services"] if s in outcomes}


def common_users(per_service: dict[str, dict[int, dict[str, Any]]]) -> list[int]:
    sets = [set(steps) for steps in per_service.values()]
    return sorted(set.intersection(*sets)) if sets else []


@dataclass(frozen=True)
class Comparison:
    """Which service did better on one figure, and by how much."""

    better: str | None  # service name; None when within 5% or not comparable
    worse: str | None
    factor: float
    comparable: bool = True

    def phrase(self, labels: dict[str, str], what: str, lower_is_better: bool) -> str:
        if not self.comparable:
            return f"{what} cannot be compared (a service completed no request)"
        if self.better is None or self.worse is None:
            return f"{what} within 5%"
        word = "lower" if lower_is_better else "higher"
        return f"{labels[self.better]}'s {what} is {fmt.ratio(self.factor)} {word}"


def compare(
    values: dict[str, float], lower_is_better: bool, zero_is_data: bool = False
) -> Comparison:
    """Compare two services' values of one figure. A zero latency or throughput means
    nothing completed (not comparable); only for error rates is zero a real value."""
    (a, va), (b, vb) = values.items()
    if min(va, vb) <= 0:
        if not zero_is_data:
            return Comparison(None, None, 1.0, comparable=False)
        if va == vb:
            return Comparison(None, None, 1.0)
        best = (a if va < vb else b) if lower_is_better else (a if va > vb else b)
        return Comparison(best, b if best == a else a, float("inf"))
    factor = max(va, vb) / min(va, vb)
    if factor < SAME:
        return Comparison(None, None, factor)
    if lower_is_better:
        return Comparison(a if va < vb else b, b if va < vb else a, factor)
    return Comparison(a if va > vb else b, b if va > vb else a, factor)


def step_winners(
    per_service: dict[str, dict[int, dict[str, Any]]], labels: dict[str, str]
) -> list[dict[str, Any]]:
    """Per common step: who had more throughput, who had the lower p99."""
    rows = []
    for users in common_users(per_service):
        steps = {name: by_users[users] for name, by_users in per_service.items()}
        throughput = compare({n: s["throughput_rps"] for n, s in steps.items()}, False)
        p50 = compare({n: s["latency_ms"]["p50"] for n, s in steps.items()}, True)
        p99 = compare({n: s["latency_ms"]["p99"] for n, s in steps.items()}, True)
        errors = compare({n: s["error_rate"] for n, s in steps.items()}, True, zero_is_data=True)
        rows.append(
            {
                "users": users,
                "throughput": _winner(throughput, labels),
                "p50": _winner(p50, labels),
                "p99": _winner(p99, labels),
                "errors": _winner(errors, labels)
                if any(s["errors"] for s in steps.values())
                else None,
            }
        )
    return rows


def _winner(comparison: Comparison, labels: dict[str, str]) -> dict[str, Any]:
    if not comparison.comparable:
        return {"service": None, "text": "not comparable"}
    if comparison.better is None:
        return {"service": None, "text": "tie (within 5%)"}
    factor = "no errors" if comparison.factor == float("inf") else fmt.ratio(comparison.factor)
    return {"service": comparison.better, "text": f"{labels[comparison.better]} ({factor})"}


def headlines(
    per_service: dict[str, dict[int, dict[str, Any]]], labels: dict[str, str]
) -> list[str]:
    """Two or three sentences a newcomer can read in ten seconds."""
    common = common_users(per_service)
    if len(per_service) < 2 or not common:
        return _single_service_headline(per_service, labels)
    top, bottom = common[-1], common[0]
    at_top = {name: steps[top] for name, steps in per_service.items()}
    at_bottom = {name: steps[bottom] for name, steps in per_service.items()}
    sentences = []
    p99 = compare({n: s["latency_ms"]["p99"] for n, s in at_top.items()}, True)
    sentences.append(
        f"At {top} users {p99.phrase(labels, 'p99', True)}: {_values(at_top, 'p99', labels)}."
    )
    p50 = compare({n: s["latency_ms"]["p50"] for n, s in at_top.items()}, True)
    if p50.better is not None and p50.better != p99.better:
        # Opposite verdicts on median and tail: the distributions have different shapes.
        sentences.append(
            f"But at {top} users {p50.phrase(labels, 'median (p50)', True)}: "
            f"{_values(at_top, 'p50', labels)}; its slowest requests are far slower than its "
            "typical ones."
        )
    rps = compare({n: s["throughput_rps"] for n, s in at_bottom.items()}, False)
    values = " vs ".join(
        f"{fmt.number(s['throughput_rps'])} req/s ({labels[n]})" for n, s in at_bottom.items()
    )
    sentences.append(f"At {bottom} users {rps.phrase(labels, 'throughput', False)}: {values}.")
    peaks = []
    for name, steps in per_service.items():
        best = max(steps.values(), key=lambda s: s["throughput_rps"])
        peaks.append(
            f"{labels[name]} {fmt.number(best['throughput_rps'])} req/s at {best['users']} users"
        )
    sentences.append("Peak throughput: " + "; ".join(peaks) + ".")
    failing = [
        f"{labels[name]} {fmt.percent(step['error_rate'])} at {users} users"
        for name, steps in per_service.items()
        for users, step in steps.items()
        if step["errors"] and users == max(u for u, s in steps.items() if s["errors"])
    ]
    if failing:
        sentences.append("Errors: highest-step error rates " + "; ".join(failing) + ".")
    return sentences


def _values(steps: dict[str, dict[str, Any]], metric: str, labels: dict[str, str]) -> str:
    return " vs ".join(f"{fmt.ms(s['latency_ms'][metric])} ({labels[n]})" for n, s in steps.items())


def _single_service_headline(
    per_service: dict[str, dict[int, dict[str, Any]]], labels: dict[str, str]
) -> list[str]:
    sentences = []
    for name, steps in per_service.items():
        if not steps:
            sentences.append(f"{labels[name]}: no completed step.")
            continue
        best = max(steps.values(), key=lambda s: s["throughput_rps"])
        top = steps[max(steps)]
        sentences.append(
            f"{labels[name]}: peak {fmt.number(best['throughput_rps'])} req/s at "
            f"{best['users']} users; p99 {fmt.ms(top['latency_ms']['p99'])} "
            f"at {top['users']} users."
        )
    if len(per_service) >= 2:
        sentences.append("The services have no step in common, so they are not compared.")
    return sentences


@dataclass(frozen=True)
class Caveat:
    severity: str  # "high": the numbers are suspect; "medium": read with care
    text: str


def warnings(results: dict[str, Any]) -> list[Caveat]:
    found: list[Caveat] = []
    status = results["run"]["status"]
    if status != "complete":
        reason = results["run"].get("error") or "not every service finished every step"
        found.append(Caveat("high", f"The run is {status}: {reason}."))
    for difference in results["fairness"]["differences"]:
        setting = difference["setting"]
        values = ", ".join(f"{k}={v}" for k, v in difference.items() if k != "setting")
        found.append(Caveat("high", f"The services ran with different {setting} ({values})."))
    labels = {name: s["label"] for name, s in results["services"].items()}
    for scenario, data in results["scenarios"].items():
        for name, outcome in data["results"].items():
            label = labels.get(name, name)
            if outcome.get("status") in ("failed", "partial"):
                found.append(
                    Caveat(
                        "high",
                        f"{scenario}, {label}: {outcome['status']} ({outcome.get('error')}).",
                    )
                )
            for step in outcome.get("steps", []):
                where = f"{scenario}, {label}, {step['users']} users"
                cpu = step.get("cpu") or {}
                if cpu.get("generator_saturated"):
                    found.append(
                        Caveat(
                            "high",
                            f"{where}: the load generator was CPU-saturated "
                            "(latencies include waiting for it).",
                        )
                    )
                if (cpu.get("steal_percent") or 0) >= STEAL_WARN:
                    found.append(
                        Caveat(
                            "medium",
                            f"{where}: {cpu['steal_percent']:.0f}% of CPU time "
                            "was stolen by the hypervisor.",
                        )
                    )
                if step["error_rate"] >= FAILING_RATE:
                    found.append(
                        Caveat(
                            "medium",
                            f"{where}: {fmt.percent(step['error_rate'])} of requests failed; its "
                            "latency percentiles include those (possibly fast) failures.",
                        )
                    )
                cv = (step.get("stability") or {}).get("throughput_cv")
                if cv is not None and cv > NOISY_CV:
                    found.append(
                        Caveat(
                            "medium",
                            f"{where}: throughput varied {cv:.0%} second to second (a noisy step).",
                        )
                    )
    layout = results["cpu_layout"]
    if not layout["pinned"]:
        found.append(Caveat("medium", f"Processes were not pinned to CPUs: {layout['note']}."))
    if results["database"]["kind"] == "external":
        found.append(
            Caveat(
                "medium",
                "The database is an external server: its CPU was not "
                "measured and it was not pinned.",
            )
        )
    return found


def trust(found: list[Caveat]) -> dict[str, str]:
    if any(w.severity == "high" for w in found):
        return {"level": "suspect", "text": "Numbers are suspect: see the warnings."}
    if found:
        return {"level": "care", "text": "Trustworthy, with caveats: see the warnings."}
    return {"level": "good", "text": "Trustworthy: no warning was raised."}
