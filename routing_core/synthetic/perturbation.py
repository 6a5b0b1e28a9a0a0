"""Operation rows from routings, a `noise` share of items turned into "plant variants".

Shared by the sample generator (routing_core.synthetic.sample) and the plant generators
(routing_core.synthetic.plants): a plant variant swaps two neighbouring steps, inserts an extra step or
drops one. The draws are made in a fixed order, so the same generator state gives the same rows.
"""

from __future__ import annotations

import numpy as np

PERTURB_KINDS = (0.4, 0.3, 0.3)  # swap neighbours, insert an extra step, drop a step
MAX_STEPS = 128  # routings are far shorter; used for sort keys


def routing_rows(
    rng: np.random.Generator, flat: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, combo: np.ndarray,
    extra_codes: np.ndarray, noise: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item of each row, step code of each row, perturbed flag of each item).

    Routing r holds the step codes flat[offsets[r]:offsets[r] + lengths[r]]; item i follows
    routing combo[i]. round(noise * items) items, drawn at random, get a plant variant; an
    inserted step is one of `extra_codes`. Rules never put a code twice in a row, so a swap always
    changes a routing.
    """
    n = combo.size
    item_len = lengths[combo]
    starts = np.cumsum(item_len) - item_len
    row_item = np.repeat(np.arange(n), item_len)
    pos = np.arange(row_item.size) - starts[row_item]
    code = flat[offsets[combo][row_item] + pos]

    perturbed = np.zeros(n, dtype=bool)
    n_pert = int(round(noise * n))
    if not n_pert:
        return row_item, code, perturbed
    chosen = np.sort(rng.choice(n, size=n_pert, replace=False))
    perturbed[chosen] = True
    kind = rng.choice(3, size=n_pert, p=PERTURB_KINDS)
    u = rng.random(n_pert)
    length_c, start_c = item_len[chosen], starts[chosen]
    # swap a step with its next neighbour
    sw = kind == 0
    a = start_c[sw] + np.floor(u[sw] * (length_c[sw] - 1)).astype(np.int64)
    code[a], code[a + 1] = code[a + 1], code[a].copy()
    # drop one step
    keep = np.ones(code.size, dtype=bool)
    dr = kind == 2
    keep[start_c[dr] + np.floor(u[dr] * length_c[dr]).astype(np.int64)] = False
    # insert an extra step before position j (1..len: never before the first step)
    ins = kind == 1
    j = 1 + np.floor(u[ins] * length_c[ins]).astype(np.int64)
    new_code = np.asarray(extra_codes)[rng.integers(len(extra_codes), size=int(ins.sum()))]
    sort_key = np.concatenate([(row_item * MAX_STEPS + 2 * pos)[keep], chosen[ins] * MAX_STEPS + 2 * j - 1])
    code = np.concatenate([code[keep], new_code])
    row_item = np.concatenate([row_item[keep], chosen[ins]])
    order = np.argsort(sort_key, kind="stable")
    return row_item[order], code[order], perturbed
