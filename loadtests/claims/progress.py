"""What a claims run prints while it runs (the table at the end is report/claims_table.py)."""

from __future__ import annotations

from pathlib import Path

from loadtests.claims.registry import Claim
from loadtests.results.claims import ClaimResult, ClaimsRun

CLAIM_WIDTH = 23  # as wide as the first column of the table at the end


def started(run: ClaimsRun, out: Path) -> None:
    print(f"{run.database}; {run.pinned}", flush=True)
    print(f"writing {out / 'claims.json'} after every claim", flush=True)


def claim_started(index: int, total: int, claim: Claim, rounds: int) -> None:
    what = "derived from other claims" if claim.derive else f"{rounds} round{'s' * (rounds > 1)}:"
    print(f"[{index:>2}/{total}] {claim.id:<{CLAIM_WIDTH}} {what}", end="", flush=True)


def round_done(number: int, planned: int, seconds: float) -> None:
    print(f" {seconds:.1f}s", end="" if number < planned else " ", flush=True)


def claim_done(result: ClaimResult) -> None:
    print(f" -> {result.verdict.text}", flush=True)
    if result.status in ("error", "skipped"):
        print(f"{'':>8}{result.verdict.reason}", flush=True)


def interrupted(out: Path) -> None:
    print(f"\ninterrupted: what was measured is kept in {out}", flush=True)
