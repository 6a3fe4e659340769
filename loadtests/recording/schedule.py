"""Who gets the load when: steps x blocks x variants, as the ``Schedule`` Locust follows.

Within each step the variants take turns: a block gives every variant one measured
window, in a random order drawn afresh for each block from a recorded seed (the first
variant of a block is never the previous block's first, so no variant always runs right
after a step's ramp or right after the same neighbour). The block is the replicate: a
variant and the baseline are compared block by block, seconds apart, so the machine's
drift from one minute to the next hits both alike.

Each turn opens with a warm-up after the switch (new connections, queues filling to
their steady state; longer under more users, ``StepPlan.switch_for``) that is not
measured; the step's first turn warms up longer, as the users ramp to the step's count.
A fault's block (block 0) runs before the step's measured blocks: one long window per
variant, reported apart and never compared.

Interleaved (``StepPlan.interleaved``, the open model only: capacity's confirmation),
the blocks come first and the steps take turns within them: each block holds every
variant at every step, in one random order, so that no step is also a moment of the
run. Only the run's first turn warms up longer; every other turn, its switch warm-up.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TypeVar

from loadtests.plan import DRAIN_S, StepPlan
from loadtests.recording.wire import Connections, Generator, Schedule, Segment

FAULT_BLOCK = 0
WRK_TAIL_S = 1.0  # wrk runs whole seconds: room to stop before the next turn begins
T = TypeVar("T")


def block_orders(blocks: Iterable[Sequence[T]], rng: random.Random) -> Iterator[list[T]]:
    """A random order of each block's turns whose first is never the previous block's
    first (a block's turns may differ: wrk's come only in the cross-check's blocks)."""
    previous: T | None = None
    for turns in blocks:
        order = list(turns)
        rng.shuffle(order)
        if len(order) > 1 and order[0] == previous:
            swap = rng.randrange(1, len(order))
            order[0], order[swap] = order[swap], order[0]
        previous = order[0]
        yield order


def build(
    plan: StepPlan,
    hosts: dict[str, str],
    seed: int,
    fault: tuple[int, float] | None = None,
    cross_blocks: int = 0,
    connections: Connections = "keep-alive",
) -> Schedule:
    """The schedule of one scenario. ``hosts``: variant -> base URL; ``fault``: (step,
    window seconds) of a fault's block (step 1 = the first); ``cross_blocks``: in that many
    of the highest step's first blocks, every variant also gets a wrk turn, in the same
    shuffled order as the Locust turns (the cross-check)."""
    rng = random.Random(seed)
    if plan.interleaved:
        # Capacity's confirmation only, which has neither a fault nor a cross-check.
        assert fault is None and not cross_blocks, "interleaved steps take no extra blocks"
        groups = _interleaved(plan, list(hosts), rng)
    else:
        groups = _by_step(plan, list(hosts), rng, fault, cross_blocks)
    segments: list[Segment] = []
    clock = 0.0
    for group in groups:
        positions: dict[tuple[int, Generator], int] = {}
        for index, (step, block, variant, generator) in enumerate(group):
            # The run's first turn, and a step's first (its users ramp), warm up longer.
            first = not segments or (index == 0 and not plan.interleaved)
            warmup = plan.warmup_s if first else plan.switch_for(plan.steps[step])
            length = fault[1] if fault is not None and block == FAULT_BLOCK else plan.measure_s
            position = positions[block, generator] = positions.get((block, generator), 0) + 1
            segment = Segment(
                window=len(segments), step=step, users=plan.level(variant, step), block=block,
                position=position,
                variant=variant, host=hosts[variant], switch_s=clock, start_s=clock + warmup,
                end_s=clock + warmup + length, generator=generator,
                tail_s=WRK_TAIL_S if generator == "wrk" else 0.0,
                checkpoint=index == 0 and bool(segments),
            )  # fmt: skip
            segments.append(segment)
            clock = segment.end_s + segment.tail_s
    return Schedule(
        segments=segments,
        drain_s=DRAIN_S,
        connections=connections,
        arrivals=plan.arrivals if plan.open else None,
        max_in_flight=plan.max_in_flight if plan.open else 0,
    )


Turn = tuple[int, int, str, Generator]  # (step, block, variant, generator)


def _by_step(
    plan: StepPlan,
    variants: list[str],
    rng: random.Random,
    fault: tuple[int, float] | None,
    cross_blocks: int,
) -> list[list[Turn]]:
    """Step after step; within each, its blocks (a fault's first), the variants shuffled
    in each."""
    groups = []
    for step, users in enumerate(plan.steps):
        turns: list[Turn] = []
        if fault is not None and fault[0] == step + 1:
            alone = next(block_orders([variants], rng))
            turns += [(step, FAULT_BLOCK, name, "locust") for name in alone]
        crossed = cross_blocks if users == plan.steps[-1] else 0
        kinds: list[tuple[Generator, ...]] = [
            ("locust", "wrk") if block <= crossed else ("locust",)
            for block in range(1, plan.blocks_at(users) + 1)
        ]
        each = [[(name, kind) for name in variants for kind in mine] for mine in kinds]
        for block, order in enumerate(block_orders(each, rng), start=1):
            turns += [(step, block, name, kind) for name, kind in order]
        groups.append(turns)
    return groups


def _interleaved(plan: StepPlan, variants: list[str], rng: random.Random) -> list[list[Turn]]:
    """Block after block; within each, every variant at every step, all shuffled."""
    each = [[(step, name) for step in range(len(plan.steps)) for name in variants]]
    orders = block_orders(each * plan.blocks, rng)
    return [
        [(step, block, name, "locust") for step, name in order]
        for block, order in enumerate(orders, start=1)
    ]


def single(plan: StepPlan, host: str) -> Schedule:
    """One target through the plan's steps: a window per step (the web UI, ``overhead``)."""
    return build(replace(plan, blocks=1, top_blocks=None), {"": host}, 0)
