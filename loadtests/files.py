"""Writing the suite's output: fresh directories, and files a reader never sees half of."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from loadtests.errors import SuiteError

# How output directories begin: their start time, so that names sort as times do.
STAMPED = re.compile(r"^\d{8}-\d{6}(?!\d)")


def stamp() -> str:
    """Now, as output directories are named: ``20261123-134851``."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def new_output_dir(parent: Path, name: str, inside: str) -> Path:
    """``parent/name`` created with its subfolder ``inside``, never an existing one: two
    runs started in the same second get ``name-2``, ``name-3``..."""
    for attempt in range(1, 100):
        found = parent / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            (found / inside).mkdir(parents=True, exist_ok=False)
            return found
        except FileExistsError:
            continue
        except OSError as exc:
            raise SuiteError(f"cannot create {found}: {exc.strerror}") from None
    raise SuiteError(f"cannot create a directory for {name} under {parent}")


def write_atomically(path: Path, text: str, mode: int | None = None) -> Path:
    """Write a sibling temporary file, then rename it over ``path``: a reader (the runner
    polling Locust's results, a browser, the next command) sees the old file or the new
    one, never half of one. ``mode``: permissions set before the file appears."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    if mode is not None:
        tmp.chmod(mode)
    tmp.replace(path)
    return path
