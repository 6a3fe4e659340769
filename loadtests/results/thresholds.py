"""``check --thresholds FILE``: limits on a run's measured figures, k6-like, in TOML
(README, "A gate for CI: check").

Rules at the top of the file hold for every scenario and variant; a table named after a
scenario holds rules for it alone, and a table inside it named after a variant, for that
variant alone::

    errors = "<1%"                # every step of every variant
    "p99@max" = "<2s"             # the highest step

    [select-update]
    "p99@200" = "<500ms"          # 200 users (or req/s offered, in the open model)

    [select-update.flask]
    "rps@max" = ">400"

A key is ``METRIC[@STEP]``: a metric of ``METRICS`` and a step (a user count or rate,
``max`` for the highest; none: every step). A value is a comparison (<, <=, >, >=) and a
number with the metric's unit. Every rule is checked at every step it matches, and a rule
that matches nothing in the run fails: a gate never passes by not looking. Bad syntax is
one line naming the file, line and column.
"""

from __future__ import annotations

import math
import operator
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.errors import SuiteError
from loadtests.results.analysis import METRICS as ANALYSED
from loadtests.results.models import RunResults, Step


@dataclass(frozen=True)
class Metric:
    name: str
    words: str  # in a failure line
    units: dict[str, float]  # unit -> factor to the measured value's unit
    unit: str  # how the measured value is shown
    value: Callable[[Step], float | None]


def _memory(step: Step) -> float | None:
    return step.cpu.service_memory_mib if step.cpu is not None else None


def _dropped(step: Step) -> float | None:
    """The open model's; a closed run drops nothing because it schedules nothing, so a
    rule on it there is not measured (it fails), not a pass."""
    return step.open.dropped_rate if step.open is not None else None


_MS = {"ms": 1.0, "s": 1000.0}
_SHARE = {"%": 0.01}
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("p50", "p50 latency", _MS, "ms", ANALYSED["p50"].pick),
        Metric("p95", "p95 latency", _MS, "ms", ANALYSED["p95"].pick),
        Metric("p99", "p99 latency", _MS, "ms", ANALYSED["p99"].pick),
        Metric("p99.9", "p99.9 latency", _MS, "ms", lambda s: s.latency_ms.p99_9),
        Metric("rps", "throughput", {"": 1.0, "rps": 1.0, "req/s": 1.0}, "req/s",
               ANALYSED["throughput"].pick),
        Metric("errors", "error rate", _SHARE, "%", ANALYSED["error_rate"].pick),
        Metric("dropped", "dropped arrivals", _SHARE, "%", _dropped),
        Metric("memory", "service memory", {"mib": 1.0, "gib": 1024.0}, "MiB", _memory),
    )
}  # fmt: skip
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
}  # fmt: skip
_KEY = re.compile(r"^([a-z0-9.]+)(?:@(max|[0-9]+))?$", re.IGNORECASE)
_VALUE = re.compile(r"^\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*([a-zA-Z/%]*)\s*$")


@dataclass(frozen=True)
class Rule:
    metric: Metric
    step: int | str | None  # users or rate, "max", or None: every step
    op: str
    limit: float  # in the metric's own unit (ms, req/s, a share, MiB)
    scenario: str | None
    variant: str | None
    source: str  # 'key = "value"' as written, with file:line

    def limit_text(self) -> str:
        return f"{self.op} {show(self.metric, self.limit)}"


def show(metric: Metric, value: float) -> str:
    if metric.unit == "%":
        return f"{value * 100:.2f}%"
    return f"{value:,.1f} {metric.unit}"


def load(path: Path) -> list[Rule]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SuiteError(f"--thresholds: no such file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"--thresholds: cannot read {path}: {exc}") from None
    return parse(text, str(path))


def parse(text: str, where: str = "thresholds") -> list[Rule]:
    """Every rule of a thresholds file; SuiteError (file, line, column) on bad syntax."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{where}: not valid TOML: {exc}") from None
    lines = text.splitlines()
    rules = [_rule(key, value, *scope, lines, where) for key, value, scope in _walk(data, ())]
    if not rules:
        raise SuiteError(f'{where}: no rule (e.g. errors = "<1%")')
    return rules


def _walk(
    table: dict[str, Any], scope: tuple[str, ...]
) -> Iterator[tuple[str, Any, tuple[str | None, str | None]]]:
    """Every rule with its scope (scenario, variant): a table is a scenario, a table in
    it a variant; anything deeper is a rule with a bad value."""
    for key, value in table.items():
        if isinstance(value, dict) and len(scope) < 2:
            yield from _walk(value, (*scope, key))
        else:
            padded = (*scope, None, None)
            yield key, value, (padded[0], padded[1])


def _position(lines: list[str], key: str) -> tuple[int, int]:
    """Where ``key`` is written (1-based line and column); (0, 0) when not found."""
    for number, line in enumerate(lines, start=1):
        stripped = line.lstrip()
        for written in (f'"{key}"', f"'{key}'", key):
            if stripped.startswith(written) and stripped[len(written) :].lstrip().startswith("="):
                return number, len(line) - len(stripped) + 1
    return 0, 0


def _rule(
    key: str, value: object, scenario: str | None, variant: str | None,
    lines: list[str], where: str,
) -> Rule:  # fmt: skip
    line, column = _position(lines, key)
    at = f"{where}:{line}:{column}" if line else where

    def bad(why: str) -> SuiteError:
        return SuiteError(f"{at}: {key} = {value!r}: {why}")

    found = _KEY.match(key)
    if not found:
        raise bad('a rule\'s key is METRIC or METRIC@STEP, e.g. "p99@200" or "rps@max"')
    name, step_text = found.group(1).lower(), found.group(2)
    if name not in METRICS:
        raise bad(f"unknown metric '{name}' (known: {', '.join(METRICS)})")
    metric = METRICS[name]
    if not isinstance(value, str):
        raise bad('a limit is a string such as "<500ms"')
    limit = _VALUE.match(value)
    if not limit:
        raise bad('a limit is a comparison and a number, e.g. "<500ms", ">=400", "<1%"')
    op, number, unit = limit.group(1), limit.group(2), limit.group(3).lower()
    if unit not in metric.units:
        units = ", ".join(repr(u) if u else "no unit" for u in metric.units)
        raise bad(f"{name} takes {units}")
    try:
        amount = float(number)
    except ValueError:
        raise bad(f"'{number}' is not a number") from None
    if not math.isfinite(amount) or amount < 0:
        raise bad("the limit must be a finite number, 0 or more")
    step: int | str | None = None
    if step_text is not None:
        step = "max" if step_text.lower() == "max" else int(step_text)
    source = f'{key} = "{value}" ({at})'
    return Rule(metric, step, op, amount * metric.units[unit], scenario, variant, source)


@dataclass(frozen=True)
class Outcome:
    """One rule at one cell of the run (or the rule alone, when it matched nothing)."""

    rule: Rule
    scenario: str | None
    variant: str | None
    step: int | None
    unit: str  # of the step: users or req/s offered
    value: float | None  # None: not measured there, or no cell
    passed: bool

    def line(self, labels: dict[str, str]) -> str:
        rule = self.rule
        if self.scenario is None:
            return f"FAIL {rule.source}: matched no scenario, variant and step of the run"
        where = f"{self.scenario} · {labels.get(self.variant or '', self.variant)} · "
        where += f"{self.step} {self.unit}"
        if self.value is None:
            measured = f"{rule.metric.words} not measured"
        else:
            measured = f"{rule.metric.words} {show(rule.metric, self.value)}"
        verdict = "ok  " if self.passed else "FAIL"
        return f"{verdict} {where}: {measured}, limit {rule.limit_text()} [{rule.source}]"


def evaluate(rules: list[Rule], data: RunResults) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for rule in rules:
        found = _cells(rule, data)
        if not found:
            outcomes.append(Outcome(rule, None, None, None, "", None, False))
        outcomes.extend(found)
    return outcomes


def _cells(rule: Rule, data: RunResults) -> list[Outcome]:
    found = []
    for name, scenario in data.scenarios.items():
        if rule.scenario not in (None, name):
            continue
        top = max(scenario.plan.steps) if scenario.plan.steps else None
        wanted = top if rule.step == "max" else rule.step
        for outcome in scenario.runs:
            if rule.variant not in (None, outcome.variant):
                continue
            for step in outcome.steps:
                if wanted is not None and step.users != wanted:
                    continue
                value = rule.metric.value(step)
                passed = value is not None and OPERATORS[rule.op](value, rule.limit)
                found.append(
                    Outcome(rule, name, outcome.variant, step.users, scenario.plan.unit,
                            value, passed)
                )  # fmt: skip
    return found
