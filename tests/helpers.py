"""Small helpers shared by the tests: running the CLI the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cli_env(state_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a user's shell, minus anything that would leak between tests."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "LOADTESTS_STATE_DIR")}
    if state_dir is not None:
        env["LOADTESTS_STATE_DIR"] = str(state_dir)
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 120, check_clean: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m loadtests ARGS``; by default assert it did not crash with a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "loadtests", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check_clean:
        assert "Traceback" not in result.stderr, result.stderr
    return result


def only_run_dir(out: Path) -> Path:
    """The one run directory a command wrote under ``out``."""
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the suite's error convention (exit 2, one line on stderr) and return the line."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]
