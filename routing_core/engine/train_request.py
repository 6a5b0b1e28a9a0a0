"""What a training is asked to do (docs/design.md, 'Training jobs'): `TrainRequest`, its checks, automatic version names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime

from routing_core.platform.errors import UserError
from routing_core.platform.limits import MAX_TOP_K
from routing_core.platform.names import check_name
from routing_core.versions.registry import Registry


class Cancelled(Exception):
    """Raised inside a training when its job was cancelled."""


@dataclass
class TrainRequest:
    """What to train: a stored dataset, a version name (None = automatic) and the options."""

    dataset: str
    version: str | None = None
    dry_run: bool = False
    test_size: float = 0.2
    seed: int = 42
    top_k: int = 5
    params: dict = field(default_factory=dict)
    refit: bool = True  # after the holdout evaluation, fit the published model on every item
    split: str = "random"  # or "newest": hold out the newest test_size share of items by date_column
    date_column: str | None = None

    def to_dict(self) -> dict:
        """Plain JSON values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainRequest:
        """Build from a dict, ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def auto_version_name(now: datetime | None = None) -> str:
    """An automatic version name from the time, e.g. `v20261126-031522`."""
    return (now or datetime.now()).strftime("v%Y%m%d-%H%M%S")


def unique_version_name(taken: set[str] | frozenset[str], now: datetime | None = None) -> str:
    """`auto_version_name()`, with `-2`, `-3`, … appended while the name is taken."""
    base = auto_version_name(now)
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


# ---------------------------------------------------------------- validation


def model_param_names() -> set[str]:
    from routing_core.model import RoutingModel

    return set(RoutingModel().get_params())


def check_request(request: TrainRequest, registry: Registry | None = None) -> None:
    """Check the options of a request (UserError naming the bad one); the dataset is checked later."""
    if not isinstance(request.dataset, str) or not request.dataset:
        raise UserError("Choose a dataset to train on.")
    if not isinstance(request.test_size, int | float) or not 0 < float(request.test_size) < 1:
        raise UserError(f"The test size must be a share between 0 and 1 (got {request.test_size!r}).")
    if isinstance(request.seed, bool) or not isinstance(request.seed, int):
        raise UserError(f"The seed must be a whole number (got {request.seed!r}).")
    if request.split not in ("random", "newest"):
        raise UserError(f"The split must be 'random' or 'newest' (got {request.split!r}).")
    if request.split == "newest" and (not isinstance(request.date_column, str) or not request.date_column):
        raise UserError("Holding out the newest items needs the date column to order them by.")
    if (isinstance(request.top_k, bool) or not isinstance(request.top_k, int)
            or not 1 <= request.top_k <= MAX_TOP_K):
        raise UserError(f"top-k must be a whole number from 1 to {MAX_TOP_K:,} (got {request.top_k!r}).")
    if not isinstance(request.params, dict):
        raise UserError("The model parameters must be a mapping of name to value.")
    if request.params:
        unknown = sorted(set(request.params) - model_param_names())
        if unknown:
            raise UserError(
                f"Unknown model parameter(s): {', '.join(unknown)}. "
                f"Known: {', '.join(sorted(model_param_names()))}."
            )
    if request.version is not None:
        check_name(request.version, "version name")
        if registry is not None and registry.exists(request.version):
            raise UserError(
                f"A model version named '{request.version}' already exists; choose another name."
            )


def plan_version_name(typed: object, planned: object) -> str | None:
    """The version a training started from a dry run's plan publishes: the name typed in the form
    now (before or after the dry run), else the plan's, else None (named automatically)."""
    text = str(typed or "").strip()
    return text or (str(planned).strip() if planned else None) or None
