"""What a service's log says went wrong during a run, counted by kind.

Both services log an unhandled failure as one line starting with ``UNHANDLED_PREFIX``
(services/common/errors.py); the runner counts those lines after each service's run,
so a report can say *why* requests failed, not only that they answered 500.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from services.common.errors import UNHANDLED_PREFIX

_QUOTED = re.compile(r'"[^"]*"')
_NUMBER = re.compile(r"\b\d+\b")
_NOISE = re.compile(r"\s*(\[SQL:.*|\(Background on this error at:.*)$")


def failures(log_path: Path) -> list[dict[str, Any]]:
    """The unhandled failures a service logged, by kind, most frequent first. Names and
    numbers are masked so that 'prepared statement "__asyncpg_stmt_7__" does not exist'
    and its siblings count as one kind."""
    counts: Counter[str] = Counter()
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        _, found, rest = line.partition(UNHANDLED_PREFIX)
        if not found:
            continue
        kind = _NUMBER.sub("N", _QUOTED.sub('"..."', _NOISE.sub("", rest)))
        counts[kind[:240]] += 1
    return [{"failure": kind, "count": count} for kind, count in counts.most_common(20)]
