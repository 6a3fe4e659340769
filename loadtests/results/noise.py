"""The noise band: how far apart two identical variants can look in one run, measured.

A verdict (loadtests/report/verdicts.py) says a variant differs from the baseline only
when the 95% confidence interval of their ratio, paired round by round, lies entirely
outside the band ``[1/ratio, ratio]``. The interval covers the noise between rounds;
the band covers what the interval cannot see, such as the position a variant ran in or
a port that behaves differently. Its width is not guessed: it is the smallest band that
calls every comparison in A/A runs (one configuration under two names) "no significant
difference", rounded up to a whole percent.

``python -m loadtests noise-band RUN_DIR...`` computes it from A/A runs;
``--write`` keeps it in the state directory, where later runs pick it up. Without one,
runs use the band shipped in ``noise_band.json`` (measured on the project's 2-core
machine; the file says how). Every run records the band it used.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from loadtests.errors import SuiteError
from loadtests.paths import state_dir
from loadtests.results import analysis, stats
from loadtests.results.models import NoiseBand, RunResults

SHIPPED = Path(__file__).with_name("noise_band.json")
STATE_FILE = "noise-band.json"
CALIBRATED = ("throughput", "p50", "p95", "p99")
MINIMUM = 1.02  # even a perfect A/A run does not justify calling 1% a difference
# Error rates are compared by difference (often both are 0, and a ratio of 0s says
# nothing). A/A runs on this machine had no errors at all, so this band cannot be
# measured there: half a percentage point is a stated choice, half the 1% at which a
# step stops being allowed to win on speed.
ERROR_POINTS = 0.005


def _read(path: Path) -> NoiseBand:
    try:
        return NoiseBand.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise SuiteError(f"{path} is not a noise band: {str(exc).splitlines()[0]}") from None


def current() -> NoiseBand:
    """This machine's calibrated band if there is one, else the shipped one."""
    mine = state_dir() / STATE_FILE
    return _read(mine if mine.exists() else SHIPPED)


@dataclass(frozen=True)
class Comparison:
    """One A/A comparison: a pair of identical variants, a step and a metric."""

    scenario: str
    pair: tuple[str, str]
    users: int
    metric: str
    ratio: float
    low: float
    high: float

    @property
    def miss(self) -> float:
        """How far (in log units) the interval stays off 1; 0 when it contains 1."""
        if self.low <= 1 <= self.high:
            return 0.0
        return min(abs(math.log(self.low)), abs(math.log(self.high)))


def identical_pairs(results: RunResults, variants: list[str]) -> list[tuple[str, str]]:
    """Variants that run the same service, mode and settings under different names."""

    def key(name: str) -> str:
        info = results.variants[name]
        return json.dumps([info.service, info.mode, info.settings], sort_keys=True, default=str)

    pairs = []
    for index, first in enumerate(variants):
        pairs += [(first, other) for other in variants[index + 1 :] if key(first) == key(other)]
    return pairs


def comparisons(results: RunResults) -> list[Comparison]:
    found = []
    for scenario, data in results.scenarios.items():
        cells = analysis.grid(results, scenario)
        for first, other in identical_pairs(results, data.variants):
            for users in sorted(set(cells.get(first, {})) & set(cells.get(other, {}))):
                a, b = cells[first][users], cells[other][users]
                common = sorted(set(a.rounds) & set(b.rounds))
                for metric in CALIBRATED:
                    ours, theirs = a.by_round(metric), b.by_round(metric)
                    interval = stats.log_ratio_interval(
                        [theirs[r] for r in common], [ours[r] for r in common]
                    )
                    if interval:
                        found.append(Comparison(scenario, (first, other), users, metric, *interval))
    return found


def calibrate(runs: list[RunResults], source: str) -> tuple[NoiseBand, list[Comparison]]:
    found = [c for results in runs for c in comparisons(results)]
    if not found:
        raise SuiteError(
            "no A/A comparison found: the runs need two variants with the same service, mode "
            "and settings under different names, and at least 2 rounds"
        )
    widest = math.exp(max(c.miss for c in found))
    ratio = max(MINIMUM, math.ceil(widest * 100 - 1e-9) / 100)
    rounds = sorted({r.run.rounds for r in runs})
    band = NoiseBand(
        ratio=ratio,
        error_points=ERROR_POINTS,
        comparisons=len(found),
        source=f"{source}: {len(found)} A/A comparisons, {'/'.join(map(str, rounds))} rounds",
    )
    return band, found


def detectable(cells: analysis.Grid, metric: str, band: NoiseBand) -> float | None:
    """The smallest ratio this run could have told from no difference on ``metric``:
    the band widened by the typical half-width of the paired intervals (the median over
    every variant and step against the baseline). None with fewer than two rounds."""
    if len(cells) < 2:
        return None
    baseline, *others = cells
    widths = []
    for variant in others:
        for users, cell in cells[variant].items():
            base = cells[baseline].get(users)
            if base is None:
                continue
            common = sorted(set(cell.rounds) & set(base.rounds))
            ours, theirs = cell.by_round(metric), base.by_round(metric)
            interval = stats.log_ratio_interval(
                [ours[r] for r in common], [theirs[r] for r in common]
            )
            if interval:
                widths.append(math.log(interval[2] / interval[1]) / 2)
    if not widths:
        return None
    widths.sort()
    return band.ratio * math.exp(widths[len(widths) // 2])


def round_cvs(runs: list[RunResults]) -> dict[str, float]:
    """Per metric, the median over every variant and step of the coefficient of
    variation of its values across rounds: how repeatable one measurement is."""
    found: dict[str, list[float]] = {metric: [] for metric in CALIBRATED}
    for results in runs:
        for scenario in results.scenarios:
            for steps in analysis.grid(results, scenario).values():
                for cell in steps.values():
                    for metric in CALIBRATED:
                        if (cv := stats.cv(cell.values(metric))) is not None:
                            found[metric].append(cv)
    return {metric: sorted(v)[len(v) // 2] for metric, v in found.items() if v}
