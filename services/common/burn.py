"""``CPU_BURN_MS``: a known amount of CPU work per database request, to slow a variant by a
known fraction. The suite's own tests use it to check that a run detects a slower variant;
it is off (0) everywhere else."""

from __future__ import annotations

from time import perf_counter


def burn(seconds: float) -> None:
    """Keep this thread busy for ``seconds`` (a spin, not a sleep: it is CPU the request
    costs, on whatever core serves it; in async code it holds the event loop, as any
    CPU-bound step of a request does)."""
    end = perf_counter() + seconds
    while perf_counter() < end:
        pass
