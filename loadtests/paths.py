"""Where the suite keeps its state and writes its reports."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REPORTS_DIR = PROJECT_ROOT / "reports"


def state_dir() -> Path:
    """Pid files, URLs and (when reachable) the embedded database live here."""
    configured = os.environ.get("LOADTESTS_STATE_DIR")
    return Path(configured).resolve() if configured else PROJECT_ROOT / ".loadtests"
