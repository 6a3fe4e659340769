"""The statements each variant sent, counted inside its own measured windows.

The variants take turns against one database, and ``pg_stat_statements`` cannot tell
them apart (the ORM modes send the same SQL). So the counters are read at the start and
at the end of every measured window, from a thread that wakes at those moments (the
runner learns of a window at its switch, seconds before it opens): the difference
belongs to the variant whose window it was. Requests in flight across a window's edges
cut both ways (some statements of responses counted in it ran before it opened, some of
the window's last requests run after it closed), so the statements per request are those
of a steady state, not of each request.
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import Any

from loadtests.infra import database
from loadtests.infra.processes import interrupts_to_main_thread
from loadtests.recording.wire import WindowMeta

Stats = dict[str, tuple[int, float]]  # statement kind -> (calls, total execution ms)
LATE_S = 0.5  # a snapshot this much later than its window's edge would count another's


class WindowStatements:
    """Snapshots of pg_stat_statements at every window's start and end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.available = True
        self.by_window: dict[int, Stats] = {}
        self._due: list[tuple[float, int, str]] = []  # (epoch, window, "start" | "end")
        self._opened: dict[int, Stats] = {}
        self._wake = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="statements", daemon=True)

    def __enter__(self) -> WindowStatements:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(10)

    def window(self, meta: WindowMeta) -> None:
        """A window was announced: read the counters when it opens and when it closes."""
        with self._wake:
            heapq.heappush(self._due, (meta.start, meta.window, "start"))
            heapq.heappush(self._due, (meta.end, meta.window, "end"))
            self._wake.notify()

    def of(self, windows: list[int]) -> tuple[Stats, list[int]] | None:
        """The statements of those of ``windows`` that were counted, together, and which
        windows they were; None when nothing was counted."""
        counted = [w for w in windows if w in self.by_window]
        if not self.available or not counted:
            return None
        total: Stats = {}
        for window in counted:
            for kind, (calls, ms) in self.by_window[window].items():
                before = total.get(kind, (0, 0.0))
                total[kind] = (before[0] + calls, before[1] + ms)
        return dict(sorted(total.items())), counted

    def _run(self) -> None:
        interrupts_to_main_thread()
        try:
            with database.connect(self.url) as conn, conn.cursor() as cur:
                self._serve(cur)
        except Exception:  # a database that went away (a fault): not measured, never fatal
            self.available = False

    def _serve(self, cur: Any) -> None:
        while True:
            with self._wake:
                while not self._stop and (not self._due or self._due[0][0] > time.time()):
                    timeout = self._due[0][0] - time.time() if self._due else None
                    self._wake.wait(timeout)
                if self._stop:
                    return
                due, window, edge = heapq.heappop(self._due)
            if time.time() - due > LATE_S:
                self._opened.pop(window, None)  # read too late (a frozen database): not counted
                continue
            found = database.statement_stats_on(cur)
            if found is None:
                self.available = False
                return
            if edge == "start":
                self._opened[window] = found
            elif (opened := self._opened.pop(window, None)) is not None:
                self.by_window[window] = _minus(found, opened)


def _minus(after: Stats, before: Stats) -> Stats:
    return {
        kind: (calls - before.get(kind, (0, 0.0))[0], ms - before.get(kind, (0, 0.0))[1])
        for kind, (calls, ms) in after.items()
        if calls - before.get(kind, (0, 0.0))[0] > 0
    }
