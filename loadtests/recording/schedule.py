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
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import replace

from loadtests.plan import DRAIN_S, StepPlan
from loadtests.recording.wire import Schedule, Segment

FAULT_BLOCK = 0


def block_orders(variants: Sequence[str], blocks: int, rng: random.Random) -> Iterator[list[str]]:
    """A random order per block whose first variant is never the previous block's first."""
    previous = None
    for _ in range(blocks):
        order = list(variants)
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
) -> Schedule:
    """The schedule of one scenario. ``hosts``: variant -> base URL; ``fault``: (step,
    window seconds) of a fault's block (step 1 = the first)."""
    rng = random.Random(seed)
    segments: list[Segment] = []
    clock = 0.0
    for step, users in enumerate(plan.steps):
        turns: list[tuple[int, int, str]] = []  # (block, position, variant)
        if fault is not None and fault[0] == step + 1:
            order = next(block_orders(list(hosts), 1, rng))
            turns += [(FAULT_BLOCK, pos, name) for pos, name in enumerate(order, start=1)]
        blocks = block_orders(list(hosts), plan.blocks_at(users), rng)
        for block, order in enumerate(blocks, start=1):
            turns += [(block, pos, name) for pos, name in enumerate(order, start=1)]
        for index, (block, position, variant) in enumerate(turns):
            warmup = plan.warmup_s if index == 0 else plan.switch_for(users)
            length = fault[1] if fault is not None and block == FAULT_BLOCK else plan.measure_s
            segment = Segment(
                window=len(segments), step=step, users=users, block=block, position=position,
                variant=variant, host=hosts[variant], switch_s=clock, start_s=clock + warmup,
                end_s=clock + warmup + length,
            )  # fmt: skip
            segments.append(segment)
            clock = segment.end_s
    return Schedule(segments=segments, drain_s=DRAIN_S)


def single(plan: StepPlan, host: str) -> Schedule:
    """One target through the plan's steps: a window per step (the web UI, ``overhead``)."""
    return build(replace(plan, blocks=1, top_blocks=None), {"": host}, 0)
