"""``python -m loadtests.claims.worker CLAIM --round N --result FILE [--quick]``: one
round of one claim in a fresh process, as pyperf runs each benchmark.

A fresh interpreter per round means no round inherits another's warm caches, pools,
prepared statements or garbage. The database and what the parent provided come in the
environment (never on the command line, where ``ps`` would show the password); the
result is written to FILE as JSON: ``{"values", "evidence", "sizes"}`` or ``{"error"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

from loadtests import files
from loadtests.claims.harness import Context, one_line
from loadtests.claims.registry import catalogue

ENV_URL = "CLAIMS_DATABASE_URL"
ENV_SIZES = "CLAIMS_SEED"  # {"users": n, "orders": n}
ENV_EXTRA = "CLAIMS_EXTRA"  # {"pgbouncer_url": ..., ...}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.claims.worker")
    parser.add_argument("claim")
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    seed = json.loads(os.environ.get(ENV_SIZES, "{}"))
    ctx = Context(
        url=os.environ[ENV_URL],
        round=args.round,
        quick=args.quick,
        users=int(seed.get("users", 1)),
        orders=int(seed.get("orders", 1)),
        extra=json.loads(os.environ.get(ENV_EXTRA, "{}")),
    )
    started = time.perf_counter()
    try:
        claim = catalogue()[args.claim]
        if claim.measure is None:
            raise ValueError(f"'{args.claim}' is derived from other claims: nothing to run")
        sample = claim.measure(ctx)
        result: dict[str, object] = {
            "values": sample.values,
            "evidence": sample.evidence,
            "sizes": ctx.sizes,
            "seconds": time.perf_counter() - started,
        }
        code = 0
    except Exception as exc:  # reported as the claim's one-line error; details in its log
        traceback.print_exc()
        result, code = {"error": one_line(exc)}, 1
    files.write_atomically(args.result, json.dumps(result))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
