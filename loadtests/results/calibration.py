"""What the verdict rules do where there is nothing to find: A/A runs.

An A/A run runs one configuration under several names (``loadtests/aa-variants.toml``).
Every comparison of a copy with the baseline is then between identical variants, so a
significant primary comparison is a false positive, and an exploratory cell whose own
interval excludes no difference is one of the cells a reader could be misled by (never
coloured as a verdict, but about 5% of them are expected at two-sided 5%). Nothing here
sets a threshold for later runs: it is evidence that the rules hold their error rates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from loadtests.results import analysis
from loadtests.results.comparisons import scenario_comparisons
from loadtests.results.models import RunResults


@dataclass(frozen=True)
class AaRun:
    run: str
    scenarios: list[str]
    copies: list[str]  # variants identical to their scenario's baseline
    primary: int  # primary comparisons of a copy with the baseline
    false_positives: list[str]  # those called significant, described
    exploratory: int
    exploratory_hits: int  # exploratory cells whose own interval excluded no difference


def _key(results: RunResults, name: str) -> str:
    info = results.variants[name]
    return json.dumps([info.service, info.mode, info.settings], sort_keys=True, default=str)


def copies_of_baseline(results: RunResults, scenario: str) -> list[str]:
    """Variants that run the baseline's service, mode and settings under another name."""
    baseline, *others = results.scenarios[scenario].variants
    return [name for name in others if _key(results, name) == _key(results, baseline)]


def check(results: RunResults) -> AaRun:
    primary = exploratory = hits = 0
    false_positives, copies, scenarios = [], [], []
    for scenario in results.scenarios:
        same = copies_of_baseline(results, scenario)
        if not same:
            continue
        scenarios.append(scenario)
        copies += [name for name in same if name not in copies]
        for c in scenario_comparisons(analysis.grid(results, scenario)):
            if c.variant not in same or not c.comparable:
                continue
            if c.primary:
                primary += 1
                if c.significant:
                    false_positives.append(
                        f"{scenario}, {c.variant} at {c.users} users, {c.metric}: "
                        f"{c.value / c.baseline:.3f}x (Holm p {c.p_adjusted:.3g})"
                    )
            else:
                exploratory += 1
                hits += c.excludes_neutral
    return AaRun(results.run.id, scenarios, copies, primary, false_positives, exploratory, hits)
