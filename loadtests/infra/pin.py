"""``python -m loadtests.infra.pin CPUS -- COMMAND...``: exec COMMAND pinned to CPUS.

Pinning in a tiny exec shim, rather than in ``preexec_fn``, is safe while the parent
runs threads, and every process COMMAND forks (gunicorn and uvicorn workers) inherits
the affinity from the first instruction on.
"""

import os
import sys


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m loadtests.infra.pin CPUS -- COMMAND [ARGS...]")
    cpus = {int(cpu) for cpu in argv[0].split(",") if cpu}
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
    os.execvp(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
