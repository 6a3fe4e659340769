"""Running database daemons as an unprivileged user when the suite runs as root.

PostgreSQL and PgBouncer refuse to run as root. Containers and CI usually are root, so
the suite then runs them as an ordinary account (``nobody`` unless
``LOADTESTS_RUN_AS`` names another). That account must be able to reach the binaries
and the data directory; the suite checks this instead of loosening permissions on
anyone's home directory, and puts its files somewhere reachable when it has to.
"""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.errors import SuiteError

DEFAULT_USER = "nobody"


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for subprocess that drop to this account before exec."""
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "cwd": "/"}

    def chown(self, path: Path) -> None:
        os.chown(path, self.uid, self.gid)


def daemon_account() -> RunAs | None:
    """The account database daemons run as, or None to run them as the current user."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("LOADTESTS_RUN_AS", DEFAULT_USER)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise SuiteError(
            f"running as root, PostgreSQL needs an unprivileged account, and '{name}' "
            "does not exist (set LOADTESTS_RUN_AS to an existing one)"
        ) from None
    if entry.pw_uid == 0:
        raise SuiteError(f"LOADTESTS_RUN_AS={name} is root; PostgreSQL refuses to run as root")
    return RunAs(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def _allows(st: os.stat_result, who: RunAs, bits: tuple[int, int, int]) -> bool:
    owner_bit, group_bit, other_bit = bits
    if st.st_uid == who.uid:
        return bool(st.st_mode & owner_bit)
    if st.st_gid == who.gid:
        return bool(st.st_mode & group_bit)
    return bool(st.st_mode & other_bit)


_EXECUTE = (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)
_READ = (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)


def can_reach(path: Path, who: RunAs) -> bool:
    """True when ``who`` can traverse every directory leading to ``path`` and read it."""
    path = path.resolve()
    for directory in reversed(path.parents):
        if not _allows(directory.stat(), who, _EXECUTE):
            return False
    return path.exists() and _allows(path.stat(), who, _READ)
