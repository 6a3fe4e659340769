"""The order the variants run in: random per block, from a seed the report records."""

from __future__ import annotations

import random
from collections.abc import Iterator


def run_order(variants: tuple[str, ...], blocks: int, seed: int) -> Iterator[list[str]]:
    """A random order per block, from ``seed``, whose first variant is never the previous
    block's first: no variant always runs first, and none always right after a reset of
    the machine's caches by another."""
    rng = random.Random(seed)
    previous = None
    for _ in range(blocks):
        order = list(variants)
        rng.shuffle(order)
        if len(order) > 1 and order[0] == previous:
            swap = rng.randrange(1, len(order))
            order[0], order[swap] = order[swap], order[0]
        previous = order[0]
        yield order
