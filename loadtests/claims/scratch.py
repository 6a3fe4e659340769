"""What a claims run borrows and gives back: a scratch copy of the seeded database, and
a PgBouncer for the claims that need one.

The claims write (renames, inserts that are rolled back) and some leave connections
behind when they fail on purpose, so they never run in the database the services use:
they get ``<name>_claims``, cloned from the seed template like a reset and dropped at
the end. A copy left by a killed run is replaced by the next one (the suite's marker
says it may be: see ``database.copy_seed``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from loadtests.errors import SuiteError
from loadtests.infra import database, pgbouncer

SUFFIX = "_claims"
BOUNCER_SERVERS = 2  # fewer server connections than the trap's clients


@contextlib.contextmanager
def scratch_copy(target: database.Target) -> Iterator[str]:
    """The URL of a fresh copy of the seeded database, dropped afterwards."""
    name = f"{target.name}{SUFFIX}"
    # The reset's own copy (database.py): a database the suite did not create is never
    # dropped here either.
    url = database.copy_seed(target, name, {database.MARKER: "claims scratch copy"})
    try:
        yield url
    finally:
        database.drop_copy(target, name)


def pgbouncer_available() -> str | None:
    """None when PgBouncer can be started, else why not (with how to install it)."""
    try:
        pgbouncer.find_binary()
    except SuiteError as exc:
        return str(exc)
    return None


@contextlib.contextmanager
def bouncer(url: str, log: Path, cpus: list[int] | None) -> Iterator[dict[str, str]]:
    """A transaction-mode PgBouncer in front of ``url``: what the worker needs to know."""
    running = pgbouncer.start(url, BOUNCER_SERVERS, log, cpus)
    try:
        described = running.describe()
        yield {
            "pgbouncer_url": running.url(),
            "pgbouncer": f"{running.version_text}, pool_mode {described['pool_mode']}, "
            f"{BOUNCER_SERVERS} server connections, max_prepared_statements "
            f"{described['max_prepared_statements'] or 0} (tracks prepared statements: "
            f"{'yes' if running.tracks_prepared else 'no'})",
        }
    finally:
        running.stop()


# Outside programs a claim can require: a check that says why not, and a provider.
REQUIREMENTS = {"pgbouncer": (pgbouncer_available, bouncer)}
