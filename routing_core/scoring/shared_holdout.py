"""Head to head on a shared holdout: versions that all learned every item of one stored dataset
leave nothing fair to compare them on, so each is fitted again, with its own parameters, on the
same training share and all are compared on the same held-out items.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from routing_core.mapping.schema import ITEM
from routing_core.platform.errors import UserError
from routing_core.scoring.compare import Comparison, compare_models
from routing_core.scoring.holdout import describe_split, split_ops


def model_from_params(params: Mapping) -> object:
    """An unfitted RoutingModel with the parameters a version records (unknown keys ignored)."""
    from routing_core.model import RoutingModel
    from routing_core.model.config import ModelConfig

    known = set(RoutingModel().get_params())
    kwargs = {k: v for k, v in params.items() if k in known and k != "config"}
    config = params.get("config")
    return RoutingModel(**kwargs, config=ModelConfig.from_dict(config) if isinstance(config, dict) else None)


def compare_on_shared_holdout(
    params: Mapping[str, Mapping], dataset, test_size: float = 0.2, seed: int = 42,
    split: Mapping | None = None, progress: Callable[[float, str], None] | None = None,
) -> Comparison:
    """Fit one model per version (`params`: version -> its recorded parameters) on the same
    training share of `dataset` and compare them on the rest. `split` as a version records it:
    random (by `seed`) or the newest items by a date column."""
    if len(params) < 2:
        raise UserError("Pick at least two versions to compare.")
    train, test, done = split_ops(dataset.ops, float(test_size), int(seed), split)
    n_train, n_test = int(train[ITEM].nunique()), int(test[ITEM].nunique())
    models = {}
    for i, (name, recorded) in enumerate(params.items()):
        if progress is not None:
            progress(i / (len(params) + 1), f"Fitting {name} on {n_train:,} items")
        models[name] = model_from_params(recorded).fit(
            train, item_attributes=list(dataset.item_attributes),
            operation_attributes=list(dataset.operation_attributes))
    source = (f"a shared holdout of dataset {getattr(dataset, 'source_name', '')}: every version fitted again "
              f"on the same {n_train:,} items, all scored on the other {n_test:,} ({describe_split(done, seed)})")

    def tail(fraction: float, message: str) -> None:
        if progress is not None:
            progress((len(params) + fraction) / (len(params) + 1), message)

    return compare_models(models, test, source=source, progress=tail)
