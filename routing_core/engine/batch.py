"""Batch predictions, on this process or split over the Dask cluster's workers ($ROUTING_SCHEDULER).

The items (one row per item, as the model reads them) are cut into partitions in file order. On
a cluster the model is sent once to every worker (`scatter(..., broadcast=True)`), each partition
is a task that predicts with that copy, and the parts are put back in partition order, so the
result is the local prediction row for row. `progress(done, total)` is called as partitions end.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from routing_core.engine import scheduler_address

# Items per partition at most; a cluster gets at least a few partitions per worker thread.
PARTITION_ITEMS = 5000
PARTITIONS_PER_THREAD = 4

ProgressFn = Callable[[int, int], None]


def partitions(items: pd.DataFrame, n: int, batch: int) -> list[pd.DataFrame]:
    """The model's query rows (one per item, in file order) in at most `n` contiguous parts, each
    a whole number of the model's prediction batches (`batch` items): a part's batches are the
    batches of a prediction of the whole file, so its numbers are the same to the last bit."""
    from routing_core.model.vocabulary import query_frame

    frame = query_frame(items)
    chunks = -(-len(frame) // batch)
    n = max(1, min(n, chunks))
    bounds = [min(round(i * chunks / n) * batch, len(frame)) for i in range(n + 1)]
    return [frame.iloc[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def _predict_part(model, part: pd.DataFrame, top_k: int | None, ignore_history: bool) -> pd.DataFrame:
    return model.predict_frame(part, top_k=top_k, ignore_history=ignore_history)


def predict_frame(model, items: pd.DataFrame, top_k: int | None = None, ignore_history: bool = False,
                  progress: ProgressFn | None = None, address: str | None = None) -> pd.DataFrame:
    """`model.predict_frame(items, ...)`, by partitions: on the cluster at `address` (default
    $ROUTING_SCHEDULER) when there is one, else here."""
    address = address if address is not None else scheduler_address()
    n_items = len(items)
    batch = int(model.config_.candidates.batch)
    if n_items == 0:
        return model.predict_frame(items, top_k=top_k, ignore_history=ignore_history)
    if not address:
        parts = partitions(items, -(-n_items // PARTITION_ITEMS), batch)
        out = []
        for i, part in enumerate(parts, 1):
            out.append(_predict_part(model, part, top_k, ignore_history))
            if progress is not None:
                progress(i, len(parts))
        return pd.concat(out, ignore_index=True)
    from distributed import as_completed

    from routing_core.engine.cluster import ClusterEngine, client

    c = client(address)
    threads = ClusterEngine(address).capacity()
    n = max(threads * PARTITIONS_PER_THREAD, -(-n_items // PARTITION_ITEMS))
    parts = partitions(items, n, batch)
    shared = c.scatter(model, broadcast=True, hash=False)  # one copy per worker, not per partition
    futures = [c.submit(_predict_part, shared, part, top_k, ignore_history, pure=False) for part in parts]
    order = {f.key: i for i, f in enumerate(futures)}
    done: list[pd.DataFrame | None] = [None] * len(futures)
    try:
        with c.as_current():  # as_completed asks for the current client; this one is not the default
            for count, future in enumerate(as_completed(futures), 1):
                done[order[future.key]] = future.result()
                if progress is not None:
                    progress(count, len(futures))
    finally:
        c.cancel([*futures, shared])
    return pd.concat(done, ignore_index=True)
