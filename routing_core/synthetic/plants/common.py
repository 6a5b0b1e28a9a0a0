"""Helpers shared by the plant generators: draws, routings of fact combinations, operation rows
with plant variants, columns with blank cells, the truth frame and the best chance of items with
blank deciding cells."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import pandas as pd

from routing_core.synthetic.perturbation import routing_rows

Generated = tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]

# --------------------------------------------------------------------------- helpers


def check(n_items: int, noise: float) -> int:
    if int(n_items) != n_items or n_items < 1:
        raise ValueError(f"n_items must be a whole number of at least 1, not {n_items!r}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must lie between 0 and 1, not {noise!r}")
    return int(n_items)


def draw_options(rng: np.random.Generator, options: dict, n: int) -> np.ndarray:
    """n draws of the keys of options, with the values as (relative) probabilities."""
    keys = list(options)
    p = np.array([options[k] for k in keys], dtype=float)
    return np.array(keys, dtype=object if isinstance(keys[0], str) else None)[
        rng.choice(len(keys), size=n, p=p / p.sum())]


def combos(route: Callable[..., list[str]], *facts: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
    """The routing of each distinct combination of facts (one call per combination) and the
    combination of each item."""
    codes, uniques = zip(*(pd.factorize(f) for f in facts), strict=True)
    keys, combo = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    routes = [route(*(u[k] for u, k in zip(uniques, row, strict=True))) for row in keys.tolist()]
    for r in routes:
        assert all(a != b for a, b in zip(r, r[1:], strict=False)), r  # a swap must change a routing
    return routes, combo.reshape(-1)


def expand(rng, routes: list[list[str]], combo: np.ndarray, extras: Sequence[str], noise: float):
    """Operation rows from each item's routing, a ``noise`` share of items perturbed: (step
    vocabulary, item of each row, step code of each row, perturbed flag and clean routing of
    each item)."""
    vocab = sorted({s for r in routes for s in r} | set(extras))
    index = {s: i for i, s in enumerate(vocab)}
    lengths = np.array([len(r) for r in routes])
    offsets = np.cumsum(lengths) - lengths
    flat = np.array([index[s] for r in routes for s in r], dtype=np.int64)
    extra_codes = np.array([index[s] for s in extras])
    row_item, code, perturbed = routing_rows(rng, flat, offsets, lengths, combo, extra_codes, noise)
    clean = np.array([">".join(r) for r in routes], dtype=object)[combo]
    return vocab, row_item, code, perturbed, clean


def position(row_item: np.ndarray, n: int) -> np.ndarray:
    """1, 2, 3, ... within each item (rows of an item are contiguous)."""
    counts = np.bincount(row_item, minlength=n)
    return np.arange(row_item.size) - (np.cumsum(counts) - counts)[row_item] + 1


def as_text_column(values: np.ndarray, blank: np.ndarray | None = None) -> pd.arrays.ArrowStringArray:
    """A string column; blank marks cells left empty."""
    values = np.asarray(values, dtype=object)
    if blank is not None:
        values = np.where(blank, None, values)
    return pd.array(values, dtype="str")


def as_number_column(values: np.ndarray, blank: np.ndarray) -> np.ndarray:
    return np.where(blank, np.nan, values.astype(float))


def unique_numbers(rng, low: int, high: int, n: int) -> np.ndarray:
    """n distinct numbers in [low, high), the range widened when it is too small for n."""
    return low + rng.choice(max(high - low, 2 * n), size=n, replace=False)


def numbers_within(rng, groups: np.ndarray, high: int) -> np.ndarray:
    """Numbers 1..high-1, unique within each group, ascending in item order."""
    number = np.zeros(groups.size, dtype=np.int64)
    for g in np.unique(groups):  # a handful of groups
        sel = np.flatnonzero(groups == g)
        number[sel] = np.sort(unique_numbers(rng, 1, high, sel.size))
    return number


def spelled_keys(rng, keys: np.ndarray, spellings: dict[str, Sequence[str]], usual: float) -> np.ndarray:
    """How the text writes each key: its first spelling with chance ``usual``, another otherwise."""
    out = np.empty(keys.size, dtype=object)
    for k, names in spellings.items():  # a dozen keys at most
        sel = np.flatnonzero(keys == k)
        other = np.array(names[1:] or names, dtype=object)[rng.integers(max(len(names) - 1, 1), size=sel.size)]
        out[sel] = np.where(rng.random(sel.size) < usual, names[0], other)
    return out


def lookup(values: Sequence, keys: Sequence, of: np.ndarray) -> np.ndarray:
    """values[i] for each element of ``of`` equal to keys[i]."""
    return np.asarray(values)[pd.Index(list(keys)).get_indexer(of)]


def join_parts(*parts: np.ndarray) -> np.ndarray:
    """Words joined by single spaces, empty words left out (element-wise)."""
    out = pd.Series(parts[0], dtype=object)
    for p in parts[1:]:
        out = out + " " + pd.Series(p, dtype=object)
    return out.str.replace(r"\s+", " ", regex=True).str.strip().to_numpy(dtype=object)


def truth_table(codes, perturbed, clean, chance) -> pd.DataFrame:
    return pd.DataFrame({"item_code": as_text_column(codes), "perturbed": perturbed,
                         "clean_routing": as_text_column(clean), "best_chance": np.where(perturbed, 0.0, chance)})


def log_noise(rng, sigma: float, n: int) -> np.ndarray:
    return np.exp(sigma * rng.standard_normal(n))


# --------------------------------------------------------------------------- best chances

Choices = Sequence[tuple[object, float]]  # the values a fact may take, with their (relative) chances


def first_rows(row_item: np.ndarray, n: int) -> np.ndarray:
    """The first operation row of each item (rows of an item are contiguous, items in order)."""
    return np.searchsorted(row_item, np.arange(n))


def normal_cdf(x: np.ndarray | float) -> np.ndarray:
    """The standard normal distribution function (element-wise; -inf and inf allowed)."""
    return 0.5 * (1.0 + np.vectorize(math.erf, otypes=[float])(np.asarray(x, dtype=float) / math.sqrt(2.0)))


def known_options(value: object) -> list[tuple[object, float]]:
    """The choices of a fact the export shows."""
    return [(value, 1.0)]


def best_share(route: Callable[..., list[str]], *choices: Choices) -> float:
    """The share of the likeliest routing: each argument lists the values one fact may take with
    their chances (facts independent of one another; facts that hang together go in one
    argument as tuples), ``route`` gives the routing of one value of each. The values of a
    fact that lead to the same routing add up."""
    mass: dict[tuple[str, ...], float] = {}
    for combo in itertools.product(*choices):
        p = math.prod(w for _, w in combo)
        if p > 0:
            steps = tuple(route(*(v for v, _ in combo)))
            mass[steps] = mass.get(steps, 0.0) + p
    return max(mass.values()) / sum(mass.values())


def chances_of(keys: Sequence[Hashable], share: Callable[..., float]) -> np.ndarray:
    """``share(*key)`` for each key, computed once per distinct key (the keys are the visible
    facts of the items with a blank deciding cell: a few per cent of the items)."""
    cache: dict[Hashable, float] = {}
    out = np.ones(len(keys))
    for i, key in enumerate(keys):
        if key not in cache:
            cache[key] = share(*key)
        out[i] = cache[key]
    return out
