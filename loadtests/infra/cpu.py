"""CPU placement and CPU accounting for a run.

On a small machine the service under test, PostgreSQL and the load generator compete
for the same cores, and whoever wins decides the result. The runner therefore pins the
service to its own cores and keeps Locust and PostgreSQL on the others (on 2 cores:
service on CPU 1, the rest on CPU 0), and measures, once a second, how much CPU each
group used and how busy each core was. A step where the generator's process was near a
full core, or where its cores were saturated, is flagged: its latencies include time
the requests spent waiting for the generator, not for the service. The same samples
record the service's memory (its peak per step is in the report).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from loadtests.infra.processes import interrupts_to_main_thread

SAMPLE_EVERY_S = 1.0
PROCESS_SATURATED_PERCENT = 90.0  # one Locust process is single-threaded (gevent)
CORES_SATURATED_PERCENT = 95.0
SERVICE = "service"  # groups named so (one per variant: "service NAME") are the services'
# Only the services' memory is sampled (PSS costs a page-table walk per process).


def service_group(variant: str) -> str:
    """The name of a variant's service processes among the monitored groups."""
    return f"{SERVICE} {variant}" if variant else SERVICE


@dataclass(frozen=True)
class CpuLayout:
    """Which cores the service gets, and which cores Locust and PostgreSQL share."""

    pinned: bool
    service_cpus: tuple[int, ...]
    other_cpus: tuple[int, ...]
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def placement(self, groups: Sequence[str]) -> dict[str, tuple[int, ...]]:
        """Which cores each process group is pinned to (nothing when not pinned): the
        service on its own, everything else of the suite on the others."""
        if not self.pinned:
            return {}
        return {g: self.service_cpus if g.startswith(SERVICE) else self.other_cpus for g in groups}


def available_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def plan_layout(pin: bool) -> CpuLayout:
    cpus = available_cpus()
    if not pin:
        return CpuLayout(False, tuple(cpus), tuple(cpus), "pinning disabled (--no-pin)")
    if not hasattr(os, "sched_setaffinity"):
        return CpuLayout(False, tuple(cpus), tuple(cpus), "this OS cannot pin processes")
    if len(cpus) < 2:
        return CpuLayout(False, tuple(cpus), tuple(cpus), "one CPU: everything shares it")
    half = len(cpus) // 2
    service, others = tuple(cpus[half:]), tuple(cpus[:half])
    return CpuLayout(
        True,
        service,
        others,
        f"service on CPU {_cpu_list(service)}; Locust and PostgreSQL on CPU {_cpu_list(others)}",
    )


def _cpu_list(cpus: Sequence[int]) -> str:
    return ",".join(str(cpu) for cpu in cpus)


def pin(processes: Sequence[psutil.Process], cpus: Sequence[int]) -> None:
    """Move already running processes (PostgreSQL and its backends) onto ``cpus``."""
    for proc in processes:
        with contextlib.suppress(psutil.Error, OSError):
            proc.cpu_affinity(list(cpus))


@contextlib.contextmanager
def pinned_to_others(
    layout: CpuLayout, processes: Callable[[], Sequence[psutil.Process]]
) -> Iterator[None]:
    """Keep processes the suite did not start for this run (PostgreSQL) off the service's
    cores while the block runs, then give them every CPU back."""
    if layout.pinned:
        pin(processes(), layout.other_cpus)
    try:
        yield
    finally:
        if layout.pinned:
            pin(processes(), available_cpus())


@dataclass
class Sample:
    at: float
    groups: dict[str, dict[int, float]]  # group -> pid -> cumulative CPU seconds
    # per core, cumulative seconds: busy, steal, total, and busy in processes (user,
    # nice and system: interrupts are nobody's process and are left out of "foreign")
    cores: list[tuple[float, float, float, float]]
    memory: dict[str, int] = field(default_factory=dict)  # group -> PSS bytes, all together


@dataclass
class WindowCpu:
    """CPU use during one measured window, in percent of one core."""

    seconds: float
    groups: dict[str, float | None] = field(default_factory=dict)  # None: no such process
    busiest_process: dict[str, float | None] = field(default_factory=dict)
    cores: dict[int, float] = field(default_factory=dict)
    steal: float = 0.0  # % of the machine's CPU time the hypervisor gave to someone else
    seconds_judged: int = 0  # one-second intervals the generator's saturation was judged on
    saturated_seconds: int = 0  # of those, the ones it was saturated in
    foreign: dict[int, float] = field(default_factory=dict)  # core -> % of it not ours
    memory_peak: dict[str, int] = field(default_factory=dict)  # group -> most PSS bytes


def _memory(proc: psutil.Process) -> int:
    """PSS: resident memory with the pages shared by several processes split between
    them, so a forked worker and its master (gunicorn) are not counted twice. RSS where
    the kernel does not tell."""
    try:
        return int(proc.memory_full_info().pss)
    except (psutil.AccessDenied, AttributeError):
        return int(proc.memory_info().rss)


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


class CpuMonitor:
    """Samples the CPU of named process groups (and the service's memory) and the CPU of
    every core, once a second."""

    def __init__(self, groups: dict[str, Callable[[], list[psutil.Process]]]) -> None:
        self.groups = groups
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-monitor", daemon=True)

    def __enter__(self) -> CpuMonitor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()

    def _loop(self) -> None:
        interrupts_to_main_thread()
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_EVERY_S)

    def sample(self) -> None:
        groups: dict[str, dict[int, float]] = {}
        memory: dict[str, int] = {}
        for name, members in self.groups.items():
            usage: dict[int, float] = {}
            held = 0
            for proc in members():
                with contextlib.suppress(psutil.Error):
                    usage[proc.pid] = _cpu_seconds(proc)
                    if name.startswith(SERVICE):
                        held += _memory(proc)
            groups[name] = usage
            if usage and name.startswith(SERVICE):
                memory[name] = held
        cores = [
            (
                t.user + t.nice + t.system + t.irq + t.softirq,
                getattr(t, "steal", 0.0),
                sum(t),
                t.user + t.nice + t.system,
            )
            for t in psutil.cpu_times(percpu=True)
        ]
        self.samples.append(Sample(time.time(), groups, cores, memory))

    def window(
        self, start: float, end: float, placement: dict[str, tuple[int, ...]] | None = None
    ) -> WindowCpu | None:
        """CPU use between the first and last samples inside [start, end]: never the
        neighbouring steps' ramps (samples are a second apart, so the window measured is
        at most two seconds shorter than the step's). ``placement`` says which cores
        each group is pinned to, for the share of each core nobody in the suite used;
        ``generator_cpus`` judges the generator's saturation second by second."""
        inside = [s for s in self.samples if start <= s.at <= end]
        if len(inside) < 2:
            return None
        result = _between(inside[0], inside[-1])
        placement = placement or {}
        generator_cpus = placement.get("generator", ())
        for earlier, later in itertools.pairwise(inside):
            second = _between(earlier, later)
            result.seconds_judged += 1
            result.saturated_seconds += generator_saturated(second, generator_cpus)
        result.foreign = _foreign(inside[0], inside[-1], result, placement)
        for sample in inside:
            for group, held in sample.memory.items():
                result.memory_peak[group] = max(result.memory_peak.get(group, 0), held)
        return result


def _between(first: Sample, last: Sample) -> WindowCpu:
    seconds = last.at - first.at
    result = WindowCpu(seconds=seconds)
    for name, usage in last.groups.items():
        earlier = first.groups.get(name, {})
        if not usage:
            result.groups[name] = result.busiest_process[name] = None  # not measured
            continue
        per_process = [(cpu - earlier.get(pid, 0.0)) / seconds * 100 for pid, cpu in usage.items()]
        result.groups[name] = round(sum(per_process), 1)
        result.busiest_process[name] = round(max(per_process), 1)
    stolen = elapsed_all = 0.0
    for core, (after, before) in enumerate(zip(last.cores, first.cores, strict=False)):
        elapsed = after[2] - before[2]
        result.cores[core] = (
            round((after[0] - before[0]) / elapsed * 100, 1) if elapsed > 0 else 0.0
        )
        stolen += after[1] - before[1]
        elapsed_all += elapsed
    result.steal = round(stolen / elapsed_all * 100, 1) if elapsed_all > 0 else 0.0
    return result


def _foreign(
    first: Sample, last: Sample, window: WindowCpu, placement: dict[str, tuple[int, ...]]
) -> dict[int, float]:
    """Per pinned core, the % of it that processes ran which are not in any group pinned
    there: someone else's load. Cores shared by several groups are judged together."""
    found: dict[int, float] = {}
    for cores in set(placement.values()):
        if not cores or any(c >= len(last.cores) for c in cores):
            continue
        elapsed = sum(last.cores[c][2] - first.cores[c][2] for c in cores)
        if elapsed <= 0:
            continue
        busy = sum(last.cores[c][3] - first.cores[c][3] for c in cores) / elapsed * 100
        ours = sum(
            window.groups.get(group) or 0.0 for group, where in placement.items() if where == cores
        )
        share = round(max(0.0, busy * len(cores) - ours) / len(cores), 1)
        found.update({core: share for core in cores})
    return found


def generator_saturated(cpu: WindowCpu, generator_cpus: Sequence[int]) -> bool:
    """The load generator had no CPU to spare: one of its processes ran near a full
    core, or the cores it runs on (shared with PostgreSQL when pinned) were saturated."""
    if (cpu.busiest_process.get("generator") or 0.0) >= PROCESS_SATURATED_PERCENT:
        return True
    shares = [cpu.cores.get(core, 0.0) for core in generator_cpus]
    return bool(shares) and sum(shares) / len(shares) >= CORES_SATURATED_PERCENT
