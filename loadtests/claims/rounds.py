"""Rounds in fresh processes, and what they add up to.

Each round of a claim is one worker process (``worker.py``), pinned where the run
pins its workers; the series of a claim are all measured inside that process, so their
ratios are paired round by round and the machine's drift between rounds cancels out of
them. Per series: the median, the range over the rounds and the coefficient of
variation, flagged "unstable" above 10% as pyperf does.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.claims import rules, verdict
from loadtests.claims.registry import Claim
from loadtests.claims.worker import ENV_EXTRA, ENV_SIZES, ENV_URL
from loadtests.infra.processes import Supervised
from loadtests.paths import PROJECT_ROOT
from loadtests.results import stats
from loadtests.results.claims import ClaimResult, Round, SeriesSummary, Verdict

ROUND_TIMEOUT_S = 180.0


class RoundFailed(Exception):
    """A round that ended without a result: its one-line reason."""


@dataclass(frozen=True)
class Setup:
    """What every worker of a run gets."""

    url: str
    seed: dict[str, int]
    quick: bool
    rounds: int
    logs: Path
    cpus: tuple[int, ...] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def rounds_of(self, claim: Claim) -> int:
        return min(claim.rounds, self.rounds) if claim.rounds else self.rounds

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            ENV_URL: self.url,
            ENV_SIZES: json.dumps(self.seed),
            ENV_EXTRA: json.dumps(self.extra),
        }


def run_round(claim: Claim, number: int, setup: Setup) -> Round:
    """One worker process; RoundFailed with its reason when it gives no result."""
    result_file = setup.logs / f".{claim.id}-{number}.json"
    result_file.unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-m",
        "loadtests.claims.worker",
        claim.id,
        "--round",
        str(number),
        "--result",
        str(result_file),
        *(["--quick"] if setup.quick else []),
    ]
    worker = Supervised(
        f"claim {claim.id}",
        argv,
        setup.environment(),
        setup.logs / f"{claim.id}.log",
        setup.cpus,
        cwd=PROJECT_ROOT,
    )
    try:
        worker.popen.wait(ROUND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RoundFailed(f"round {number} did not finish within {ROUND_TIMEOUT_S:.0f} s") from None
    finally:
        worker.stop()  # reaps it, or stops it on a timeout or Ctrl-C
    try:
        data = json.loads(result_file.read_text())
    except (OSError, ValueError):
        raise RoundFailed(
            f"round {number}: the worker exited with code {worker.popen.returncode} "
            f"without a result ({worker.log_tail(1) or 'no output'})"
        ) from None
    finally:
        result_file.unlink(missing_ok=True)
    if "error" in data:
        raise RoundFailed(data["error"])
    return Round(
        values=data["values"],
        evidence=data["evidence"],
        sizes=data["sizes"],
        seconds=round(data["seconds"], 3),
    )


def per_series(rounds: list[Round]) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for measured in rounds:
        for key, value in measured.values.items():
            values.setdefault(key, []).append(value)
    return values


def summarize_series(claim: Claim, values: dict[str, list[float]]) -> list[SeriesSummary]:
    summaries = []
    for series in claim.series:
        found = values.get(series.key, [])
        # A ratio of 0 is no ratio (a zero measured on a side, claims/overall.py): it keeps
        # its place among the values and stays out of the summary, as the rules leave it out.
        usable = [v for v in found if v > 0] if series.unit == "x" else found
        if not usable:
            continue
        cv = stats.cv(usable) if min(usable) > 0 else None
        summaries.append(
            SeriesSummary(
                key=series.key,
                label=series.label,
                unit=series.unit,
                values=found,
                median=statistics.median(usable),
                low=min(usable),
                high=max(usable),
                cv=cv,
                unstable=cv is not None and cv > rules.UNSTABLE_CV,
            )
        )
    return summaries


def _result(claim: Claim, planned: int, **fields: object) -> ClaimResult:
    return ClaimResult(
        id=claim.id,
        label=claim.label,
        method=claim.method,
        article=claim.article,
        source=claim.source,
        family=claim.family,
        rounds_planned=planned,
        **fields,
    )


def judged(
    claim: Claim,
    planned: int,
    rounds: list[Round],
    values: dict[str, list[float]],
    interrupted: bool = False,
    seconds: float = 0.0,
) -> ClaimResult:
    """The claim's series, rules and verdict from what its rounds measured."""
    checks = rules.judge(claim.checks, values)
    decided = verdict.decide(checks)
    if interrupted:
        decided.reason = f"interrupted after {len(rounds)} of {planned} rounds; {decided.reason}"
    sizes = rounds[0].sizes if rounds else {}
    evidence = next((r.evidence for r in rounds if r.evidence), {})
    return _result(
        claim,
        planned,
        status="interrupted" if interrupted else "measured",
        rounds=rounds,
        series=summarize_series(claim, values),
        checks=checks,
        verdict=decided,
        sizes=sizes,
        evidence=evidence,
        seconds=round(seconds, 2),
    )


def failed(claim: Claim, planned: int, outcome: str, reason: str, **fields: object) -> ClaimResult:
    """A claim that errored, was skipped or has not run yet."""
    status = {"error": "error", "skipped": "skipped"}.get(outcome, "not run")
    return _result(
        claim,
        planned,
        status=status,
        error=reason if outcome == "error" else None,
        verdict=Verdict(outcome=outcome, text=outcome, reason=reason),
        **fields,
    )


def measure(
    claim: Claim,
    setup: Setup,
    on_round: Callable[[int, int, float], None],
    keep: Callable[[ClaimResult], None],
) -> ClaimResult:
    """Every round of a claim that runs code. After each round ``keep`` gets the claim
    as measured so far, marked interrupted, so that Ctrl-C loses no finished round."""
    planned, rounds, started = setup.rounds_of(claim), [], time.perf_counter()
    try:
        for number in range(1, planned + 1):
            begun = time.perf_counter()
            rounds.append(run_round(claim, number, setup))
            seconds = time.perf_counter() - started
            keep(judged(claim, planned, rounds, per_series(rounds), True, seconds))
            on_round(number, planned, time.perf_counter() - begun)
    except RoundFailed as exc:
        seconds = round(time.perf_counter() - started, 2)
        return failed(claim, planned, "error", str(exc), rounds=rounds, seconds=seconds)
    return judged(claim, planned, rounds, per_series(rounds), seconds=time.perf_counter() - started)


def derive(claim: Claim, done: dict[str, ClaimResult]) -> ClaimResult:
    """A derived claim, from the per-round values of the claims it needs."""
    missing = [n for n in claim.needs if n not in done or done[n].status != "measured"]
    if missing:
        return failed(
            claim, 0, "error", f"needs {', '.join(missing)}, which did not measure every round"
        )
    assert claim.derive is not None
    values = claim.derive({n: per_series(done[n].rounds) for n in claim.needs})
    planned = min(len(done[n].rounds) for n in claim.needs)
    return judged(claim, planned, [], values)
