"""A claim's verdict from the outcomes of its rules.

Only the rules that decide count (``decides=False`` ones are shown beside the verdict).
Their outcomes combine as: all reproduced -> reproduced; else any contradicted ->
contradicted; else any inconclusive -> inconclusive; else same direction, different size.

Rules tagged with a setting (the event loop) are combined per value of it, each with
the rules that have no setting. When the values agree, that is the verdict. When they
disagree, the claim **depends on** the setting only if the setting itself makes a
significant difference: the ratio between the two values' paired figures, round by
round (a ratio of ratios; a difference of differences for costs), has a 95% interval
that excludes 1 (0). Otherwise the disagreement is within the noise and the claim is
**inconclusive**: neither value's verdict can be told apart from the other's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from loadtests.report.claims_table import interval_text
from loadtests.results import stats
from loadtests.results.claims import (
    OUTCOME_TEXT,
    CheckResult,
    Figure,
    Interaction,
    RuleOutcome,
    Verdict,
)

# Unless every rule is reproduced, the first of these found decides.
PRECEDENCE: tuple[RuleOutcome, ...] = (
    "contradicted",
    "inconclusive",
    "older rules",
    "different size",
)


def combine(found: Sequence[RuleOutcome]) -> RuleOutcome:
    if all(outcome == "reproduced" for outcome in found):
        return "reproduced"
    return next(outcome for outcome in PRECEDENCE if outcome in found)


def _named(result: CheckResult) -> str:
    return f"{result.what} [{result.setting[1]}]" if result.setting else result.what


def _why(results: Sequence[CheckResult], outcome: RuleOutcome) -> str:
    """The rules behind ``outcome`` with their reasons (the figures are beside them):
    all of them when reproduced, else those that have that outcome."""
    return "; ".join(
        f"{_named(r)}: {r.reason}"
        for r in results
        if outcome == "reproduced" or r.outcome == outcome
    )


def _by_round(a: Figure, b: Figure) -> list[tuple[float, float]]:
    """The two figures' values in the rounds both have, paired by round (a round one of
    them left out is left out of the pair too)."""

    def at(figure: Figure) -> dict[int, float]:
        rounds = figure.rounds if figure.rounds is not None else range(len(figure.per_round))
        return dict(zip(rounds, figure.per_round, strict=True))

    theirs = at(b)
    return [(x, theirs[r]) for r, x in sorted(at(a).items()) if r in theirs]


def _between(a: Figure, b: Figure) -> Figure | None:
    """``a`` against ``b`` round by round: their ratio for ratios, else their difference."""
    pairs = _by_round(a, b)
    if not pairs or a.log != b.log:
        return None
    first, second = [x for x, _ in pairs], [y for _, y in pairs]
    if a.log:
        per_round = [x / y for x, y in zip(first, second, strict=True)]
        found = stats.log_ratio_interval(first, second)
        unit = "x"
    else:
        per_round = [x - y for x, y in zip(first, second, strict=True)]
        found = stats.t_interval(per_round)
        unit = a.unit
    estimate, low, high = found if found else (per_round[0], None, None)
    return Figure(unit=unit, per_round=per_round, estimate=estimate, low=low, high=high, log=a.log)


def _significant(figure: Figure) -> bool:
    neutral = 1.0 if figure.log else 0.0
    if figure.low is None or figure.high is None or not math.isfinite(figure.low):
        return False
    return figure.low > neutral or figure.high < neutral


def interactions(
    results: Sequence[CheckResult], name: str, choices: Sequence[str]
) -> list[Interaction]:
    """For every rule measured under each value of the setting: the first value's
    figure against each other value's, paired round by round."""
    by = {(r.what, r.setting[1]): r.figure for r in results if r.setting and r.figure}
    first, *others = choices
    found = []
    for what in dict.fromkeys(r.what for r in results if r.setting):
        for other in others:
            a, b = by.get((what, first)), by.get((what, other))
            figure = _between(a, b) if a and b else None
            if figure is not None:
                found.append(
                    Interaction(
                        what=what,
                        setting=name,
                        between=(first, other),
                        figure=figure,
                        significant=_significant(figure),
                    )
                )
    return found


def interaction_text(found: Interaction) -> str:
    a, b = found.between
    sign = "/" if found.figure.log else "-"
    figure = found.figure
    shown = interval_text(figure.estimate, figure.low, figure.high, figure.unit)
    return f"{found.what}, {a} {sign} {b}: {shown}"


def decide(results: Sequence[CheckResult]) -> Verdict:
    """The claim's verdict (see the module's docstring)."""
    deciding = [r for r in results if r.decides]
    if not deciding:
        return Verdict(outcome="error", text="error", reason="nothing was judged")
    settings = {r.setting[0] for r in deciding if r.setting}
    if len(settings) > 1:
        raise ValueError(f"a claim varies one setting at most, got {sorted(settings)}")
    if not settings:
        outcome = combine([r.outcome for r in deciding])
        return Verdict(outcome=outcome, text=OUTCOME_TEXT[outcome], reason=_why(deciding, outcome))
    (name,) = settings
    choices = list(dict.fromkeys(r.setting[1] for r in deciding if r.setting))
    per_choice = {c: [r for r in deciding if r.setting in (None, (name, c))] for c in choices}
    found = {c: combine([r.outcome for r in rules]) for c, rules in per_choice.items()}
    between = interactions(deciding, name, choices)
    if len(set(found.values())) == 1:
        outcome = found[choices[0]]
        reason = f"with every {name}: {_why(deciding, outcome)}"
        return Verdict(
            outcome=outcome, text=OUTCOME_TEXT[outcome], reason=reason, interactions=between
        )
    each = "; ".join(
        f"{OUTCOME_TEXT[o]} with {c} ({_why(per_choice[c], o)})" for c, o in found.items()
    )
    shown = "; ".join(interaction_text(i) for i in between) or "one round, no interval"
    if any(i.significant for i in between):
        reason = f"{each}. The {name} makes a significant difference: {shown}"
        return Verdict(
            outcome="depends", text=f"depends on the {name}", reason=reason, interactions=between
        )
    reason = (
        f"{each}. But the difference between them is not significant ({shown}): "
        f"the {name} may not matter, and neither verdict stands alone"
    )
    return Verdict(
        outcome="inconclusive",
        text=OUTCOME_TEXT["inconclusive"],
        reason=reason,
        interactions=between,
    )
