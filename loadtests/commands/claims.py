"""``claims``: every claim of the articles re-measured with micro-benchmarks (no HTTP),
each with a verdict (see loadtests/claims/)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from loadtests.claims import registry, session
from loadtests.claims.registry import Claim
from loadtests.errors import SuiteError
from loadtests.paths import REPORTS_DIR
from loadtests.report import claims_page, claims_table, index_page


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "claims",
        help="re-measure every claim of the articles, with a verdict each (no HTTP)",
        description=(
            "Run micro-benchmarks against the embedded PostgreSQL (or DATABASE_URL), each "
            "claim in several rounds of fresh processes, and judge each claim from its 95% "
            "interval: reproduced, same direction but a different size, contradicted, "
            "inconclusive, or depends on X (measured both ways). Writes "
            "reports/claims-<time>/claims.json and claims.html."
        ),
    )
    parser.add_argument("--only", metavar="ID,...", help="run these claims only (comma-separated)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{session.QUICK_ROUNDS} rounds and smaller counts (about a minute): rougher numbers",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"rounds per claim (default {session.FULL_ROUNDS}; "
        f"{session.QUICK_ROUNDS} with --quick)",
    )
    parser.add_argument("--out", type=Path, default=REPORTS_DIR, help="default reports/")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--rebuild", metavar="DIR", help="only rebuild DIR's claims.html from its claims.json"
    )
    parser.set_defaults(handler=handle)


def select(only: str | None, known: dict[str, Claim]) -> tuple[tuple[Claim, ...], list[str]]:
    """The claims to run, in display order, and those added because a chosen one needs
    them. An unknown id is the user's error."""
    if only is None:
        return tuple(known.values()), []
    wanted = [part.strip() for part in only.split(",") if part.strip()]
    for claim_id in wanted:
        if claim_id not in known:
            raise SuiteError(f"unknown claim '{claim_id}' (known: {', '.join(known)})")
    if not wanted:
        raise SuiteError(f"--only needs claim ids (known: {', '.join(known)})")
    needed = [n for claim_id in wanted for n in known[claim_id].needs if n not in wanted]
    chosen = set(wanted) | set(needed)
    return tuple(c for c in known.values() if c.id in chosen), list(dict.fromkeys(needed))


def _rebuild(text: str) -> int:
    for candidate in (Path(text), REPORTS_DIR / text):
        if candidate.is_dir():
            print(f"page: {claims_page.build(candidate)}")
            return 0
    raise SuiteError(f"no claims directory '{text}' (neither a path nor a name under reports/)")


def handle(args: argparse.Namespace) -> int:
    if args.rebuild:
        return _rebuild(args.rebuild)
    claims, added = select(args.only, registry.catalogue())
    rounds = args.rounds or (session.QUICK_ROUNDS if args.quick else session.FULL_ROUNDS)
    if not 1 <= rounds <= session.MAX_ROUNDS:
        raise SuiteError(f"--rounds must be between 1 and {session.MAX_ROUNDS}, got {rounds}")
    if args.out.exists() and not args.out.is_dir():
        raise SuiteError(f"--out {args.out} exists and is not a directory")
    for claim in claims:
        needing = [c.id for c in claims if claim.id in c.needs]
        if claim.id in added:
            print(f"{claim.id}: run too, because {', '.join(needing)} is derived from it")
    mode = "quick: fewer rounds and smaller counts, rougher numbers" if args.quick else "full"
    print(f"{len(claims)} claims, {rounds} rounds each in fresh processes ({mode})", flush=True)
    options = session.Options(
        claims=claims,
        quick=args.quick,
        rounds=rounds,
        out_root=args.out.resolve(),
        pin=not args.no_pin,
        command=shlex.join(["python", "-m", "loadtests", *sys.argv[1:]]),
        on_save=claims_page.build,
    )
    try:
        out, document = session.run(options)
    except KeyboardInterrupt:
        index_page.build(options.out_root)  # the partial page is listed too
        raise
    print(claims_table.table(document))
    print(f"\nresults: {out / 'claims.json'}  ({document.run.duration_s:.0f} s)")
    print(f"page:    {out / claims_page.PAGE}")
    print(f"index:   {index_page.build(options.out_root)}")
    return 1 if any(r.verdict.outcome == "error" for r in document.claims) else 0
