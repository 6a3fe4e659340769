"""The compact table printed at the end of a run, every variant side by side (from the
same results a report reads)."""

from __future__ import annotations

from loadtests.report import faults
from loadtests.report.breakdown import largest_at_tail
from loadtests.results import analysis
from loadtests.results.models import RunResults

COLUMNS = ("req/s", "p50", "p99", "err%", "gen", "MiB", "tail")
WIDTHS = (7, 7, 8, 6, 4, 5, 13)
SIDE_BY_SIDE = 2  # variants; more are listed one per line


def _cells(cell: analysis.Cell | None) -> list[str]:
    if cell is None:
        return ["-"] * len(COLUMNS)
    cpus = [step.cpu for step in cell.steps]
    generator = (
        "SAT" if any(c and c.generator_saturated for c in cpus) else ("ok" if all(cpus) else "?")
    )
    memory = [c.service_memory_mib for c in cpus if c and c.service_memory_mib is not None]
    return [
        f"{cell.value('throughput'):.0f}",
        f"{cell.value('p50'):.1f}",
        f"{cell.value('p99'):.1f}",
        f"{cell.value('error_rate') * 100:.2f}",
        generator,
        f"{max(memory):.0f}" if memory else "-",
        largest_at_tail(cell.step),
    ]


def _row(cells: list[str]) -> str:
    return " ".join(cell.rjust(width) for cell, width in zip(cells, WIDTHS, strict=True))


def render(results: RunResults) -> str:
    labels = {name: info.label for name, info in results.variants.items()}
    block = len(_row(list(COLUMNS)))
    lines = []
    medians = " (medians over the rounds)" if results.run.rounds > 1 else " (every block pooled)"
    for name, scenario in results.scenarios.items():
        cells = analysis.grid(results, name)
        variants = scenario.variants
        lines.append(f"\n{name}: {scenario.description}")
        level = "users" if scenario.plan.model == "closed" else " rate"  # req/s offered
        timed = (
            ", timed from each request's intended start (open model)"
            if scenario.plan.model == "open"
            else ""
        )
        lines.append(
            f"latency of successes in ms{medians}{timed}; req/s = successes per second; "
            "gen = load generator CPU (SAT: saturated, numbers suspect); MiB = the service's "
            "peak memory; tail = what the slowest 1% spent most of their time on"
        )
        if len(variants) <= SIDE_BY_SIDE:
            names = [labels[v][:block].center(block) for v in variants]
            header = "      | " + " | ".join(_row(list(COLUMNS)) for _ in variants)
            lines += [f"{level} | " + " | ".join(names), header]
            for users in scenario.plan.steps:
                row = " | ".join(_row(_cells(cells.get(v, {}).get(users))) for v in variants)
                lines.append(f"{users:>5} | {row}")
        else:  # one line per variant and step: eight variants side by side would not fit
            width = max(len(labels[v]) for v in variants)
            lines.append(f"{level} | {'variant'.ljust(width)} | {_row(list(COLUMNS))}")
            for users in scenario.plan.steps:
                for v in variants:
                    cells_text = _row(_cells(cells.get(v, {}).get(users)))
                    lines.append(f"{users:>5} | {labels[v].ljust(width)} | {cells_text}")
        for outcome in scenario.runs:
            if outcome.status != "complete":
                lines.append(f"  {labels[outcome.variant]}: {outcome.status} ({outcome.error})")
            if outcome.fault is not None:
                lines.append(f"  {labels[outcome.variant]}: {faults.summary(outcome.fault)}")
    return "\n".join(lines)
