"""The compact side-by-side table printed at the end of a run (from results.json)."""

from __future__ import annotations

from typing import Any

COLUMNS = ("req/s", "p50", "p95", "p99", "err%", "gen")
WIDTHS = (7, 7, 7, 7, 6, 4)


def _cells(step: dict[str, Any] | None) -> list[str]:
    if step is None:
        return ["-"] * len(COLUMNS)
    latency = step["latency_ms"]
    cpu = step.get("cpu") or {}
    generator = "SAT" if cpu.get("generator_saturated") else ("ok" if cpu else "?")
    return [
        f"{step['throughput_rps']:.0f}",
        f"{latency['p50']:.1f}",
        f"{latency['p95']:.1f}",
        f"{latency['p99']:.1f}",
        f"{step['error_rate'] * 100:.2f}",
        generator,
    ]


def _row(cells: list[str]) -> str:
    return " ".join(cell.rjust(width) for cell, width in zip(cells, WIDTHS, strict=True))


def render(results: dict[str, Any]) -> str:
    services = results["run"]["services"]
    labels = {name: results["services"][name]["label"] for name in services}
    block = len(_row(list(COLUMNS)))
    lines = []
    for name, scenario in results["scenarios"].items():
        lines.append(f"\n{name}: {scenario['description']}")
        lines.append("latency in ms; gen = load generator CPU (SAT: saturated, numbers suspect)")
        header = "users | " + " | ".join(labels[s].center(block) for s in services)
        lines += [header, "      | " + " | ".join(_row(list(COLUMNS)) for _ in services)]
        per_service = {
            s: {step["users"]: step for step in scenario["results"].get(s, {}).get("steps", [])}
            for s in services
        }
        for users in results["run"]["steps"]:
            row = " | ".join(_row(_cells(per_service[s].get(users))) for s in services)
            lines.append(f"{users:>5} | {row}")
        for service in services:
            outcome = scenario["results"].get(service, {})
            if outcome.get("status") not in ("complete", None):
                lines.append(
                    f"  {labels[service]}: {outcome.get('status')} ({outcome.get('error')})"
                )
    return "\n".join(lines)
